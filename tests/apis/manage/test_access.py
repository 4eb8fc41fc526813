"""Who may call which management endpoint, on whose objects.

- BOLA: team A's session or token on every object route and method of team
  B's objects is a problem+json 404, exactly like an object that does not
  exist, and changes nothing; lists never show B's objects.
- Scopes: a ``manage:read`` token is refused every write with 403
  ``insufficient_scope``; a ``manage:write``-only token every read.
- CSRF: a session write without the CSRF token is refused.
- Anonymous callers get 401; unknown fields and parameters are a 400.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from portal.audit.models import AuditEvent
from portal.oauth.models import App
from tests.apis.assertions import PROBLEM_JSON, assert_problem
from tests.apis.manage.conftest import BASE, Caller, team_state, token_for
from tests.portal.oauth.flows import bearer

# A body value replaced by the id of the Books "read-only" plan.
PLAN = "<read-only plan>"
# Every object route and method, as (method, path, body). ``{app}``, ``{team}``,
# ``{key}`` and ``{sub}`` are filled with the target's ids; the bodies are valid,
# so only access decides the answer.
APP_ROUTES = [
    ("get", "apps/{app}/", None),
    ("patch", "apps/{app}/", {"name": "Taken over"}),
    ("delete", "apps/{app}/", None),
    ("get", "apps/{app}/usage/", None),
    ("get", "apps/{app}/keys/", None),
    ("post", "apps/{app}/keys/", {"name": "Backdoor"}),
    ("get", "apps/{app}/keys/{key}/", None),
    ("patch", "apps/{app}/keys/{key}/", {"name": "x", "allowed_ips": []}),
    ("post", "apps/{app}/keys/{key}/revoke/", {"reason": "mine now"}),
    ("post", "apps/{app}/keys/{key}/rotate/", {"grace_seconds": 0}),
    ("get", "apps/{app}/oauth-client/", None),
    ("put", "apps/{app}/oauth-client/", {"grant": "client-credentials"}),
    ("patch", "apps/{app}/oauth-client/", {"redirect_uris": ["https://evil.example/"]}),
    ("post", "apps/{app}/oauth-client/rotate-secret/", None),
    ("get", "apps/{app}/subscriptions/", None),
    ("post", "apps/{app}/subscriptions/", {"plan": PLAN}),
    ("get", "apps/{app}/subscriptions/{sub}/", None),
    ("patch", "apps/{app}/subscriptions/{sub}/", {"plan": PLAN}),
    ("post", "apps/{app}/subscriptions/{sub}/cancel/", None),
]
TEAM_ROUTES = [("get", "teams/{team}/", None)]
OBJECT_ROUTES = TEAM_ROUTES + APP_ROUTES
WRITE_ROUTES = [r for r in APP_ROUTES if r[0] != "get"] + [
    ("post", "apps/", {"name": "New app"})
]
READ_ROUTES = [r for r in OBJECT_ROUTES if r[0] == "get"] + [
    ("get", "teams/", None),
    ("get", "apps/", None),
]


def _ids(route) -> str:
    return f"{route[0].upper()} {route[1]}"


def fill(route, *, team, app, key, sub, plan) -> tuple[str, str, dict | None]:
    method, path, body = route
    path = path.format(team=team.pk, app=app.pk, key=key.lookup_id, sub=sub.pk)
    if body is not None:
        body = {name: plan.pk if v == PLAN else v for name, v in body.items()}
    return method, BASE + path, body


def call(caller: Caller, method: str, url: str, body):
    if method == "get":
        return caller.get(url)
    return caller.send(method, url, body)


@pytest.fixture
def mine(books_app):
    """The caller's own app with a key and a subscription (the Books app)."""
    return books_app


# --- BOLA -----------------------------------------------------------------------


