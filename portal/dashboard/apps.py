from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class DashboardConfig(AppConfig):
    name = "portal.dashboard"
    label = "dashboard"
    verbose_name = "Staff dashboard"


class GatehouseAdminConfig(admin_apps.AdminConfig):
    """``django.contrib.admin`` with the Gatehouse site as ``admin.site``.

    Installed in its place, so every ``@admin.register`` lands on a site that
    applies the staff rule to each of its views.
    """

    # Not the default config of portal.dashboard: that stays DashboardConfig.
    default = False
    default_site = "portal.dashboard.sites.GatehouseAdminSite"
