"""django-oauth-toolkit: the portal's App model is its Application."""

from __future__ import annotations

__all__ = ["OAUTH2_PROVIDER", "OAUTH2_PROVIDER_APPLICATION_MODEL"]

# Swapped before the first migration: Django cannot swap a model later.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth.App"

OAUTH2_PROVIDER: dict = {
    # Every RFC 9700 (OAuth 2.0 Security BCP) gate on: no implicit or password
    # grant, S256 PKCE only and required, tokens only in the Authorization
    # header, `iss` in authorization responses, tokens hashed at rest,
    # refresh-token replay revokes the family, exact https redirect URIs.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "PKCE_REQUIRED": True,
    "ALLOW_URI_WILDCARDS": False,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
}