@pytest.mark.parametrize("route", OBJECT_ROUTES, ids=_ids)
def test_another_teams_object_is_not_found_and_unchanged(
    caller, other, read_only_plan, route
):
    method, url, body = fill(
        route,
        team=other.team,
        app=other.app,
        key=other.key,
        sub=other.subscription,
        plan=read_only_plan,
    )
    before, events = team_state(other.team), AuditEvent.objects.count()

    response = call(caller, method, url, body)

    if method == "delete":  # apps cannot be deleted: refused before any lookup
        assert_problem(response, 405, "method_not_allowed")
    else:
        body = assert_problem(response, 404, "not_found")
        assert other.app.name not in response.content.decode()
        assert body["detail"] == "Not found."
    assert team_state(other.team) == before
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("route", OBJECT_ROUTES, ids=_ids)
def test_an_object_that_does_not_exist_answers_the_same(
    caller, other, read_only_plan, route
):
    """The 404 for team B's object is indistinguishable from a missing one."""
    missing = SimpleNamespace(pk=2**62, lookup_id="0" * 12)
    foreign = call(
        caller,
        *fill(
            route,
            team=other.team,
            app=other.app,
            key=other.key,
            sub=other.subscription,
            plan=read_only_plan,
        ),
    )
    gone = call(
        caller,
        *fill(
            route,
            team=missing,
            app=missing,
            key=missing,
            sub=missing,
            plan=read_only_plan,
        ),
    )

    assert gone.status_code == foreign.status_code
    assert gone.json() == foreign.json()


@pytest.mark.parametrize(
    "route", [r for r in APP_ROUTES if "{key}" in r[1] or "{sub}" in r[1]], ids=_ids
)
def test_team_bs_key_or_subscription_under_my_own_app_is_not_found(
    caller, mine, other, read_only_plan, route
):
    method, url, body = fill(
        route,
        team=caller.team,
        app=mine.app,
        key=other.key,
        sub=other.subscription,
        plan=read_only_plan,
    )
    before, mine_before = team_state(other.team), team_state(caller.team)

    response = call(caller, method, url, body)

    assert_problem(response, 404, "not_found")
    assert team_state(other.team) == before
    assert team_state(caller.team) == mine_before


def test_lists_never_show_team_bs_objects(caller, mine, other):
    teams = caller.get(BASE + "teams/").json()
    apps = caller.get(BASE + "apps/").json()
    filtered = caller.get(BASE + "apps/", {"team": other.team.pk}).json()

    assert [t["id"] for t in teams["results"]] == [caller.team.pk]
    assert other.app.pk not in [a["id"] for a in apps["results"]]
    assert {a["team"]["id"] for a in apps["results"]} == {caller.team.pk}
    assert apps["count"] == App.objects.filter(team=caller.team).count()
    assert filtered == {"count": 0, "next": None, "previous": None, "results": []}
    keys = caller.get(f"{BASE}apps/{mine.app.pk}/keys/").json()["results"]
    assert other.key.lookup_id not in [k["lookup_id"] for k in keys]
    subs = caller.get(f"{BASE}apps/{mine.app.pk}/subscriptions/").json()["results"]
    assert other.subscription.pk not in [s["id"] for s in subs]


def test_an_app_cannot_be_created_in_team_b(caller, other):
    before, events = team_state(other.team), AuditEvent.objects.count()

    response = caller.post(BASE + "apps/", {"team": other.team.pk, "name": "Mole"})
    missing = caller.post(BASE + "apps/", {"team": 2**62, "name": "Mole"})

    body = assert_problem(response, 400, "invalid")
    assert body["errors"] == {"team": ["No such team among yours."]}
    assert missing.json() == body
    assert team_state(other.team) == before
    assert AuditEvent.objects.count() == events


def test_a_token_acts_for_its_own_team_only(
    manager_oauth, developer, developer_team, membership_factory, other
):
    """The developer also belongs to team B, but their app's token does not
    act for it: only the session does."""
    membership_factory(user=developer, team=other.team)
    token = Caller(
        "token", Client(), developer_team, "", bearer(token_for(manager_oauth))
    )

    response = token.get(f"{BASE}apps/{other.app.pk}/")
    teams = token.get(BASE + "teams/").json()["results"]

    assert_problem(response, 404, "not_found")
    assert [t["id"] for t in teams] == [developer_team.pk]


# --- scopes -------------------------------------------------------------------


