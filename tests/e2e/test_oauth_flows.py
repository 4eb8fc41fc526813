"""A real third-party OAuth client (Authlib over requests) against the running
portal: what an integrator's code does, request for request.

The user's side (consent) is an HTTP session holding the user's session
cookie; no browser is needed, so none is started.
"""

from __future__ import annotations

import gc
import threading
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from django.conf import settings
from django.test import Client as DjangoClient

from tests.portal.oauth.flows import REDIRECT_URI, verify_id_token

BOOKS = "/api/books/v1/books/"
TIMEOUT = 30

pytestmark = pytest.mark.usefixtures("transactional_db")


class _ConsentForm(HTMLParser):
    """The inputs of the consent form (id="authorizationForm")."""

    def __init__(self):
        super().__init__()
        self.fields: dict[str, str] = {}
        self._inside = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id") == "authorizationForm":
            self._inside = True
        elif tag == "input" and self._inside and attrs.get("name"):
            self.fields[attrs["name"]] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._inside = False


@pytest.fixture(autouse=True)
def _server_threads_finish():
    yield
    # A kept-alive HTTP connection holds a live-server thread, and that thread
    # its own database connection, which would keep the PostgreSQL test
    # database from being dropped. The sessions are closed by now; collecting
    # the responses still holding a connection closes the rest, and each
    # server thread then ends, closing its database connections.
    gc.collect()
    for thread in threading.enumerate():
        if thread.name.endswith("(process_request_thread)"):
            thread.join(timeout=10)


@pytest.fixture
def server(live_server) -> str:
    return live_server.url


@pytest.fixture
def user_agent(server, resource_owner):
    """The user's browser, as a requests session logged in to the portal."""
    django_client = DjangoClient()
    django_client.force_login(resource_owner)
    agent = requests.Session()
    name = settings.SESSION_COOKIE_NAME
    agent.cookies.set(name, django_client.cookies[name].value)
    yield agent
    agent.close()


@pytest.fixture
def open_session():
    """``open_session(client_id=..., ...)``: an Authlib ``OAuth2Session``,
    closed after the test so no kept-alive request outlives the server."""
    sessions: list[OAuth2Session] = []

    def open_(**kwargs) -> OAuth2Session:
        session = OAuth2Session(**kwargs)
        sessions.append(session)
        return session

    yield open_
    for session in sessions:
        session.close()


