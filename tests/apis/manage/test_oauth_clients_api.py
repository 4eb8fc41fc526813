"""/api/manage/v1/apps/<id>/oauth-client/: read, configure, rotate the secret,
set redirect URIs.

The client secret is in the response that makes it and in no other. Each
operation as a signed-in person (session + CSRF) and as a token.
"""

from __future__ import annotations

import pytest
from django.test import Client

from portal.audit.models import AuditEvent
from portal.oauth.models import App
from tests.apis.assertions import assert_problem
from tests.apis.manage.conftest import BASE
from tests.portal.oauth.flows import OAuthClient, client_credentials, tokens

pytestmark = pytest.mark.django_db

CLIENT_FIELDS = {
    "app_id",
    "client_id",
    "configured",
    "grant",
    "client_type",
    "redirect_uris",
}
CALLBACK = "https://client.example/callback"


def client_url(app, suffix: str = "") -> str:
    return f"{BASE}apps/{app.pk}/oauth-client/{suffix}"


def can_get_a_token(app: App, secret: str | None) -> bool:
    response = client_credentials(Client(), OAuthClient(app, secret), "manage:read")
    return response.status_code == 200


@pytest.fixture
def app(developer_team, app_factory):
    """An app of the caller's team that is not an OAuth client yet."""
    return app_factory(team=developer_team, name="Sync", slug="sync")


def test_an_unconfigured_client_is_read(caller, app):
    response = caller.get(client_url(app))

    assert response.status_code == 200
    assert response.json() == {
        "app_id": app.pk,
        "client_id": app.client_id,
        "configured": False,
        "grant": None,
        "client_type": "confidential",
        "redirect_uris": [],
    }


def test_a_confidential_client_gets_its_secret_once(caller, app):
    response = caller.put(client_url(app), {"grant": "client-credentials"})

    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    secret = body["client_secret"]
    assert len(secret) >= 32
    assert set(body) == CLIENT_FIELDS | {"client_secret"}
    assert (body["configured"], body["grant"], body["client_type"]) == (
        True,
        "client-credentials",
        "confidential",
    )
    app.refresh_from_db()
    assert app.client_secret != secret  # stored hashed
    assert can_get_a_token(app, secret)

    read = caller.get(client_url(app))
    assert set(read.json()) == CLIENT_FIELDS
    assert secret not in read.content.decode()
    assert app.client_secret not in read.content.decode()
    event = AuditEvent.objects.get(
        action="oauth.client_configure", target_id=str(app.pk)
    )
    assert event.actor_label == caller.actor_label
    assert secret not in str(event.data)


def test_a_public_authorization_code_client_has_no_secret(caller, app):
    response = caller.put(
        client_url(app),
        {
            "grant": "authorization-code",
            "client_type": "public",
            "redirect_uris": [CALLBACK, "http://127.0.0.1:8765/cb"],
        },
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["client_secret"] is None
    assert (body["grant"], body["client_type"]) == ("authorization-code", "public")
    assert body["redirect_uris"] == [CALLBACK, "http://127.0.0.1:8765/cb"]
    app.refresh_from_db()
    assert app.client_type == App.CLIENT_PUBLIC
    assert app.oauth_enabled


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        ({}, 400, "invalid"),
        ({"grant": "password"}, 400, "invalid"),
        ({"grant": "implicit"}, 400, "invalid"),
        ({"grant": "authorization-code"}, 400, "redirect_uri_required"),
        (
            {"grant": "client-credentials", "client_type": "public"},
            400,
            "public_client_credentials",
        ),
        (
            {"grant": "authorization-code", "redirect_uris": ["http://evil.example/"]},
            400,
            "invalid_redirect_uri",
        ),
        (
            {"grant": "authorization-code", "redirect_uris": ["https://a.example/*"]},
            400,
            "invalid_redirect_uri",
        ),
        ({"grant": "device", "redirect_uris": CALLBACK}, 400, "invalid"),
    ],
)
def test_bad_configurations_are_refused(caller, app, data, status, code):
    before = App.objects.filter(pk=app.pk).values().get()

    response = caller.put(client_url(app), data)

    problem = assert_problem(response, status, code)
    assert "client_secret" not in problem
    assert App.objects.filter(pk=app.pk).values().get() == before


