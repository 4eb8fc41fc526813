"""The scopes backend django-oauth-toolkit asks: answered from the catalog."""

from __future__ import annotations

from oauth2_provider.scopes import BaseScopes

from apis.manage.scopes import MANAGE_SCOPES
from portal.catalog.models import Scope
from portal.catalog.selectors import scopes_granted

OIDC_SCOPES = {
    "openid": "Sign you in with your Gatehouse account.",
    "profile": "See your name.",
    "email": "See your email address.",
}


class CatalogScopes(BaseScopes):
    """An app may request the scopes its active subscriptions grant, the
    management API's (the platform's own API: no subscription needed), and the
    OpenID Connect scopes. Anything else is ``invalid_scope``."""

    def get_all_scopes(self) -> dict[str, str]:
        scopes = dict(Scope.objects.values_list("name", "description"))
        scopes.update(MANAGE_SCOPES)
        scopes.update(OIDC_SCOPES)
        return scopes

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        if application is None:
            return [*MANAGE_SCOPES, *OIDC_SCOPES]
        granted = scopes_granted(app=application).values_list("name", flat=True)
        return [*granted, *MANAGE_SCOPES, *OIDC_SCOPES]

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        # Asking for nothing means asking for what the subscriptions grant.
        if application is None:
            return []
        return list(scopes_granted(app=application).values_list("name", flat=True))