@pytest.mark.parametrize("route", WRITE_ROUTES, ids=_ids)
def test_a_manage_read_token_cannot_write(
    read_only_caller, mine, read_only_plan, route
):
    method, url, body = fill(
        route,
        team=read_only_caller.team,
        app=mine.app,
        key=mine.key,
        sub=mine.subscription,
        plan=read_only_plan,
    )
    before, events = team_state(read_only_caller.team), AuditEvent.objects.count()

    response = call(read_only_caller, method, url, body)

    problem = assert_problem(response, 403, "insufficient_scope")
    assert problem["missing_scopes"] == ["manage:write"]
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
    assert 'scope="manage:write"' in response["WWW-Authenticate"]
    assert team_state(read_only_caller.team) == before
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("route", READ_ROUTES, ids=_ids)
def test_a_manage_write_only_token_cannot_read(
    manager_oauth, mine, read_only_plan, route
):
    caller = Caller(
        "token",
        Client(),
        mine.app.team,
        "",
        bearer(token_for(manager_oauth, "manage:write")),
    )
    method, url, _ = fill(
        route,
        team=caller.team,
        app=mine.app,
        key=mine.key,
        sub=mine.subscription,
        plan=read_only_plan,
    )

    response = caller.get(url)

    body = assert_problem(response, 403, "insufficient_scope")
    assert body["missing_scopes"] == ["manage:read"]


@pytest.mark.parametrize("route", READ_ROUTES[:3], ids=_ids)
def test_a_books_token_cannot_manage(oauth_client_factory, mine, read_only_plan, route):
    oauth = oauth_client_factory(grant="client-credentials")
    caller = Caller(
        "token", Client(), mine.app.team, "", bearer(token_for(oauth, "books:read"))
    )
    _, url, _ = fill(
        route,
        team=caller.team,
        app=mine.app,
        key=mine.key,
        sub=mine.subscription,
        plan=read_only_plan,
    )

    assert_problem(caller.get(url), 403, "insufficient_scope")


def test_an_api_key_is_not_a_management_credential(mine):
    response = Client().get(BASE + "apps/", **mine.headers)

    assert_problem(response, 401, "not_authenticated")
    response = Client().get(
        BASE + "apps/", HTTP_AUTHORIZATION=f"Bearer {mine.full_key}"
    )
    assert_problem(response, 401, "not_authenticated")


# --- CSRF and anonymous callers -----------------------------------------------


@pytest.mark.parametrize("route", WRITE_ROUTES, ids=_ids)
def test_a_session_write_without_the_csrf_token_is_refused(
    session_caller, mine, read_only_plan, route
):
    method, url, body = fill(
        route,
        team=session_caller.team,
        app=mine.app,
        key=mine.key,
        sub=mine.subscription,
        plan=read_only_plan,
    )
    before, events = team_state(session_caller.team), AuditEvent.objects.count()
    no_csrf = Caller("session", session_caller.client, session_caller.team, "")

    response = call(no_csrf, method, url, body)

    problem = assert_problem(response, 403, "forbidden")
    assert "CSRF" in problem["detail"]
    assert team_state(session_caller.team) == before
    assert AuditEvent.objects.count() == events


def test_a_session_write_with_a_wrong_csrf_token_is_refused(session_caller, mine):
    wrong = Caller(
        "session",
        session_caller.client,
        session_caller.team,
        "",
        {"HTTP_X_CSRFTOKEN": "x" * 32},
    )

    response = wrong.patch(f"{BASE}apps/{mine.app.pk}/", {"name": "Renamed"})

    assert_problem(response, 403, "forbidden")
    mine.app.refresh_from_db()
    assert mine.app.name == "Reader"


