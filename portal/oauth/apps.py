from django.apps import AppConfig


class OAuthConfig(AppConfig):
    name = "portal.oauth"
    label = "oauth"
    verbose_name = "Apps and OAuth clients"
