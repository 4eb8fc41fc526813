"""OAuth 2.0 flows driven through Django's test client, one step per function.

Each step returns what a client would get back (a code, a token response), so
a test reads as the sequence of requests a real client makes.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode, urlsplit

from authlib.deprecate import AuthlibDeprecationWarning

with warnings.catch_warnings():
    # Deprecated in favour of joserfc from Authlib 1.7 on, but the one JOSE API
    # every Authlib release the test extra allows (>=1.3,<2) has.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.jose import JsonWebKey, jwt

if TYPE_CHECKING:
    from portal.oauth.models import App

AUTHORIZE = "/o/authorize/"
TOKEN = "/o/token/"
REVOKE = "/o/revoke_token/"
INTROSPECT = "/o/introspect/"
DEVICE_AUTHORIZATION = "/o/device-authorization/"
DEVICE = "/o/device/"
USERINFO = "/o/userinfo/"
BOOKS = "/api/books/v1/books/"

REDIRECT_URI = "https://client.example/callback"
ATTACKER_URI = "https://attacker.example/steal"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass(frozen=True)
class OAuthClient:
    """An app set up as an OAuth client, with the secret shown at set-up
    (None for a public client)."""

    app: App
    secret: str | None

    @property
    def client_id(self) -> str:
        return self.app.client_id


@dataclass(frozen=True)
class Pkce:
    """A PKCE verifier and its S256 challenge (RFC 7636 §4.2)."""

    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(48))

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def post_form(client, path: str, data: dict[str, str]):
    """POST ``data`` form-encoded, as OAuth clients do (RFC 6749 §4.1.3)."""
    return client.post(
        path, urlencode(data), content_type="application/x-www-form-urlencoded"
    )


def authorize_params(oauth_client, pkce: Pkce | None, **overrides) -> dict[str, str]:
    """The query of an authorization request; ``None`` overrides drop a field."""
    params = {
        "response_type": "code",
        "client_id": oauth_client.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "books:read",
        "state": "state-123",
    }
    if pkce is not None:
        params["code_challenge"] = pkce.challenge
        params["code_challenge_method"] = "S256"
    params.update(overrides)
    return {name: value for name, value in params.items() if value is not None}


def authorize_url(oauth_client, pkce: Pkce | None, **overrides) -> str:
    return f"{AUTHORIZE}?{urlencode(authorize_params(oauth_client, pkce, **overrides))}"


def redirect_query(response) -> dict[str, str]:
    """The parameters of the redirect back to the client."""
    assert response.status_code == 302, response.content[:2000]
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT_URI
    return {name: values[0] for name, values in parse_qs(location.query).items()}


def consent(client, oauth_client, pkce: Pkce, **overrides) -> str:
    """Show the consent page to the logged-in user, allow, return the code."""
    params = authorize_params(oauth_client, pkce, **overrides)
    page = client.get(AUTHORIZE, params)
    if page.status_code == 200:  # no earlier consent to the same scopes
        assert b'name="allow"' in page.content, page.content[:2000]
        page = post_form(client, AUTHORIZE, {**params, "allow": "Authorize"})
    query = redirect_query(page)
    assert query["state"] == params["state"]
    return query["code"]


def client_auth(oauth_client) -> dict[str, str]:
    """client_secret_post credentials: the id, and the secret if it has one."""
    if oauth_client.secret is None:
        return {"client_id": oauth_client.client_id}
    return {"client_id": oauth_client.client_id, "client_secret": oauth_client.secret}


def exchange_code(client, oauth_client, code: str, pkce: Pkce, **overrides):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "code_verifier": pkce.verifier,
        **client_auth(oauth_client),
        **overrides,
    }
    return post_form(client, TOKEN, {k: v for k, v in data.items() if v is not None})


def refresh(client, oauth_client, refresh_token: str):
    return post_form(
        client,
        TOKEN,
        {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            **client_auth(oauth_client),
        },
    )


def client_credentials(client, oauth_client, scope: str | None = "books:read"):
    data = {"grant_type": "client_credentials", **client_auth(oauth_client)}
    if scope is not None:
        data["scope"] = scope
    return post_form(client, TOKEN, data)


def revoke(client, oauth_client, token: str, hint: str = "access_token"):
    data = {"token": token, "token_type_hint": hint, **client_auth(oauth_client)}
    return post_form(client, REVOKE, data)


def tokens(response) -> dict:
    """The body of a successful token response."""
    assert response.status_code == 200, response.content
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    return body


def oauth_error(response, status: int, error: str) -> dict:
    """An RFC 6749 §5.2 error response: JSON with this ``error``."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == error, body
    return body


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def get_books(client, token: str):
    return client.get(BOOKS, **bearer(token))


def verify_id_token(
    id_token: str, jwks: dict, *, issuer: str, audience: str, subject: str, nonce: str
) -> dict:
    """The claims of an ID token whose signature verifies with a key of
    ``jwks`` and whose iss, aud, sub and nonce are the expected ones."""
    claims = jwt.decode(
        id_token,
        JsonWebKey.import_key_set(jwks),
        claims_options={
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": audience},
            "sub": {"essential": True, "value": subject},
            "nonce": {"essential": True, "value": nonce},
        },
    )
    claims.validate()
    assert claims.header["alg"] == "RS256"
    return dict(claims)
