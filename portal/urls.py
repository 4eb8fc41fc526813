from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from portal.web import health

# A 500 under /api/ is problem+json like every other API error.
handler500 = "portal.web.views.server_error"

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/", include("apis.urls")),
    path("docs/", include("portal.docs.urls")),
    path("staff/", include("portal.dashboard.urls")),
    path("", include("portal.oauth.urls")),
    path("device/", RedirectView.as_view(url="/o/device/"), name="device"),
    path("", include("portal.web.urls")),
]
