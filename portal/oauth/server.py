"""The oauthlib server django-oauth-toolkit runs, minus grants we never allow.

django-oauth-toolkit's RFC 9700 gates refuse the implicit and password
grants only after oauthlib has already checked the user's password, so a
client could learn whether a password is right. Removed here, the password
grant is ``unsupported_grant_type`` before anything is checked, and only the
``code`` response type exists.
"""

from __future__ import annotations

from oauthlib.openid import Server


class GatehouseServer(Server):
    def __init__(self, request_validator, *args, **kwargs):
        super().__init__(request_validator, *args, **kwargs)
        self._grant_types.pop("password", None)
        self._response_types = {"code": self._response_types["code"]}
