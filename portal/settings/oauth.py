"""django-oauth-toolkit: the portal's App model is its Application."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from environ import ImproperlyConfigured

from .environment import DEBUG, development_secret, env

__all__ = [
    "PUBLIC_URL",
    "OAUTH2_PROVIDER",
    "OAUTH2_PROVIDER_APPLICATION_MODEL",
]

# Swapped before the first migration: Django cannot swap a model later.
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth.App"


def _new_rsa_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


if os.environ.get("OIDC_RSA_PRIVATE_KEY"):
    # PEM in the variable itself; "\n" escapes are accepted for one-line .env files.
    _OIDC_KEY = env.str("OIDC_RSA_PRIVATE_KEY").replace("\\n", "\n")
elif DEBUG:
    _OIDC_KEY = development_secret("oidc_rsa_private_key.pem", _new_rsa_key)
else:
    raise ImproperlyConfigured(
        "OIDC_RSA_PRIVATE_KEY must be set when DEBUG is off (see README)."
    )

# The portal's public address, for links that leave the request context.
PUBLIC_URL = env.str("PUBLIC_URL", default="http://127.0.0.1:8000").rstrip("/")

OAUTH2_PROVIDER: dict = {
    # Every RFC 9700 (OAuth 2.0 Security BCP) gate on: no implicit or password
    # grant, S256 PKCE only and required, tokens only in the Authorization
    # header, `iss` in authorization responses, tokens hashed at rest,
    # refresh-token replay revokes the family, exact redirect URI matching.
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_MATCHING": True,
    "COMPLIANT_BCP_RFC9700_PKCE_REQUIRED": True,
    # The one documented exception: native apps receive the code on an http
    # loopback address (RFC 8252 §7.3), which the redirect-scheme gate would
    # forbid. So "http" stays allowed here, the gate stays off (its warning
    # oauth2_provider.W008 is silenced in data.py), and the portal's own
    # validation (portal.oauth.redirects) accepts http only for 127.0.0.1,
    # [::1] and localhost; every other redirect URI must be https.
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": False,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https", "http"],
    "ALLOW_LOCALHOST_LOOPBACK": True,
    "ALLOW_URI_WILDCARDS": False,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "ROTATE_REFRESH_TOKEN": True,
    "PKCE_REQUIRED": True,
    # Short lifetimes: a code lives one minute, an access token 15 minutes; a
    # refresh token (rotated on every use) 30 days.
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": env.int(
        "OAUTH_CODE_LIFETIME_SECONDS", default=60
    ),
    "ACCESS_TOKEN_EXPIRE_SECONDS": env.int(
        "OAUTH_ACCESS_TOKEN_LIFETIME_SECONDS", default=900
    ),
    "ID_TOKEN_EXPIRE_SECONDS": env.int(
        "OAUTH_ACCESS_TOKEN_LIFETIME_SECONDS", default=900
    ),
    "REFRESH_TOKEN_EXPIRE_SECONDS": env.int(
        "OAUTH_REFRESH_TOKEN_LIFETIME_SECONDS", default=30 * 24 * 3600
    ),
    "REQUEST_APPROVAL_PROMPT": "auto",
    "OIDC_ENABLED": True,
    "OIDC_RSA_PRIVATE_KEY": _OIDC_KEY,
    "OIDC_ISS_ENDPOINT": env.str("OIDC_ISSUER", default=""),
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "SCOPES_BACKEND_CLASS": "portal.oauth.scopes.CatalogScopes",
    "OIDC_SERVER_CLASS": "portal.oauth.server.GatehouseServer",
    "OAUTH2_SERVER_CLASS": "portal.oauth.server.GatehouseServer",
    "OAUTH2_VALIDATOR_CLASS": "portal.oauth.validators.GatehouseOAuth2Validator",
    # Only the scopes the catalog knows are ever offered; see CatalogScopes.
    "SCOPES": {"openid": "OpenID Connect sign-in"},
    # Where a device-flow user types the code shown by their command-line tool.
    "OAUTH_DEVICE_VERIFICATION_URI": f"{PUBLIC_URL}/device/",
}
