"""Django REST Framework defaults and the API-key settings."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from portal.catalog.rates import parse_rate

from .environment import DEBUG, env

__all__ = [
    "API_KEY_ENVIRONMENT",
    "API_KEY_HASH_SECRET",
    "MANAGE_API_RATE",
    "REST_FRAMEWORK",
]

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["apis.parsers.SafeJSONParser"],
    "EXCEPTION_HANDLER": "apis.problems.problem_exception_handler",
    # The OpenAPI schemas: scopes, limits and errors derived from each view.
    "DEFAULT_SCHEMA_CLASS": "apis.schema.GatehouseAutoSchema",
    "UNAUTHENTICATED_USER": None,
}

# Keys are issued and accepted with this prefix: gk_live_… or gk_test_….
API_KEY_ENVIRONMENT = env.str(
    "API_KEY_ENVIRONMENT", default="test" if DEBUG else "live"
)
# The server-side secret of the keyed hash of stored keys (>= 32 characters).
# Empty: derived from SECRET_KEY.
API_KEY_HASH_SECRET = env.str("API_KEY_HASH_SECRET", default="")

# The management API's platform-wide default limit, per app (token) or per
# person (portal session): django-ratelimit rates, every one enforced.
MANAGE_API_RATE = env.list("MANAGE_API_RATE", default=["20/s", "1200/m"])
for _rate in MANAGE_API_RATE:
    try:
        parse_rate(_rate)
    except ValueError as error:
        raise ImproperlyConfigured(f"MANAGE_API_RATE: {error}") from None
