"""The portal's OAuth pages, as a developer and as a user of an app use them:
client set-up, secret rotation, consent, authorized apps."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.hashers import check_password
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import AccessToken, RefreshToken

from portal.audit.models import AuditEvent
from portal.oauth.models import App
from tests.apis.assertions import assert_problem
from tests.portal.oauth.flows import (
    AUTHORIZE,
    REDIRECT_URI,
    OAuthClient,
    Pkce,
    authorize_params,
    client_credentials,
    consent,
    exchange_code,
    get_books,
    oauth_error,
    post_form,
    redirect_query,
    tokens,
)

SECRET_RE = re.compile(r'id="client-secret"[^>]*value="([^"]+)"')


@pytest.fixture
def developer_client(client, developer):
    """Logged in as ``developer``, a member of the app's team."""
    client.force_login(developer)
    return client


@pytest.fixture
def app(developer_team, app_factory, starter_plan):
    """An app of ``developer_team`` on the Books starter plan, not yet a client."""
    from portal.catalog.services import subscription_create_active

    app = app_factory(team=developer_team, name="Shop", slug="shop")
    subscription_create_active(app=app, plan=starter_plan)
    return app


def url(name: str, app: App) -> str:
    return reverse(f"portal:{name}", args=[app.team.slug, app.slug])


def shown_secret(response) -> str | None:
    match = SECRET_RE.search(response.content.decode())
    return match.group(1) if match else None


def client_state(app: App) -> tuple:
    app = App.objects.get(pk=app.pk)
    return (
        app.oauth_enabled,
        app.authorization_grant_type,
        app.client_type,
        app.redirect_uris,
        app.client_secret,
    )


def set_up(client, app, **data):
    payload = {
        "grant": "client-credentials",
        "client_type": "confidential",
        "redirect_uris": "",
        **data,
    }
    return client.post(url("oauth-client", app), payload)


# --- setting up a client --------------------------------------------------------------


def test_setting_up_a_client_shows_the_secret_once_and_stores_it_hashed(
    developer_client, app
):
    response = set_up(developer_client, app)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = shown_secret(response)
    assert secret and len(secret) >= 40
    app.refresh_from_db()
    assert app.oauth_enabled is True
    assert app.authorization_grant_type == App.GRANT_CLIENT_CREDENTIALS
    assert app.client_type == App.CLIENT_CONFIDENTIAL
    assert app.client_secret != secret
    assert secret not in app.client_secret
    assert check_password(secret, app.client_secret)
    assert app.client_id in response.content.decode()

    again = developer_client.get(url("oauth-client", app))
    assert again.status_code == 200
    assert shown_secret(again) is None
    assert secret not in again.content.decode()

    token = tokens(client_credentials(Client(), OAuthClient(app, secret)))
    assert get_books(Client(), token["access_token"]).status_code == 200


def test_setting_up_an_authorization_code_client_records_it(developer_client, app):
    response = set_up(
        developer_client,
        app,
        grant="authorization-code",
        redirect_uris=f"{REDIRECT_URI}\nhttps://client.example/other",
    )

    assert response.status_code == 200
    app.refresh_from_db()
    assert app.authorization_grant_type == App.GRANT_AUTHORIZATION_CODE
    assert app.redirect_uris.split() == [REDIRECT_URI, "https://client.example/other"]
    event = AuditEvent.objects.get(action="oauth.client_configure")
    assert event.target_id == str(app.pk)
    assert event.team_id == app.team_id
    assert event.data == {
        "grant": "authorization-code",
        "public": False,
        "redirect_uris": [REDIRECT_URI, "https://client.example/other"],
    }
    assert shown_secret(response) not in str(event.data)


