"""The management API's base view: the platform's own API for developers.

Authenticated by the portal session (with CSRF, for the portal's own pages)
or by an OAuth access token carrying ``manage:read`` / ``manage:write``. Every
app may ask for those scopes without a subscription; a token acts for its
app's team. Objects are looked up only among the caller's teams: another
team's object is a 404, exactly like one that does not exist.
"""

from __future__ import annotations

from rest_framework.authentication import SessionAuthentication
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import BasePermission
from rest_framework.renderers import JSONRenderer

from apis.exceptions import InsufficientScope
from apis.manage.scopes import MANAGE_READ, MANAGE_WRITE
from apis.parsers import SafeJSONParser
from apis.problems import problem_exception_handler
from portal.keys.credentials import Credential
from portal.limits.throttling import ManageApiThrottle, limit_headers
from portal.oauth.authentication import OAuthTokenAuthentication


class ManageScope(BasePermission):
    """A person signed in to the portal, or a token with the manage scope the
    method needs (read for safe methods, write for the others)."""

    def has_permission(self, request, view) -> bool:
        credential = request.auth
        if isinstance(credential, Credential):
            missing = set(view.scopes_for_method(request.method)) - credential.scopes
            if missing:
                raise InsufficientScope(sorted(missing))
            return True
        user = request.user
        return bool(user and user.is_authenticated and user.is_active)


class ManageApiView(GenericAPIView):
    # The same declaration served endpoints make (apis.base.ServedApiView):
    # the scopes each method needs, which the OpenAPI schema documents too.
    required_scopes = {
        "GET": (MANAGE_READ,),
        "POST": (MANAGE_WRITE,),
        "PUT": (MANAGE_WRITE,),
        "PATCH": (MANAGE_WRITE,),
        "DELETE": (MANAGE_WRITE,),
    }
    authentication_classes = (OAuthTokenAuthentication, SessionAuthentication)
    permission_classes = (ManageScope,)
    throttle_classes = (ManageApiThrottle,)
    renderer_classes = (JSONRenderer,)
    parser_classes = (SafeJSONParser,)
    metadata_class = None

    def scopes_for_method(self, method: str):
        method = "GET" if method in ("HEAD", "OPTIONS") else method
        return self.required_scopes.get(method, (MANAGE_WRITE,))

    def get_exception_handler(self):
        return problem_exception_handler

    def throttled(self, request, wait):
        raise ManageApiThrottle.refusal(request)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        for name, value in limit_headers(request).items():
            response[name] = value
        return response

    def team_ids(self) -> set[int]:
        """The teams this caller acts for."""
        credential = self.request.auth
        if isinstance(credential, Credential):
            return {credential.team_id}
        from portal.accounts.models import Membership

        return set(
            Membership.objects.filter(user=self.request.user).values_list(
                "team_id", flat=True
            )
        )
