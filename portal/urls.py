from django.contrib import admin
from django.urls import include, path

from portal.web import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/", include("apis.urls")),
    path("", include("portal.web.urls")),
]
