from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security)
def check_key_settings(app_configs, **kwargs):
    errors = []
    if getattr(settings, "API_KEY_ENVIRONMENT", "live") not in ("live", "test"):
        errors.append(
            checks.Error(
                "API_KEY_ENVIRONMENT must be 'live' or 'test'.",
                id="gatehouse_keys.E001",
            )
        )
    secret = getattr(settings, "API_KEY_HASH_SECRET", "")
    if secret and len(secret) < 32:
        errors.append(
            checks.Error(
                "API_KEY_HASH_SECRET must be at least 32 characters long.",
                id="gatehouse_keys.E002",
            )
        )
    return errors
