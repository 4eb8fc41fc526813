"""Django REST Framework defaults and the API-key settings."""

from __future__ import annotations

from .environment import DEBUG, env

__all__ = ["API_KEY_ENVIRONMENT", "API_KEY_HASH_SECRET", "REST_FRAMEWORK"]

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
