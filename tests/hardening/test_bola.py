"""BOLA (OWASP API1:2023): no object of team B is reachable by team A.

The matrix is the URL configuration itself: every route that takes a
team-owned object's identifier (``team_slug``, ``app_id``, ``lookup_id``,
``endpoint_id`` ...) in the portal, the management API and the OAuth pages is
called with team B's identifiers by team A's owner (a portal session) and,
for the management API, by team A's OAuth token with ``manage:read
manage:write`` and by team A's API key, with every method. Each route is also
called with A's own parents and B's child (A's team and B's app, A's app and
B's key, ...).

What is asserted, for each route and method:
- B's own owner, making the same request, is not answered 404 (so the URL
  really names B's object, and the method's answer is the route's own);
- A gets 404 (405 where the route refuses the method outright, for B too; 401
  for the API key, which is no management credential) and B's page never
  shows in the answer;
- every stored row of team B (and of team A) is the same afterwards.

A route that takes any other parameter must be listed in ``NOT_TEAM_OWNED``
with the reason, or ``test_every_parameterised_route_is_in_the_matrix``
fails. The management API's own finer checks (problem+json bodies, a foreign
object indistinguishable from a missing one, lists, creating in B) are in
tests/apis/manage/test_access.py; team pages' in
tests/portal/web/test_isolation.py.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from django.db import transaction
from django.test import Client

from portal.audit.models import AuditEvent
from tests.hardening.routes import (
    METHODS,
    STAFF_NAMESPACES,
    TEAM_OWNED_PARAMS,
    Route,
    make_side,
    manage_body,
    parameterised_routes,
    team_rows,
)
from tests.portal.oauth.flows import bearer, client_credentials, tokens

# Parameterised routes that do not name a team-owned object, and why.
NOT_TEAM_OWNED = {
    "portal:verify-email": "the signed, expiring token is the credential; "
    "tests/portal/web/test_auth_flows.py",
    "portal:password-reset-confirm": "Django's signed reset token for one "
    "user; tests/portal/web/test_auth_flows.py",
    "portal:api-detail": "the public API catalog, the same for everyone",
    "docs:problem": "public documentation of an error code",
    "docs:reference": "public API reference of a documented API",
    "docs:redoc": "public API reference of a documented API",
    "books:book-detail": "Books are not team-owned: one shared catalog that "
    "any app subscribed to the API reads (books:read) or writes (books:write); "
    "tests/apis/books",
    "books:author-detail": "Authors are not team-owned: see books:book-detail",
    "oauth2_provider:device-confirm": "RFC 8628 device flow: the user code "
    "shown on the device is the secret, and whoever enters it approves the "
    "device for themselves; tests/portal/oauth/test_device_and_cli.py",
    "oauth2_provider:device-grant-status": "RFC 8628 device flow: see "
    "oauth2_provider:device-confirm",
}
# The admin and /staff/ take object ids too, but nothing there is a
# developer's: who may open them is the BFLA matrix (test_bfla.py).
STAFF_ONLY = STAFF_NAMESPACES


def team_routes() -> list[Route]:
    return [
        route
        for route in parameterised_routes()
        if route.namespace not in STAFF_ONLY and route.name not in NOT_TEAM_OWNED
    ]


def matrix() -> list:
    """(route, variant) pairs: variant k takes the first k parameters from A
    (B's object under A's own team, app or endpoint) and the rest from B."""
    cases = []
    for route in team_routes():
        for k in range(len(route.params)):
            label = (
                "B" * len(route.params)
                if k == 0
                else "A" * k + "B" * (len(route.params) - k)
            )
            cases.append(pytest.param(route, k, id=f"{route.label}[{label}]"))
    return cases


MATRIX = matrix()


def test_every_parameterised_route_is_in_the_matrix():
    """A new route with an object id is either in the matrix, or listed in
    NOT_TEAM_OWNED with the reason, or on the staff side."""
    names = {route.name for route in parameterised_routes()}
    unnamed = [
        r.route
        for r in parameterised_routes()
        if not r.name and r.namespace not in STAFF_ONLY
    ]
    unknown = {
        route.label: sorted(set(route.params) - TEAM_OWNED_PARAMS)
        for route in team_routes()
        if not set(route.params) <= TEAM_OWNED_PARAMS
    }

    assert unnamed == [], "name these routes so the matrix can reverse them"
    assert unknown == {}, (
        "teach tests/hardening/routes.py's Side.param these parameters, or "
        "list the routes in NOT_TEAM_OWNED with the reason"
    )
    assert set(NOT_TEAM_OWNED) <= names, "stale NOT_TEAM_OWNED entries"
    # The portal's new pages (webhooks, audit) and the OAuth client pages are
    # among the routes covered.
    covered = {route.name for route in team_routes()}
    for name in (
        "portal:webhook-redeliver",
        "portal:team-audit",
        "portal:oauth-client",
        "portal:authorized-app-revoke",
        "manage:subscription-cancel",
    ):
        assert name in covered
    assert len(MATRIX) >= 60


# --- the world: team A (the caller) and team B ----------------------------------


@pytest.fixture(autouse=True)
def _fast_client_secret_hashing(settings):
    # OAuth client secrets are hashed with the first password hasher (slow
    # Argon2); this matrix sets up clients and tokens, not hashes.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(developer, user_factory, starter_plan, read_only_plan, oauth_client_factory):
    a = make_side("alpha", owner=developer, plan=starter_plan)
    b = make_side(
        "bravo",
        owner=user_factory(password=None, email="owner-b@example.com"),
        plan=starter_plan,
    )
    manager = oauth_client_factory(
        grant="client-credentials", plan=None, name="Manager", slug="manager"
    )
    manager.app.team = a.team
    manager.app.save(update_fields=["team"])
    token = tokens(
        client_credentials(Client(), manager, scope="manage:read manage:write")
    )["access_token"]
    a_session, b_session = Client(), Client()
    a_session.force_login(a.owner)
    b_session.force_login(b.owner)
    return {
        "a": a,
        "b": b,
        "plan": read_only_plan,
        "b_session": b_session,
        "callers": {
            "session": (a_session, {}),
            "token": (Client(), bearer(token)),
            "api-key": (Client(), {"HTTP_X_API_KEY": a.full_key}),
        },
    }


def callers_for(route: Route) -> list[str]:
    # The portal's pages know only the session; the management API also
    # takes a token (and must refuse an API key).
    return (
        ["session", "token", "api-key"] if route.namespace == "manage" else ["session"]
    )


def body_for(route: Route, method: str, world) -> dict:
    if route.namespace == "manage":
        return manage_body(route.name, method, world["plan"])
    # One hostile form for every portal action: take over, promote, redirect.
    a = world["a"]
    return {
        "email": a.owner.email,
        "role": "owner",
        "name": "Taken over",
        "description": "mine now",
        "url": "https://93.184.216.34/evil",
        "event_types": "key.created",
        "is_active": "on",
        "redirect_uris": "https://evil.example/cb",
        "grant": "client-credentials",
        "client_type": "confidential",
        "plan": world["plan"].pk,
        "reason": "mine now",
        "scopes": "books:read",
        "grace": "0",
    }


def send(client: Client, headers: dict, route: Route, method: str, url: str, body):
    if method == "get":
        return client.get(url, **headers)
    if route.namespace == "manage":
        return client.generic(
            method.upper(),
            url,
            json.dumps(body),
            content_type="application/json",
            **headers,
        )
    if method == "post":
        return client.post(url, body, **headers)
    return client.generic(
        method.upper(),
        url,
        urlencode(body, doseq=True),
        content_type="application/x-www-form-urlencoded",
        **headers,
    )


class _Undo(Exception):
    pass


def as_owner_of_b(world, route: Route, method: str, url: str):
    """B's owner's answer to the same request, with its effects undone."""
    client = world["b_session"]
    try:
        with transaction.atomic():
            response = send(
                client, {}, route, method, url, body_for(route, method, world)
            )
            raise _Undo
    except _Undo:
        pass
    return response


@pytest.mark.parametrize(("route", "k"), MATRIX)
def test_team_a_cannot_reach_team_bs_object(world, route, k):
    a, b = world["a"], world["b"]
    b_url = route.url(**{name: b.param(name) for name in route.params})
    url = route.url(
        **{name: (a if i < k else b).param(name) for i, name in enumerate(route.params)}
    )
    refused_outright = set()
    for method in METHODS:
        owner = as_owner_of_b(world, route, method, b_url)
        assert owner.status_code != 404, f"{method.upper()} {b_url}: B's own owner"
        if owner.status_code == 405:
            refused_outright.add(method)
        elif route.namespace == "manage":
            assert owner.status_code < 300, (method, owner.content)
    assert refused_outright != set(METHODS), "the route serves no method at all"
    before_b, before_a = team_rows(b.team), team_rows(a.team)
    events = AuditEvent.objects.count()

    answers = {}
    for caller in callers_for(route):
        client, headers = world["callers"][caller]
        for method in METHODS:
            response = send(
                client, headers, route, method, url, body_for(route, method, world)
            )
            answers[(caller, method)] = response.status_code
            assert b.app.name not in response.content.decode()
            assert b.team.name not in response.content.decode()

    expected = {}
    for caller, method in answers:
        if caller == "api-key":
            expected[(caller, method)] = 401
        elif method in refused_outright:
            expected[(caller, method)] = answers[(caller, method)]
            assert answers[(caller, method)] in (404, 405)
        else:
            expected[(caller, method)] = 404
    assert answers == expected
    assert team_rows(b.team) == before_b
    assert team_rows(a.team) == before_a
    assert AuditEvent.objects.count() == events
