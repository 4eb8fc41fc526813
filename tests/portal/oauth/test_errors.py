"""Every way an OAuth request is refused: a precise RFC 6749 error, never a 500.

Errors at the authorization endpoint reach the client as a redirect carrying
``error`` (RFC 6749 §4.1.2.1), or, when the client or its redirect URI cannot
be trusted, as an error page that redirects nowhere. Errors at the token
endpoint are JSON with ``error`` (§5.2); on the served API they are
problem+json with a stable ``code``.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from oauth2_provider.models import AccessToken, Grant, RefreshToken

from portal.oauth.models import App, AppStatus
from tests.apis.assertions import assert_problem
from tests.portal.oauth.flows import (
    ATTACKER_URI,
    AUTHORIZE,
    DEVICE_GRANT,
    REDIRECT_URI,
    TOKEN,
    OAuthClient,
    Pkce,
    authorize_params,
    authorize_url,
    client_auth,
    client_credentials,
    consent,
    exchange_code,
    get_books,
    oauth_error,
    post_form,
    redirect_query,
    refresh,
    tokens,
)

INVALID_TOKEN = 'Bearer realm="api", error="invalid_token"'


def assert_error_page(response, error: str) -> None:
    """An error shown to the user: 400, rendered here, redirecting nowhere."""
    assert response.status_code == 400
    assert "Location" not in response
    assert response.context["error"].error == error
    assert "redirect URI" in response.content.decode()
    assert ATTACKER_URI not in response.content.decode()


# --- the authorization endpoint -------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        pytest.param(ATTACKER_URI, id="other-host"),
        pytest.param(REDIRECT_URI + "/", id="trailing-slash"),
        pytest.param(REDIRECT_URI + "?next=https://attacker.example", id="query"),
        pytest.param(REDIRECT_URI.replace("https", "http"), id="http"),
        pytest.param("https://client.example.attacker.example/callback", id="suffix"),
        pytest.param("https://client.example@attacker.example/callback", id="userinfo"),
    ],
)
def test_an_unregistered_redirect_uri_gets_an_error_page_not_a_redirect(
    owner_client, code_client, pkce, redirect_uri
):
    url = authorize_url(code_client, pkce, redirect_uri=redirect_uri)

    response = owner_client.get(url)

    assert_error_page(response, "invalid_request")
    assert not Grant.objects.exists()


def test_a_consent_form_posted_with_another_redirect_uri_redirects_nowhere(
    owner_client, code_client, pkce
):
    params = authorize_params(code_client, pkce, redirect_uri=ATTACKER_URI)

    response = post_form(owner_client, AUTHORIZE, {**params, "allow": "Authorize"})

    assert_error_page(response, "invalid_request")
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    "client_id",
    [
        pytest.param("no-such-client", id="unknown"),
        pytest.param("", id="empty"),
        pytest.param("x" * 5000, id="huge"),
    ],
)
def test_an_unknown_client_gets_an_error_page(
    owner_client, code_client, pkce, client_id
):
    response = owner_client.get(authorize_url(code_client, pkce, client_id=client_id))

    assert response.status_code == 400
    assert "Location" not in response
    assert response.context["error"].error == "invalid_request"


def test_an_authorization_request_without_pkce_is_refused(owner_client, code_client):
    response = owner_client.get(authorize_url(code_client, None))

    query = redirect_query(response)
    assert query["error"] == "invalid_request"
    assert query["error_description"] == "Code challenge required."
    assert query["state"] == "state-123"
    assert "code" not in query
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    "method",
    [pytest.param("plain", id="plain"), pytest.param(None, id="omitted-means-plain")],
)
def test_plain_pkce_is_refused(owner_client, code_client, pkce, method):
    # RFC 9700 §2.1.1: only S256. The challenge is then the verifier itself.
    params = authorize_params(
        code_client, pkce, code_challenge=pkce.verifier, code_challenge_method=method
    )

    response = post_form(owner_client, AUTHORIZE, {**params, "allow": "Authorize"})

    query = redirect_query(response)
    assert query["error"] == "invalid_request"
    assert "S256" in query["error_description"]
    assert "code" not in query
    assert not Grant.objects.exists()


def test_an_authorization_error_redirect_names_the_issuer(owner_client, code_client):
    # RFC 9207 §2: "In authorization responses to the client, including error
    # responses", iss MUST be present; discovery advertises that it is.
    discovery = Client().get("/.well-known/oauth-authorization-server").json()
    assert discovery["authorization_response_iss_parameter_supported"] is True

    query = redirect_query(owner_client.get(authorize_url(code_client, None)))

    assert query["error"] == "invalid_request"
    assert query.get("iss") == discovery["issuer"]


def test_a_successful_authorization_redirect_names_the_issuer(
    owner_client, code_client, pkce
):
    params = authorize_params(code_client, pkce)
    owner_client.get(AUTHORIZE, params)

    response = post_form(owner_client, AUTHORIZE, {**params, "allow": "Authorize"})

    assert redirect_query(response)["iss"] == "http://testserver"


@pytest.mark.parametrize(
    ("plan_fixture", "scope"),
    [
        pytest.param("starter_plan", "books:admin", id="unknown-scope"),
        pytest.param("read_only_plan", "books:read books:write", id="not-in-plan"),
        pytest.param(None, "books:read", id="no-subscription"),
    ],
)
def test_a_scope_no_subscription_grants_is_invalid_scope_at_authorize(
    request, owner_client, oauth_client_factory, pkce, plan_fixture, scope
):
    plan = request.getfixturevalue(plan_fixture) if plan_fixture else None
    oauth_client = oauth_client_factory(plan=plan)

    response = owner_client.get(authorize_url(oauth_client, pkce, scope=scope))

    query = redirect_query(response)
    assert query["error"] == "invalid_scope"
    assert query["state"] == "state-123"
    assert not Grant.objects.exists()


@pytest.mark.parametrize(
    "response_type",
    ["token", "id_token", "id_token token", "code token", "code id_token"],
)
def test_implicit_and_hybrid_response_types_are_refused(
    owner_client, code_client, pkce, response_type
):
    scope = "openid books:read"
    url = authorize_url(code_client, pkce, response_type=response_type, scope=scope)

    response = owner_client.get(url)

    assert response.status_code == 302
    assert "access_token" not in response["Location"]
    assert "id_token=" not in response["Location"]
    query = redirect_query(response)
    # Response types other than "code" do not exist on this server.
    assert query["error"] in {"unauthorized_client", "unsupported_response_type"}
    assert "code" not in query
    assert not AccessToken.objects.exists()


def test_an_app_not_set_up_as_a_client_cannot_be_authorized(
    owner_client, app_factory, developer_team, pkce
):
    app = app_factory(team=developer_team)  # a client id, but oauth_enabled off
    response = owner_client.get(authorize_url(OAuthClient(app, None), pkce))

    assert response.status_code == 400
    assert response.context["error"].error == "invalid_request"
    assert "Location" not in response


# --- the token endpoint: codes and PKCE -----------------------------------------------


def test_a_code_without_its_verifier_is_refused(owner_client, code_client, pkce):
    code = consent(owner_client, code_client, pkce)

    response = exchange_code(Client(), code_client, code, pkce, code_verifier=None)

    body = oauth_error(response, 400, "invalid_request")
    assert body["error_description"] == "Code verifier required."
    assert not AccessToken.objects.exists()


def test_a_code_with_the_wrong_verifier_is_refused(owner_client, code_client, pkce):
    code = consent(owner_client, code_client, pkce)

    response = exchange_code(
        Client(), code_client, code, pkce, code_verifier=Pkce().verifier
    )

    oauth_error(response, 400, "invalid_grant")
    assert not AccessToken.objects.exists()


def test_a_code_sent_with_another_redirect_uri_is_refused(
    owner_client, code_client, pkce
):
    code = consent(owner_client, code_client, pkce)

    response = exchange_code(
        Client(), code_client, code, pkce, redirect_uri=REDIRECT_URI + "/other"
    )

    oauth_error(response, 400, "invalid_request")
    assert not AccessToken.objects.exists()


def test_a_code_is_refused_to_another_client(
    owner_client, code_client, oauth_client_factory, pkce
):
    other = oauth_client_factory(name="Other", slug="other")
    code = consent(owner_client, code_client, pkce)

    response = exchange_code(Client(), other, code, pkce)

    oauth_error(response, 400, "invalid_grant")
    assert not AccessToken.objects.exists()


def test_a_replayed_code_is_refused_and_revokes_the_tokens_it_gave(
    owner_client, code_client, pkce
):
    api = Client()
    code = consent(owner_client, code_client, pkce)
    first = tokens(exchange_code(api, code_client, code, pkce))
    assert get_books(api, first["access_token"]).status_code == 200

    replay = exchange_code(api, code_client, code, pkce)

    oauth_error(replay, 400, "invalid_grant")
    response = get_books(api, first["access_token"])
    assert_problem(response, 401, "invalid_token")
    assert response["WWW-Authenticate"] == INVALID_TOKEN
    oauth_error(refresh(api, code_client, first["refresh_token"]), 400, "invalid_grant")
    assert not AccessToken.objects.exists()
    assert not RefreshToken.objects.filter(revoked__isnull=True).exists()


def test_a_replayed_code_also_revokes_the_tokens_refreshed_from_it(
    owner_client, code_client, pkce
):
    api = Client()
    code = consent(owner_client, code_client, pkce)
    first = tokens(exchange_code(api, code_client, code, pkce))
    second = tokens(refresh(api, code_client, first["refresh_token"]))
    assert get_books(api, second["access_token"]).status_code == 200

    oauth_error(exchange_code(api, code_client, code, pkce), 400, "invalid_grant")

    assert_problem(get_books(api, second["access_token"]), 401, "invalid_token")
    oauth_error(
        refresh(api, code_client, second["refresh_token"]), 400, "invalid_grant"
    )


def test_a_code_expires_after_sixty_seconds(
    owner_client, code_client, pkce, stopped_clock, time_machine
):
    code = consent(owner_client, code_client, pkce)

    time_machine.move_to(stopped_clock + timedelta(seconds=61), tick=False)
    response = exchange_code(Client(), code_client, code, pkce)

    oauth_error(response, 400, "invalid_grant")
    assert not AccessToken.objects.exists()


def test_a_code_is_accepted_within_its_sixty_seconds(
    owner_client, code_client, pkce, stopped_clock, time_machine
):
    code = consent(owner_client, code_client, pkce)

    time_machine.move_to(stopped_clock + timedelta(seconds=59), tick=False)
    body = tokens(exchange_code(Client(), code_client, code, pkce))

    assert body["scope"] == "books:read"


# --- the token endpoint: clients, grants, bodies --------------------------------------


@pytest.mark.parametrize(
    ("plan_fixture", "scope"),
    [
        pytest.param("starter_plan", "books:admin", id="unknown-scope"),
        pytest.param("read_only_plan", "books:write", id="not-in-plan"),
        pytest.param(None, "books:read", id="no-subscription"),
    ],
)
def test_a_scope_no_subscription_grants_is_invalid_scope_for_client_credentials(
    request, oauth_client_factory, plan_fixture, scope
):
    plan = request.getfixturevalue(plan_fixture) if plan_fixture else None
    machine = oauth_client_factory(grant="client-credentials", plan=plan)

    response = client_credentials(Client(), machine, scope=scope)

    oauth_error(response, 400, "invalid_scope")
    assert not AccessToken.objects.exists()


def app_not_set_up(app: App) -> None:
    app.oauth_enabled = False
    app.save()


def app_suspended(app: App) -> None:
    app.status = AppStatus.SUSPENDED
    app.save()


def team_suspended(app: App) -> None:
    app.team.is_active = False
    app.team.save()


@pytest.mark.parametrize("disable", [app_not_set_up, app_suspended, team_suspended])
def test_a_client_that_is_not_usable_is_invalid_client(machine_client, disable):
    disable(machine_client.app)

    response = client_credentials(Client(), machine_client)

    oauth_error(response, 401, "invalid_client")
    assert not AccessToken.objects.exists()


def test_an_app_never_set_up_as_a_client_is_invalid_client(
    app_factory, developer_team, starter_plan
):
    app = app_factory(team=developer_team)
    assert app.oauth_enabled is False

    response = post_form(
        Client(),
        TOKEN,
        {"grant_type": "client_credentials", "client_id": app.client_id},
    )

    oauth_error(response, 401, "invalid_client")


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param("wrong", id="wrong"),
        pytest.param("", id="empty"),
        pytest.param("é" * 10, id="non-ascii"),
        pytest.param("x" * 10_000, id="huge"),
    ],
)
def test_a_wrong_client_secret_is_invalid_client(machine_client, secret):
    data = {
        "grant_type": "client_credentials",
        "client_id": machine_client.client_id,
        "client_secret": secret,
    }

    oauth_error(post_form(Client(), TOKEN, data), 401, "invalid_client")


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        pytest.param({}, 400, "unsupported_grant_type", id="empty"),
        pytest.param(
            {"grant_type": "magic"}, 400, "unsupported_grant_type", id="bogus"
        ),
        pytest.param(
            {"grant_type": "authorization_code"}, 400, "invalid_request", id="no-code"
        ),
        pytest.param(
            {"grant_type": "refresh_token", "refresh_token": "nope"},
            400,
            "invalid_grant",
            id="unknown-refresh-token",
        ),
        pytest.param(
            {"grant_type": DEVICE_GRANT}, 400, "invalid_request", id="device-no-code"
        ),
    ],
)
def test_garbage_at_the_token_endpoint_is_an_oauth_error(
    code_client, data, status, error
):
    response = post_form(Client(), TOKEN, {**data, **client_auth(code_client)})

    oauth_error(response, status, error)


def test_a_json_token_request_is_an_oauth_error(machine_client):
    # RFC 6749 §4.4.2: the body is application/x-www-form-urlencoded; a JSON
    # body carries no grant_type the server can read.
    payload = {"grant_type": "client_credentials", **client_auth(machine_client)}

    response = Client().post(
        TOKEN, json.dumps(payload), content_type="application/json"
    )

    oauth_error(response, 400, "unsupported_grant_type")
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize("correct_password", [True, False], ids=["right", "wrong"])
def test_the_password_grant_is_refused_without_checking_the_password(
    machine_client, user_factory, password, correct_password
):
    # Discovery does not list "password". Answering differently for a right and
    # a wrong password would let any client test passwords here, past the
    # login form's throttle, email verification and second factor.
    victim = user_factory(email="victim@example.com")
    data = {
        "grant_type": "password",
        "username": victim.email,
        "password": password if correct_password else "not-the-password",
        **client_auth(machine_client),
    }

    response = post_form(Client(), TOKEN, data)

    oauth_error(response, 400, "unsupported_grant_type")
    assert not AccessToken.objects.exists()


# --- the served API -------------------------------------------------------------------


def test_a_token_of_a_deleted_app_is_refused(machine_client):
    api = Client()
    token = tokens(client_credentials(api, machine_client))["access_token"]
    assert get_books(api, token).status_code == 200

    machine_client.app.delete()
    response = get_books(api, token)

    assert_problem(response, 401, "invalid_token")
    assert response["WWW-Authenticate"] == INVALID_TOKEN


@pytest.mark.parametrize(
    ("header", "code"),
    [
        pytest.param("Bearer", "not_authenticated", id="bearer-alone"),
        pytest.param("Bearer ", "not_authenticated", id="bearer-space"),
        pytest.param("Bearer a b", "invalid_token", id="two-words"),
        pytest.param("Bearer " + "x" * 600, "invalid_token", id="too-long"),
        pytest.param("Bearer tökén", "invalid_token", id="non-ascii"),
        pytest.param("Bearer abc\x00def", "invalid_token", id="nul"),
        pytest.param("Bearer abc\tdef", "invalid_token", id="tab"),
        pytest.param("Basic abc", "not_authenticated", id="basic"),
        pytest.param("Basic dXNlcjpwYXNz", "not_authenticated", id="basic-valid"),
        pytest.param("Token abc", "not_authenticated", id="other-scheme"),
        pytest.param("", "not_authenticated", id="empty"),
    ],
)
def test_a_malformed_authorization_header_is_401_without_any_query(
    api_client, machine_client, header, code, django_assert_num_queries
):
    with django_assert_num_queries(0):
        response = api_client.get("/api/books/v1/books/", HTTP_AUTHORIZATION=header)

    assert_problem(response, 401, code)
    assert response["WWW-Authenticate"].startswith('Bearer realm="api"')


def test_an_unknown_well_formed_token_is_401(api_client, catalog):
    response = get_books(api_client, "A" * 30)

    assert_problem(response, 401, "invalid_token")
    assert response["WWW-Authenticate"] == INVALID_TOKEN
