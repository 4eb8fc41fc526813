"""The authorization server: django-oauth-toolkit's endpoints under /o/, and
its discovery documents at the origin's /.well-known/, so the issuer is the
origin itself for both RFC 8414 and OpenID Connect discovery."""

from django.urls import include, path, re_path
from oauth2_provider import urls as dot_urls
from oauth2_provider import views as dot_views

from portal.oauth.views import GatehouseDeviceAuthorizationView, GatehouseTokenView
from portal.web.oauth_pages import ConsentView

app_name = "oauth2_provider"

_DISCOVERY = "oidc-connect-discovery-info"

_REPLACED = {"authorize", "token", "device-authorization"}

endpoints = [
    # Our consent page in front of the stock authorization endpoint.
    path("authorize/", ConsentView.as_view(), name="authorize"),
    path("token/", GatehouseTokenView.as_view(), name="token"),
    path(
        "device-authorization/",
        GatehouseDeviceAuthorizationView.as_view(),
        name="device-authorization",
    ),
    *[p for p in dot_urls.base_urlpatterns if p.name not in _REPLACED],
    *[p for p in dot_urls.oidc_urlpatterns if p.name != _DISCOVERY],
]

urlpatterns = [
    path("o/", include(endpoints)),
    re_path(
        r"^\.well-known/openid-configuration/?$",
        dot_views.ConnectDiscoveryInfoView.as_view(),
        name=_DISCOVERY,
    ),
    path(
        ".well-known/oauth-authorization-server",
        dot_views.OAuthServerMetadataView.as_view(),
        name="oauth-server-metadata",
    ),
    path(
        ".well-known/oauth-protected-resource",
        dot_views.OAuthProtectedResourceMetadataView.as_view(),
        name="oauth-resource-metadata",
    ),
]
