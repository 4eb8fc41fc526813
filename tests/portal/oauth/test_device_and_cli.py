"""The device authorization grant (RFC 8628), as a command-line tool and its
user go through it, and ``createoauthclient``."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.contrib.auth.hashers import check_password
from django.core.management import CommandError, call_command
from django.test import Client
from oauth2_provider.models import AccessToken, DeviceGrant

from portal.audit.models import AuditEvent
from portal.oauth.models import App
from tests.portal.oauth.flows import (
    DEVICE,
    DEVICE_AUTHORIZATION,
    DEVICE_GRANT,
    REDIRECT_URI,
    TOKEN,
    OAuthClient,
    client_credentials,
    get_books,
    oauth_error,
    post_form,
    tokens,
)


@pytest.fixture
def cli_client(oauth_client_factory):
    """A public device-flow client (a command-line tool) on the starter plan."""
    return oauth_client_factory(grant="device", public=True, name="Books CLI")


def start(device_client, scope: str = "books:read") -> dict:
    """The tool asks for a device code."""
    data = {"client_id": device_client.client_id, "scope": scope}
    response = post_form(Client(), DEVICE_AUTHORIZATION, data)
    assert response.status_code == 200, response.content
    return response.json()


def enter_code(client, user_code: str):
    """The user types the code shown by the tool; returns the confirm page."""
    response = client.post(DEVICE, {"user_code": user_code})
    assert response.status_code == 302, response.content[:2000]
    return client.get(response["Location"])


def decide(client, user_code: str, action: str) -> None:
    confirm = enter_code(client, user_code)
    assert confirm.status_code == 200
    response = client.post(confirm.wsgi_request.path, {"action": action})
    assert response.status_code == 302


def poll(device_client, device_code: str):
    data = {
        "grant_type": DEVICE_GRANT,
        "device_code": device_code,
        "client_id": device_client.client_id,
    }
    return post_form(Client(), TOKEN, data)


# --- the device flow ------------------------------------------------------------------


def test_a_device_authorization_gives_codes_and_where_to_enter_them(cli_client):
    body = start(cli_client)

    assert body["verification_uri"].endswith("/device/")
    assert body["user_code"] and body["device_code"]
    assert body["user_code"] != body["device_code"]
    assert body["expires_in"] > 0
    assert body["interval"] >= 5
    # The short address printed by the tool leads to the code form.
    assert Client().get("/device/")["Location"] == DEVICE


def test_polling_before_the_user_decides_is_authorization_pending(cli_client):
    body = start(cli_client)

    response = poll(cli_client, body["device_code"])

    oauth_error(response, 400, "authorization_pending")
    assert not AccessToken.objects.exists()


def test_the_user_approves_and_the_tool_gets_a_working_token(
    owner_client, cli_client, resource_owner
):
    body = start(cli_client)

    confirm = enter_code(owner_client, body["user_code"])
    page = confirm.content.decode()
    assert "Allow Books CLI to act for you?" in page
    assert cli_client.app.team.name in page
    assert "Read books and authors." in page
    owner_client.post(confirm.wsgi_request.path, {"action": "accept"})
    token = tokens(poll(cli_client, body["device_code"]))

    assert token["scope"] == "books:read"
    assert get_books(Client(), token["access_token"]).status_code == 200
    assert AccessToken.objects.get().user == resource_owner


def test_a_denied_device_gets_access_denied(owner_client, cli_client):
    body = start(cli_client)

    decide(owner_client, body["user_code"], "deny")

    oauth_error(poll(cli_client, body["device_code"]), 400, "access_denied")
    assert not AccessToken.objects.exists()


def test_a_device_code_is_exchanged_only_once(owner_client, cli_client):
    # Otherwise whoever holds the device code mints fresh tokens until it
    # expires (30 minutes), even after the user revoked the app.
    body = start(cli_client)
    decide(owner_client, body["user_code"], "accept")
    tokens(poll(cli_client, body["device_code"]))

    again = poll(cli_client, body["device_code"])

    assert again.status_code == 400
    assert again.json()["error"] in {"invalid_grant", "expired_token"}
    assert AccessToken.objects.count() == 1


def test_a_scope_no_subscription_grants_is_refused_at_device_authorization(
    cli_client,
):
    data = {"client_id": cli_client.client_id, "scope": "books:read books:admin"}

    response = post_form(Client(), DEVICE_AUTHORIZATION, data)

    oauth_error(response, 400, "invalid_scope")
    assert not DeviceGrant.objects.exists()


def test_a_wrong_user_code_is_a_form_error(owner_client, cli_client):
    body = start(cli_client)

    response = owner_client.post(DEVICE, {"user_code": "WRONG123"})

    assert response.status_code == 200
    assert "Incorrect user code" in response.content.decode()
    assert DeviceGrant.objects.get(device_code=body["device_code"]).user is None


def test_entering_a_code_needs_a_logged_in_user(cli_client):
    response = Client().get(DEVICE)

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("client_id", ["nope", ""])
def test_an_unknown_client_cannot_start_a_device_flow(catalog, client_id):
    data = {"client_id": client_id}

    response = post_form(Client(), DEVICE_AUTHORIZATION, data)

    body = oauth_error(response, 400, "invalid_request")
    assert "client_id" in body["error_description"]
    assert not DeviceGrant.objects.exists()


# --- createoauthclient ----------------------------------------------------------------


def create(*args: str) -> dict:
    out = StringIO()
    call_command("createoauthclient", *args, stdout=out, stderr=StringIO())
    lines = out.getvalue().splitlines()
    assert len(lines) == 1, out.getvalue()
    return json.loads(lines[0])


@pytest.fixture
def app(developer_team, app_factory, starter_plan):
    from portal.catalog.services import subscription_create_active

    app = app_factory(team=developer_team, name="Importer", slug="importer")
    subscription_create_active(app=app, plan=starter_plan)
    return app


def test_createoauthclient_prints_the_id_and_a_working_secret(app):
    printed = create("--app", app.qualified_slug, "--grant", "client-credentials")

    assert set(printed) == {"client_id", "client_secret"}
    app.refresh_from_db()
    assert printed["client_id"] == app.client_id
    assert app.oauth_enabled is True
    assert app.client_secret != printed["client_secret"]
    assert check_password(printed["client_secret"], app.client_secret)

    credentials = OAuthClient(app, printed["client_secret"])
    token = tokens(client_credentials(Client(), credentials))
    assert get_books(Client(), token["access_token"]).status_code == 200
    event = AuditEvent.objects.get(action="oauth.client_configure")
    assert event.actor is None
    assert printed["client_secret"] not in json.dumps(event.data)


def test_createoauthclient_prints_no_secret_for_a_public_client(app):
    printed = create("--app", app.qualified_slug, "--grant", "device", "--public")

    assert printed == {"client_id": app.client_id}
    app.refresh_from_db()
    assert app.client_type == App.CLIENT_PUBLIC
    assert app.authorization_grant_type == App.GRANT_DEVICE_CODE


def test_createoauthclient_takes_several_redirect_uris(app):
    create(
        "--app",
        app.qualified_slug,
        "--grant",
        "authorization-code",
        "--redirect-uri",
        REDIRECT_URI,
        "--redirect-uri",
        "http://127.0.0.1:8765/cb",
    )

    app.refresh_from_db()
    assert app.redirect_uris.split() == [REDIRECT_URI, "http://127.0.0.1:8765/cb"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(
            ["--app", "no-such-team/no-such-app", "--grant", "device"],
            "No app 'no-such-team/no-such-app': name it as <team slug>/<app slug>.",
            id="unknown-app",
        ),
        pytest.param(
            ["--app", "importer", "--grant", "device"],
            "No app 'importer'",
            id="not-qualified",
        ),
        pytest.param(
            [
                "--grant",
                "authorization-code",
                "--redirect-uri",
                "http://example.com/cb",
            ],
            "must use https",
            id="bad-redirect",
        ),
        pytest.param(
            ["--grant", "authorization-code"],
            "An authorization-code client needs at least one redirect URI.",
            id="no-redirect",
        ),
        pytest.param(
            ["--grant", "client-credentials", "--public"],
            "A client-credentials client must be confidential",
            id="public-client-credentials",
        ),
        pytest.param(["--grant", "password"], "invalid choice", id="password-grant"),
    ],
)
def test_createoauthclient_errors_name_the_problem_and_change_nothing(
    app, args, message
):
    if "--app" not in args:
        args = ["--app", app.qualified_slug, *args]
    before = App.objects.filter(pk=app.pk).values().get()

    with pytest.raises(CommandError) as raised:
        create(*args)

    assert message in str(raised.value)
    assert App.objects.filter(pk=app.pk).values().get() == before
    assert not AuditEvent.objects.filter(action="oauth.client_configure").exists()