def test_a_public_client_has_no_secret(developer_client, app):
    response = set_up(
        developer_client,
        app,
        grant="authorization-code",
        client_type="public",
        redirect_uris="http://127.0.0.1:8765/cb",
    )

    assert response.status_code == 200
    assert shown_secret(response) is None
    app.refresh_from_db()
    assert app.client_type == App.CLIENT_PUBLIC


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(
            {"redirect_uris": "http://example.com/cb"}, "must use https", id="http"
        ),
        pytest.param(
            {"redirect_uris": "https://client.example/cb#frag"},
            "must not contain a fragment",
            id="fragment",
        ),
        pytest.param(
            {"redirect_uris": "https://*.client.example/cb"},
            "is not a valid absolute URI",
            id="wildcard",
        ),
        pytest.param(
            {"redirect_uris": "not a uri"},
            "is not a valid absolute URI",
            id="not-a-uri",
        ),
        pytest.param(
            {"redirect_uris": "javascript:alert(1)"},
            "is not a valid absolute URI",
            id="javascript",
        ),
        pytest.param(
            {"redirect_uris": "https://user:pw@client.example/cb"},
            "must not contain user information",
            id="userinfo",
        ),
        pytest.param(
            {"redirect_uris": "ftp://client.example/cb"}, "must use https", id="ftp"
        ),
        pytest.param(
            {"grant": "client-credentials", "client_type": "public"},
            "A client-credentials client must be confidential",
            id="public-client-credentials",
        ),
        pytest.param(
            {"grant": "authorization-code", "redirect_uris": ""},
            "needs at least one redirect URI",
            id="code-without-redirect-uri",
        ),
        pytest.param({"grant": "password"}, "Select a valid choice", id="password"),
        pytest.param({"grant": "implicit"}, "Select a valid choice", id="implicit"),
    ],
)
def test_a_bad_client_set_up_is_a_form_error_and_changes_nothing(
    developer_client, app, data, message
):
    data = {"grant": "authorization-code", **data}
    before = client_state(app)

    response = set_up(developer_client, app, **data)

    assert response.status_code == 200
    page = response.content.decode()
    assert message in page
    assert 'class="field invalid"' in page
    assert shown_secret(response) is None
    assert client_state(app) == before
    assert not AuditEvent.objects.filter(action="oauth.client_configure").exists()


def test_a_rejected_change_keeps_the_client_and_its_secret_working(
    developer_client, app
):
    secret = shown_secret(set_up(developer_client, app))
    before = client_state(app)

    response = set_up(
        developer_client,
        app,
        grant="authorization-code",
        redirect_uris="http://example.com/cb",
    )

    assert response.status_code == 200
    assert client_state(app) == before
    tokens(client_credentials(Client(), OAuthClient(app, secret)))


@pytest.mark.parametrize(
    "redirect_uri",
    ["http://127.0.0.1:8765/cb", "http://[::1]/cb", "http://localhost/cb"],
)
def test_loopback_http_redirect_uris_are_accepted(developer_client, app, redirect_uri):
    response = set_up(
        developer_client,
        app,
        grant="authorization-code",
        client_type="public",
        redirect_uris=redirect_uri,
    )

    assert response.status_code == 200
    app.refresh_from_db()
    assert app.oauth_enabled is True
    assert app.redirect_uris == redirect_uri


def test_changing_the_redirect_uris_is_checked_and_audited(developer_client, app):
    set_up(
        developer_client, app, grant="authorization-code", redirect_uris=REDIRECT_URI
    )

    refused = developer_client.post(
        url("oauth-redirect-uris", app), {"redirect_uris": "http://example.com/cb"}
    )
    assert refused.status_code == 200
    assert "must use https" in refused.content.decode()
    app.refresh_from_db()
    assert app.redirect_uris == REDIRECT_URI

    saved = developer_client.post(
        url("oauth-redirect-uris", app), {"redirect_uris": "https://new.example/cb"}
    )
    assert saved.status_code == 302
    app.refresh_from_db()
    assert app.redirect_uris == "https://new.example/cb"
    event = AuditEvent.objects.get(action="oauth.client_redirect_uris_change")
    assert event.data == {"redirect_uris": ["https://new.example/cb"]}


