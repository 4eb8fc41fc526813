"""django-oauth-toolkit endpoints with Gatehouse's stricter edges."""

from __future__ import annotations

from django import http
from django.db import transaction
from oauth2_provider.models import get_application_model, get_device_grant_model
from oauth2_provider.views import DeviceAuthorizationView, TokenView

from portal.oauth.scopes import CatalogScopes

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def _oauth_error(error: str, description: str, status: int = 400):
    return http.JsonResponse(
        {"error": error, "error_description": description}, status=status
    )


class GatehouseTokenView(TokenView):
    """The token endpoint; a device code is exchanged at most once."""

    def post(self, request, *args, **kwargs):
        if request.POST.get("grant_type") != DEVICE_GRANT:
            return super().post(request, *args, **kwargs)
        device_code = request.POST.get("device_code", "")
        if not device_code:
            return _oauth_error("invalid_request", "Missing device_code parameter.")
        DeviceGrant = get_device_grant_model()
        with transaction.atomic():
            # Locked, so two polls at once cannot both mint tokens.
            grant = (
                DeviceGrant.objects.select_for_update()
                .filter(device_code=device_code)
                .first()
            )
            response = super().post(request, *args, **kwargs)
            if grant is not None and response.status_code == 200:
                grant.status = DeviceGrant.EXPIRED
                grant.save(update_fields=["status"])
        return response


class GatehouseDeviceAuthorizationView(DeviceAuthorizationView):
    """Device authorization that refuses scopes the app cannot be granted
    before a user is ever shown them."""

    def post(self, request, *args, **kwargs):
        requested = request.POST.get("scope", "").split()
        if requested:
            app = (
                get_application_model()
                .objects.filter(client_id=request.POST.get("client_id", ""))
                .first()
            )
            if app is not None:
                available = set(CatalogScopes().get_available_scopes(app, request))
                if not set(requested) <= available:
                    return _oauth_error(
                        "invalid_scope",
                        "Scopes not granted to this app: "
                        + " ".join(sorted(set(requested) - available)),
                    )
        return super().post(request, *args, **kwargs)
