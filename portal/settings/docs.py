"""The OpenAPI schemas (drf-spectacular) and the docs pages that render them.

Every schema is generated from the views themselves by ``apis.schema``; the
Swagger UI and Redoc pages under /docs/ load drf-spectacular-sidecar's copies
of both from our own static files (no CDN), with our own init scripts, so the
site's strict content security policy holds there too.
"""

from __future__ import annotations

__all__ = ["SPECTACULAR_SETTINGS"]

SPECTACULAR_SETTINGS = {
    "TITLE": "Gatehouse APIs",
    "DESCRIPTION": "Every API this portal serves, and its management API.",
    "VERSION": "v1",
    # 3.0.3: what Swagger UI, Redoc and most client generators handle best.
    # Its security requirements can list scopes for OAuth 2.0 only, so each
    # operation also names its scopes in its description.
    "OAS_VERSION": "3.0.3",
    "DEFAULT_GENERATOR_CLASS": "apis.schema.GatehouseSchemaGenerator",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apis.schema.postprocess_schema",
    ],
    # Input and output serializers differ (read-only fields, strict input).
    "COMPONENT_SPLIT_REQUEST": True,
    # The schemas are public, like the docs: served without authentication,
    # and the schema views leave themselves out of the schema.
    "SERVE_PUBLIC": True,
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Choice sets that several serializers share under a field name used for
    # other choices too ("status"): one stable component name each.
    "ENUM_NAME_OVERRIDES": {
        "KeyStatusEnum": ["active", "expired", "revoked"],
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