def test_the_secret_is_rotated(caller, app):
    first = caller.put(client_url(app), {"grant": "client-credentials"}).json()

    response = caller.post(client_url(app, "rotate-secret/"))

    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    secret = response.json()["client_secret"]
    assert secret != first["client_secret"]
    app.refresh_from_db()
    assert can_get_a_token(app, secret)
    assert not can_get_a_token(app, first["client_secret"])
    assert AuditEvent.objects.filter(action="oauth.client_secret_rotate").count() == 1
    assert secret not in caller.get(client_url(app)).content.decode()


def test_a_token_rotates_its_own_apps_secret(token_caller, manager_oauth):
    response = token_caller.post(client_url(manager_oauth.app, "rotate-secret/"))

    assert response.status_code == 200
    app = App.objects.get(pk=manager_oauth.app.pk)
    assert not can_get_a_token(app, manager_oauth.secret)
    assert can_get_a_token(app, response.json()["client_secret"])


@pytest.mark.parametrize("public", [False, True])
def test_only_a_configured_confidential_client_has_a_secret(caller, app, public):
    if public:
        caller.put(
            client_url(app),
            {
                "grant": "authorization-code",
                "client_type": "public",
                "redirect_uris": [CALLBACK],
            },
        )
    before = App.objects.filter(pk=app.pk).values().get()

    response = caller.post(client_url(app, "rotate-secret/"))

    problem = assert_problem(response, 409, "not_confidential")
    assert "client_secret" not in problem
    assert App.objects.filter(pk=app.pk).values().get() == before


def test_redirect_uris_are_replaced(caller, oauth_client_factory):
    oauth = oauth_client_factory(slug="web")
    hashed_secret = oauth.app.client_secret
    other_uri = "https://client.example/other"

    response = caller.patch(client_url(oauth.app), {"redirect_uris": [other_uri]})

    assert response.status_code == 200, response.content
    assert response.json()["redirect_uris"] == [other_uri]
    assert "client_secret" not in response.json()
    oauth.app.refresh_from_db()
    assert oauth.app.redirect_uris == other_uri
    assert oauth.app.client_secret == hashed_secret  # the secret is untouched
    assert oauth.app.authorization_grant_type == App.GRANT_AUTHORIZATION_CODE
    event = AuditEvent.objects.get(action="oauth.client_redirect_uris_change")
    assert event.data == {"redirect_uris": [other_uri]}


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"redirect_uris": []}, "redirect_uri_required"),
        ({"redirect_uris": ["https://a.example/#frag"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["ftp://a.example/"]}, "invalid_redirect_uri"),
        ({}, "invalid"),
        ({"redirect_uris": [CALLBACK], "grant": "device"}, "invalid"),
    ],
)
def test_bad_redirect_uris_change_nothing(caller, oauth_client_factory, data, code):
    oauth = oauth_client_factory(slug="web")
    before = App.objects.filter(pk=oauth.app.pk).values().get()

    response = caller.patch(client_url(oauth.app), data)

    assert_problem(response, 400, code)
    assert App.objects.filter(pk=oauth.app.pk).values().get() == before


def test_a_token_from_a_configured_client_works_for_the_api(caller, app):
    secret = caller.put(client_url(app), {"grant": "client-credentials"}).json()[
        "client_secret"
    ]
    app.refresh_from_db()

    token = tokens(
        client_credentials(Client(), OAuthClient(app, secret), "manage:read")
    )

    response = Client().get(
        client_url(app), HTTP_AUTHORIZATION=f"Bearer {token['access_token']}"
    )
    assert response.status_code == 200
    assert response.json()["configured"] is True
