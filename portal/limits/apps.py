from django.apps import AppConfig


class LimitsConfig(AppConfig):
    name = "portal.limits"
    label = "limits"
    verbose_name = "Rate limits and quotas"