def test_every_endpoint_the_client_page_lists_exists(developer_client, app):
    page = developer_client.get(url("oauth-client", app)).content.decode()
    listed = re.search(r"<p>Endpoints: (.*?)</p>", page, re.S).group(1)
    paths = re.findall(r"<code>(/[^<]*)</code>", listed)
    assert "/o/token/" in paths

    missing = [path for path in paths if Client().get(path).status_code == 404]

    assert missing == []


# --- rotating the secret --------------------------------------------------------------


def test_rotating_the_secret_shows_the_new_one_once_and_the_old_one_stops(
    developer_client, app, developer
):
    old = shown_secret(set_up(developer_client, app))

    response = developer_client.post(url("oauth-secret-rotate", app))

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    new = shown_secret(response)
    assert new and new != old
    oauth_error(
        client_credentials(Client(), OAuthClient(app, old)), 401, "invalid_client"
    )
    tokens(client_credentials(Client(), OAuthClient(app, new)))
    event = AuditEvent.objects.get(action="oauth.client_secret_rotate")
    assert event.actor == developer
    assert event.target_id == str(app.pk)
    assert new not in str(event.data) and old not in str(event.data)


def test_a_public_client_has_no_secret_to_rotate(developer_client, app):
    set_up(
        developer_client,
        app,
        grant="authorization-code",
        client_type="public",
        redirect_uris=REDIRECT_URI,
    )
    before = client_state(app)

    response = developer_client.post(url("oauth-secret-rotate", app), follow=True)

    assert response.status_code == 200
    assert "Only a configured confidential client has a secret." in (
        response.content.decode()
    )
    assert client_state(app) == before
    assert not AuditEvent.objects.filter(action="oauth.client_secret_rotate").exists()


# --- who may --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("get", "oauth-client"),
        ("post", "oauth-client"),
        ("post", "oauth-secret-rotate"),
        ("post", "oauth-redirect-uris"),
    ],
)
def test_a_non_member_gets_404_and_changes_nothing(
    client, user_factory, app, method, name
):
    outsider = user_factory(password=None)
    client.force_login(outsider)
    before = client_state(app)
    payload = {
        "grant": "client-credentials",
        "client_type": "confidential",
        "redirect_uris": "https://attacker.example/cb",
    }

    response = getattr(client, method)(url(name, app), payload)

    assert response.status_code == 404
    assert client_state(app) == before
    assert not AuditEvent.objects.filter(action__startswith="oauth.").exists()


def test_an_anonymous_visitor_is_sent_to_log_in(app):
    response = Client().get(url("oauth-client", app))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))


# --- consent --------------------------------------------------------------------------


def test_the_consent_page_names_the_team_and_describes_each_scope(
    owner_client, code_client, resource_owner
):
    scope = "openid email books:read"
    params = authorize_params(code_client, Pkce(), scope=scope)

    response = owner_client.get(AUTHORIZE, params)

    assert response.status_code == 200
    page = response.content.decode()
    assert f"Allow {code_client.app.name} to act for you?" in page
    assert f"<strong>{code_client.app.team.name}</strong>" in page
    assert resource_owner.email in page
    for description in (
        "Sign you in with your Gatehouse account.",
        "See your email address.",
        "Read books and authors.",
    ):
        assert description in page
    assert "Create, change and delete books and authors." not in page
    assert 'name="allow"' in page


def test_the_consent_page_needs_a_logged_in_user(code_client):
    url_ = f"{AUTHORIZE}?response_type=code&client_id={code_client.client_id}"

    response = Client().get(url_)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_allowing_is_audited_with_the_scopes(owner_client, code_client, resource_owner):
    consent(owner_client, code_client, Pkce(), scope="openid books:read")

    event = AuditEvent.objects.get(action="oauth.consent")
    assert event.actor == resource_owner
    assert event.team_id == code_client.app.team_id
    assert event.target_id == str(code_client.app.pk)
    assert event.data == {"scopes": ["openid", "books:read"]}


def test_denying_sends_access_denied_and_is_audited(owner_client, code_client):
    params = authorize_params(code_client, Pkce())

    response = post_form(owner_client, AUTHORIZE, params)  # no "allow"

    query = redirect_query(response)
    assert query["error"] == "access_denied"
    assert "code" not in query
    assert AuditEvent.objects.filter(action="oauth.consent_denied").count() == 1
    assert not AuditEvent.objects.filter(action="oauth.consent").exists()