def allow(user_agent: requests.Session, authorization_url: str) -> str:
    """The user opens the consent page and allows; returns the redirect back to
    the client (the code is not followed: the client is not running)."""
    page = user_agent.get(authorization_url, allow_redirects=False, timeout=TIMEOUT)
    if page.status_code == 302:  # consented to these scopes before
        return page.headers["Location"]
    assert page.status_code == 200, page.text[:2000]
    form = _ConsentForm()
    form.feed(page.text)
    assert "csrfmiddlewaretoken" in form.fields
    response = user_agent.post(
        page.url,
        data={**form.fields, "allow": "Authorize"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert response.status_code == 302, response.text[:2000]
    return response.headers["Location"]


def authorization_code_session(open_session, oauth_client, scope: str):
    return open_session(
        client_id=oauth_client.client_id,
        client_secret=oauth_client.secret,
        scope=scope,
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
    )


def sign_in(server, session: OAuth2Session, user_agent, **params) -> dict:
    """The whole authorization-code + PKCE dance, as Authlib does it."""
    verifier = generate_token(48)
    url, state = session.create_authorization_url(
        f"{server}/o/authorize/", code_verifier=verifier, **params
    )
    assert "code_challenge_method=S256" in url
    callback = allow(user_agent, url)
    query = parse_qs(urlsplit(callback).query)
    assert callback.startswith(REDIRECT_URI + "?")
    assert query["state"] == [state]
    assert query["iss"] == [server]
    return session.fetch_token(
        f"{server}/o/token/",
        authorization_response=callback,
        code_verifier=verifier,
        timeout=TIMEOUT,
    )


def fetch(url: str, **headers: str) -> requests.Response:
    """A plain GET, redirects not followed."""
    return requests.get(
        url,
        headers=headers,
        allow_redirects=False,
        timeout=TIMEOUT,
    )


def call_books(server, access_token: str) -> requests.Response:
    return fetch(f"{server}{BOOKS}", Authorization=f"Bearer {access_token}")


def test_authorization_code_with_pkce_refresh_reuse_and_revocation(
    server, code_client, user_agent, open_session
):
    session = authorization_code_session(open_session, code_client, "books:read")
    first = sign_in(server, session, user_agent)
    assert first["token_type"] == "Bearer"
    assert first["scope"] == "books:read"
    assert session.get(f"{server}{BOOKS}", timeout=TIMEOUT).status_code == 200

    second = session.refresh_token(
        f"{server}/o/token/", refresh_token=first["refresh_token"], timeout=TIMEOUT
    )
    assert second["refresh_token"] != first["refresh_token"]
    assert call_books(server, second["access_token"]).status_code == 200
    assert call_books(server, first["access_token"]).status_code == 401

    # Replaying the rotated-out refresh token: refused, and the whole grant
    # (including the newest access token) is revoked.
    with pytest.raises(OAuthError) as replay:
        session.refresh_token(
            f"{server}/o/token/", refresh_token=first["refresh_token"], timeout=TIMEOUT
        )
    assert replay.value.error == "invalid_grant"
    refused = call_books(server, second["access_token"])
    assert refused.status_code == 401
    assert refused.json()["code"] == "invalid_token"
    with pytest.raises(OAuthError) as after:
        session.refresh_token(
            f"{server}/o/token/", refresh_token=second["refresh_token"], timeout=TIMEOUT
        )
    assert after.value.error == "invalid_grant"

    # A fresh grant, revoked by the client at the revocation endpoint.
    fresh = sign_in(server, session, user_agent)
    assert call_books(server, fresh["access_token"]).status_code == 200
    revoked = session.revoke_token(
        f"{server}/o/revoke_token/",
        token=fresh["access_token"],
        token_type_hint="access_token",
        timeout=TIMEOUT,
    )
    assert revoked.status_code == 200
    assert call_books(server, fresh["access_token"]).status_code == 401


def test_client_credentials_introspection_and_revocation(
    server, machine_client, open_session
):
    session = open_session(
        client_id=machine_client.client_id,
        client_secret=machine_client.secret,
        scope="books:read",
    )
    token = session.fetch_token(
        f"{server}/o/token/", grant_type="client_credentials", timeout=TIMEOUT
    )
    assert "refresh_token" not in token
    assert session.get(f"{server}{BOOKS}", timeout=TIMEOUT).status_code == 200

    introspected = session.introspect_token(
        f"{server}/o/introspect/", token=token["access_token"], timeout=TIMEOUT
    )
    assert introspected.status_code == 200
    body = introspected.json()
    assert body["active"] is True
    assert body["client_id"] == machine_client.client_id
    assert body["scope"] == "books:read"

    revoked = session.revoke_token(
        f"{server}/o/revoke_token/", token=token["access_token"], timeout=TIMEOUT
    )
    assert revoked.status_code == 200

    after = session.introspect_token(
        f"{server}/o/introspect/", token=token["access_token"], timeout=TIMEOUT
    )
    assert after.status_code == 200
    assert after.json() == {"active": False}
    refused = call_books(server, token["access_token"])
    assert refused.status_code == 401
    assert refused.json()["code"] == "invalid_token"


def test_openid_connect_id_token_discovery_and_userinfo(
    server, code_client, user_agent, resource_owner, open_session
):
    openid = fetch(f"{server}/.well-known/openid-configuration").json()
    oauth = fetch(f"{server}/.well-known/oauth-authorization-server").json()
    assert openid["issuer"] == oauth["issuer"] == server
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        assert openid[name] == oauth[name], name
    endpoints = {
        "authorization_endpoint": (openid, 302),  # to the login page
        "token_endpoint": (openid, 405),  # POST only
        "userinfo_endpoint": (openid, 401),  # needs a token
        "jwks_uri": (openid, 200),
        "revocation_endpoint": (oauth, 405),
        "introspection_endpoint": (oauth, 403),  # no client credentials
    }
    for name, (document, status) in endpoints.items():
        assert document[name].startswith(server + "/"), name
        response = fetch(document[name])
        assert response.status_code == status, (name, response.status_code)

    session = authorization_code_session(
        open_session, code_client, "openid email books:read"
    )
    nonce = generate_token(20)
    token = sign_in(server, session, user_agent, nonce=nonce)

    jwks = fetch(openid["jwks_uri"]).json()
    claims = verify_id_token(
        token["id_token"],
        jwks,
        issuer=openid["issuer"],
        audience=code_client.client_id,
        subject=str(resource_owner.pk),
        nonce=nonce,
    )
    assert claims["email"] == resource_owner.email

    userinfo = session.get(openid["userinfo_endpoint"], timeout=TIMEOUT)
    assert userinfo.status_code == 200
    assert userinfo.json()["sub"] == str(resource_owner.pk)
    assert userinfo.json()["email"] == resource_owner.email
    assert userinfo.json()["email_verified"] is True
    assert session.get(f"{server}{BOOKS}", timeout=TIMEOUT).status_code == 200
