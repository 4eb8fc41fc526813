"""DRF authentication for OAuth access tokens (``Authorization: Bearer``)."""

from __future__ import annotations

import time

from rest_framework.authentication import BaseAuthentication

from apis.exceptions import InvalidCredential
from portal.keys.authentication import CredentialUser
from portal.keys.keyformat import PREFIX
from portal.oauth.credentials import token_checksum, token_entry_get
from portal.usage.served import refused_credential

MAX_TOKEN_LENGTH = 512


class OAuthTokenAuthentication(BaseAuthentication):
    """Resolve an OAuth access token to the same ``Credential`` a key gives.

    Returns None when the request carries no bearer token, or a Gatehouse
    API key (left to ``ApiKeyAuthentication``). Raises ``InvalidCredential``
    (401) for an unknown, expired, revoked or suspended token. A token used
    within the last second costs no query and no cache round trip.
    """

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = value.strip()
        if not token or token.startswith(PREFIX + "_"):
            return None  # nothing presented, or a key for ApiKeyAuthentication
        if (
            len(token) > MAX_TOKEN_LENGTH
            or not token.isascii()
            or not token.isprintable()
            or " " in token
        ):
            raise InvalidCredential("The access token is malformed.")
        entry = token_entry_get(token_checksum(token))
        if entry is None:
            raise InvalidCredential("The access token is not valid or was revoked.")
        refusal = None
        if entry.expires_at <= time.time():
            refusal = InvalidCredential(
                "The access token has expired.", "token_expired"
            )
        elif entry.suspended:
            refusal = InvalidCredential(
                "The app, its team or the token's user is suspended.",
                "credential_suspended",
            )
        if refusal is not None:
            refused_credential(request, entry.credential)
            raise refusal
        return CredentialUser(entry.credential), entry.credential

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
