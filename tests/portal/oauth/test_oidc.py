"""OpenID Connect through the test client: discovery, the ID token, userinfo.

tests/e2e/test_oauth_flows.py drives the same with Authlib over HTTP; these
are the quick checks that run without a live server.
"""

from __future__ import annotations

import pytest
from django.test import Client

from tests.portal.oauth.flows import (
    USERINFO,
    Pkce,
    bearer,
    consent,
    exchange_code,
    tokens,
    verify_id_token,
)

ISSUER = "http://testserver"


@pytest.fixture
def discovery() -> dict:
    return Client().get("/.well-known/openid-configuration").json()


def sign_in(owner_client, code_client, scope: str, nonce: str = "n-0S6_WzA2Mj"):
    pkce = Pkce()
    code = consent(owner_client, code_client, pkce, scope=scope, nonce=nonce)
    return exchange_code(Client(), code_client, code, pkce)


def test_both_discovery_documents_name_one_issuer_and_the_same_endpoints(discovery):
    oauth = Client().get("/.well-known/oauth-authorization-server").json()

    assert discovery["issuer"] == oauth["issuer"] == ISSUER
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        assert discovery[name] == oauth[name]
    assert discovery["response_types_supported"] == ["code"]
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    assert "password" not in oauth["grant_types_supported"]
    assert "implicit" not in oauth["grant_types_supported"]


def test_an_openid_sign_in_returns_an_id_token_signed_with_the_published_key(
    owner_client, code_client, resource_owner, discovery
):
    response = sign_in(owner_client, code_client, "openid email books:read")

    body = tokens(response)
    jwks = Client().get(discovery["jwks_uri"].removeprefix(ISSUER)).json()
    claims = verify_id_token(
        body["id_token"],
        jwks,
        issuer=discovery["issuer"],
        audience=code_client.client_id,
        subject=str(resource_owner.pk),
        nonce="n-0S6_WzA2Mj",
    )
    assert claims["email"] == resource_owner.email
    assert claims["email_verified"] is True


def test_userinfo_returns_the_claims_of_the_consented_scopes(
    owner_client, code_client, resource_owner
):
    access_token = tokens(sign_in(owner_client, code_client, "openid email"))[
        "access_token"
    ]

    response = Client().get(USERINFO, **bearer(access_token))

    assert response.status_code == 200
    assert response.json() == {
        "sub": str(resource_owner.pk),
        "email": resource_owner.email,
        "email_verified": True,
    }