@pytest.mark.parametrize(
    "tampered",
    [
        pytest.param({"code_challenge_method": "plain"}, id="plain-pkce"),
        pytest.param({"scope": "books:admin"}, id="unknown-scope"),
        pytest.param({"redirect_uri": "https://attacker.example/cb"}, id="redirect"),
    ],
)
def test_an_allow_that_grants_nothing_is_not_audited_as_consent(
    owner_client, code_client, tampered
):
    # The audit trail says who let which app act for them: an authorization
    # that failed (no code issued) must not read as a consent.
    pkce = Pkce()
    params = authorize_params(code_client, pkce, **tampered)

    response = post_form(owner_client, AUTHORIZE, {**params, "allow": "Authorize"})

    assert "code=" not in response.get("Location", "")
    assert not AuditEvent.objects.filter(action="oauth.consent").exists()


# --- authorized apps ------------------------------------------------------------------


@pytest.fixture
def granted(owner_client, code_client) -> dict:
    """``resource_owner`` has authorized ``code_client``; its tokens."""
    pkce = Pkce()
    code = consent(owner_client, code_client, pkce)
    return tokens(exchange_code(Client(), code_client, code, pkce))


def test_the_authorized_apps_page_lists_an_app_after_consent(
    owner_client, code_client, granted
):
    response = owner_client.get(reverse("portal:authorized-apps"))

    page = response.content.decode()
    assert code_client.app.name in page
    assert code_client.app.team.name in page
    revoke_url = reverse("portal:authorized-app-revoke", args=[code_client.app.pk])
    assert f'action="{revoke_url}"' in page


def test_revoking_an_authorized_app_stops_its_tokens_at_once(
    owner_client, code_client, granted, resource_owner
):
    api = Client()
    assert get_books(api, granted["access_token"]).status_code == 200
    revoke_url = reverse("portal:authorized-app-revoke", args=[code_client.app.pk])

    response = owner_client.post(revoke_url)

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:authorized-apps")
    assert_problem(get_books(api, granted["access_token"]), 401, "invalid_token")
    refreshed = post_form(
        api,
        "/o/token/",
        {
            "grant_type": "refresh_token",
            "refresh_token": granted["refresh_token"],
            "client_id": code_client.client_id,
            "client_secret": code_client.secret,
        },
    )
    oauth_error(refreshed, 400, "invalid_grant")
    assert not AccessToken.objects.filter(user=resource_owner).exists()
    assert not RefreshToken.objects.filter(
        user=resource_owner, revoked__isnull=True
    ).exists()
    page = owner_client.get(reverse("portal:authorized-apps")).content.decode()
    assert "No app can act for you." in page
    event = AuditEvent.objects.get(action="oauth.authorization_revoke")
    assert event.actor == resource_owner
    assert event.target_id == str(code_client.app.pk)


def test_the_revocation_audit_counts_every_token_withdrawn(
    owner_client, code_client, granted, resource_owner
):
    # One refresh token and the access token issued with it: two tokens went.
    assert AccessToken.objects.filter(user=resource_owner).count() == 1
    assert RefreshToken.objects.filter(user=resource_owner).count() == 1
    revoke_url = reverse("portal:authorized-app-revoke", args=[code_client.app.pk])

    owner_client.post(revoke_url)

    event = AuditEvent.objects.get(action="oauth.authorization_revoke")
    assert event.data == {"tokens": 2}


def test_revoking_an_app_you_never_authorized_is_404(
    client, user_factory, code_client, granted
):
    stranger = user_factory(password=None)
    client.force_login(stranger)
    revoke_url = reverse("portal:authorized-app-revoke", args=[code_client.app.pk])

    response = client.post(revoke_url)

    assert response.status_code == 404
    assert get_books(Client(), granted["access_token"]).status_code == 200
    assert not AuditEvent.objects.filter(action="oauth.authorization_revoke").exists()
