from __future__ import annotations

from rest_framework.permissions import BasePermission

from apis.exceptions import InsufficientScope, NoSubscription, SubscriptionPending
from portal.keys.credentials import Credential


class HasScopes(BasePermission):
    """Allow a call whose credential holds every scope the view declares.

    The view names its API (``api_slug``) and, per HTTP method, the scopes it
    needs (``required_scopes``). Raises ``NotAuthenticated`` (401) without a
    credential, ``NoSubscription`` (403) when the app has no active
    subscription to the API, ``InsufficientScope`` (403) when a scope is
    missing from the credential or its plan.
    """

    def has_permission(self, request, view) -> bool:
        credential = request.auth
        if not isinstance(credential, Credential):
            return False  # DRF answers 401 with the authenticator's challenge
        if credential.subscription_for(view.api_slug) is None:
            if view.api_slug in credential.pending_apis:
                raise SubscriptionPending(view.api_slug)
            raise NoSubscription(view.api_slug)
        needed = view.scopes_for_method(request.method)
        missing = set(needed) - credential.scopes_for(view.api_slug)
        if missing:
            raise InsufficientScope(sorted(missing))
        return True