@pytest.mark.parametrize("route", READ_ROUTES + WRITE_ROUTES, ids=_ids)
def test_anonymous_callers_get_401(mine, read_only_plan, route):
    method, url, body = fill(
        route,
        team=mine.app.team,
        app=mine.app,
        key=mine.key,
        sub=mine.subscription,
        plan=read_only_plan,
    )
    before = team_state(mine.app.team)

    response = call(Caller("anonymous", Client(), None, ""), method, url, body)

    assert_problem(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert team_state(mine.app.team) == before


def test_a_suspended_users_session_is_refused(session_caller, developer, mine):
    developer.is_active = False
    developer.save(update_fields=["is_active"])

    response = session_caller.get(BASE + "apps/")

    assert response.status_code in (401, 403)
    assert response["Content-Type"] == PROBLEM_JSON


# --- strict input -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "apps/", {"name": "X", "status": "active"}),
        ("patch", "apps/{app}/", {"team": 1, "status": "suspended", "id": 9}),
        ("patch", "apps/{app}/", {"slug": "renamed"}),
        ("post", "apps/{app}/keys/", {"name": "k", "secret_hash": "0" * 64}),
        ("patch", "apps/{app}/keys/{key}/", {"revoked_at": None}),
        ("patch", "apps/{app}/keys/{key}/", {"name": "k", "app": 1}),
        ("post", "apps/{app}/keys/{key}/revoke/", {"reason": "x", "when": "now"}),
        ("post", "apps/{app}/keys/{key}/rotate/", {"grace": 0}),
        ("put", "apps/{app}/oauth-client/", {"grant": "device", "secret": "s"}),
        ("patch", "apps/{app}/oauth-client/", {"grant": "device"}),
        ("post", "apps/{app}/oauth-client/rotate-secret/", {"client_secret": "s"}),
        ("post", "apps/{app}/subscriptions/", {"plan": 1, "status": "active"}),
        ("patch", "apps/{app}/subscriptions/{sub}/", {"status": "active"}),
        ("post", "apps/{app}/subscriptions/{sub}/cancel/", {"force": True}),
    ],
)
def test_unknown_fields_are_refused_and_change_nothing(
    caller, mine, method, path, body
):
    url = BASE + path.format(
        app=mine.app.pk, key=mine.key.lookup_id, sub=mine.subscription.pk
    )
    before, events = team_state(caller.team), AuditEvent.objects.count()

    response = caller.send(method, url, body)

    problem = assert_problem(response, 400, "invalid")
    unknown = {
        name
        for name, errors in problem["errors"].items()
        if errors == ["Unknown field."]
    }
    assert unknown
    assert unknown <= set(body)
    assert team_state(caller.team) == before
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("teams/", {"role": "owner"}),
        ("apps/", {"team_id": "1"}),
        ("apps/", {"team": "abc"}),
        ("apps/{app}/keys/", {"include_hash": "1"}),
        ("apps/{app}/subscriptions/", {"status": "all"}),
        ("apps/", {"page": "abc"}),
        ("apps/{app}/keys/", {"page_size": "0"}),
    ],
)
def test_unknown_or_bad_query_parameters_are_a_400(caller, mine, path, params):
    response = caller.get(BASE + path.format(app=mine.app.pk), params)

    problem = assert_problem(response, 400, "invalid_query")
    assert set(problem["errors"]) == set(params)


@pytest.mark.parametrize(
    "body",
    ["[1, 2]", '"a string"', "{", "null", '{"name": "x\\u0000y"}', "[" * 5000],
)
def test_malformed_bodies_are_problems_not_500s(caller, mine, body):
    before = team_state(caller.team)

    response = caller.client.post(
        f"{BASE}apps/{mine.app.pk}/keys/",
        body,
        content_type="application/json",
        **caller.headers,
    )

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM_JSON
    assert team_state(caller.team) == before


def test_a_huge_id_is_a_404_not_a_500(caller):
    assert_problem(caller.get(f"{BASE}apps/{10**30}/"), 404, "not_found")
    assert_problem(caller.get(f"{BASE}teams/{10**30}/"), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path", "content_type"),
    [
        ("patch", "apps/{app}/", "application/x-www-form-urlencoded"),
        ("post", "apps/{app}/keys/", "text/plain"),
    ],
)
def test_bodies_that_are_not_json_are_refused(caller, mine, method, path, content_type):
    before = team_state(caller.team)

    response = getattr(caller.client, method)(
        BASE + path.format(app=mine.app.pk),
        "name=Renamed",
        content_type=content_type,
        **caller.headers,
    )

    assert_problem(response, 415, "unsupported_media_type")
    assert team_state(caller.team) == before


# --- query counts -------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "teams/",
        "teams/{team}/",
        "apps/",
        "apps/{app}/keys/",
        "apps/{app}/subscriptions/",
    ],
)
def test_lists_cost_the_same_however_long(
    session_caller, mine, issue_key, app_factory, user_factory, membership_factory, path
):
    """No query per row. (Signed in: a new token's cache entry is not shared
    for its first seconds, which would blur the count.)"""
    caller = session_caller
    url = BASE + path.format(team=caller.team.pk, app=mine.app.pk)
    with CaptureQueriesContext(connection) as short:
        assert caller.get(url).status_code == 200
    for n in range(5):
        issue_key(mine.app, name=f"k{n}")
        app_factory(team=caller.team)
        membership_factory(user=user_factory(password=None), team=caller.team)

    with CaptureQueriesContext(connection) as long:
        assert caller.get(url).status_code == 200

    assert len(long) == len(short)
