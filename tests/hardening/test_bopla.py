"""BOPLA (OWASP API3:2023): what a caller reads and writes of an object is an
allow-list.

- Every management API route and method (read from the URL configuration;
  a new one fails ``test_every_management_call_has_an_allow_list`` until its
  entry is written) answers with exactly the JSON keys listed here, nested
  objects included. No stored hash, encrypted secret or earlier key is in
  any response; a new key, client secret or signing secret is only in the
  one response that makes it.
- Every management write refuses each privileged or unknown field (``id``,
  ``team``, ``status``, ``secret_hash``, ``client_secret``, ``rate_override``
  ...) with a 400 naming it, and nothing is stored. Values the caller may not
  choose are refused too: scopes beyond the app's plans, a private plan, a
  plan of another API.
- The portal's forms ignore fields they do not show: ``is_staff`` on
  sign-up, ``team`` on app, key, webhook and member forms.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from portal.accounts.models import Membership, Team, User
from portal.audit.models import AuditEvent
from portal.keys.models import ApiKey
from portal.oauth.models import App
from portal.webhooks.models import Endpoint
from tests.hardening.routes import (
    METHODS,
    Route,
    all_routes,
    make_side,
    manage_body,
    team_rows,
)

PAGE = "page"  # a paginated list of the shape that follows

TEAM_REF = {"id": None, "slug": None, "name": None}
TEAM = {
    "id": None,
    "slug": None,
    "name": None,
    "is_personal": None,
    "is_active": None,
    "created_at": None,
    "role": None,
}
MEMBER = {"id": None, "email": None, "name": None, "role": None, "joined_at": None}
TEAM_DETAIL = {**TEAM, "members": [MEMBER]}
APP = {
    "id": None,
    "slug": None,
    "name": None,
    "description": None,
    "status": None,
    "team": TEAM_REF,
    "oauth_enabled": None,
    "created_at": None,
    "updated_at": None,
}
KEY = {
    "lookup_id": None,
    "prefix": None,
    "name": None,
    "status": None,
    "scopes": None,
    "expires_at": None,
    "allowed_ips": None,
    "rate_override": None,
    "created_at": None,
    "last_used_at": None,
    "revoked_at": None,
    "revoked_reason": None,
    "replaces": None,
}
KEY_ISSUED = {**KEY, "key": None}
OAUTH = {
    "app_id": None,
    "client_id": None,
    "configured": None,
    "grant": None,
    "client_type": None,
    "redirect_uris": None,
}
OAUTH_SECRET = {**OAUTH, "client_secret": None}
SUBSCRIPTION = {
    "id": None,
    "status": None,
    "api": {"id": None, "slug": None, "name": None, "version": None},
    "plan": {"id": None, "slug": None, "name": None, "requires_approval": None},
    "requested_plan": {
        "id": None,
        "slug": None,
        "name": None,
        "requires_approval": None,
    },
    "reason": None,
    "created_at": None,
    "decided_at": None,
}
ENDPOINT = {
    "id": None,
    "url": None,
    "description": None,
    "event_types": None,
    "is_active": None,
    "disabled_reason": None,
    "failing_since": None,
    "created_at": None,
}
ENDPOINT_SECRET = {**ENDPOINT, "secret": None}
DELIVERY = {
    "id": None,
    "event_id": None,
    "event_type": None,
    "status": None,
    "attempts": None,
    "next_attempt_at": None,
    "created_at": None,
    "finished_at": None,
    "attempt_log": [
        {
            "number": None,
            "at": None,
            "status_code": None,
            "latency_ms": None,
            "error": None,
            "response_excerpt": None,
        }
    ],
}
QUEUED = {"event_id": None, "delivery_id": None}
USAGE = {
    "app": {"id": None, "slug": None},
    "range": None,
    "granularity": None,
    "start": None,
    "end": None,
    "series": None,
    "totals": None,
    "top_endpoints": None,
}
NO_BODY = "no body"

# (route name, method) -> (status, the response's shape; a key's value is
# None for a scalar or a list of scalars, a dict or [dict] for nested objects).
RESPONSES = {
    ("manage:team-list", "get"): (200, (PAGE, TEAM)),
    ("manage:team-detail", "get"): (200, TEAM_DETAIL),
    ("manage:app-list", "get"): (200, (PAGE, APP)),
    ("manage:app-list", "post"): (201, APP),
    ("manage:app-detail", "get"): (200, APP),
    ("manage:app-detail", "patch"): (200, APP),
    ("manage:app-usage", "get"): (200, USAGE),
    ("manage:key-list", "get"): (200, (PAGE, KEY)),
    ("manage:key-list", "post"): (201, KEY_ISSUED),
    ("manage:key-detail", "get"): (200, KEY),
    ("manage:key-detail", "patch"): (200, KEY),
    ("manage:key-revoke", "post"): (200, KEY),
    ("manage:key-rotate", "post"): (201, KEY_ISSUED),
    ("manage:oauth-client", "get"): (200, OAUTH),
    ("manage:oauth-client", "put"): (200, OAUTH_SECRET),
    ("manage:oauth-client", "patch"): (200, OAUTH),
    ("manage:oauth-client-secret-rotate", "post"): (200, OAUTH_SECRET),
    ("manage:subscription-list", "get"): (200, (PAGE, SUBSCRIPTION)),
    ("manage:subscription-list", "post"): (200, SUBSCRIPTION),
    ("manage:subscription-detail", "get"): (200, SUBSCRIPTION),
    ("manage:subscription-detail", "patch"): (200, SUBSCRIPTION),
    ("manage:subscription-cancel", "post"): (200, SUBSCRIPTION),
    ("manage:webhook-list", "get"): (200, (PAGE, ENDPOINT)),
    ("manage:webhook-list", "post"): (201, ENDPOINT_SECRET),
    ("manage:webhook-detail", "get"): (200, ENDPOINT),
    ("manage:webhook-detail", "patch"): (200, ENDPOINT),
    ("manage:webhook-detail", "delete"): (204, NO_BODY),
    ("manage:webhook-rotate-secret", "post"): (200, ENDPOINT_SECRET),
    ("manage:webhook-test", "post"): (202, QUEUED),
    ("manage:webhook-delivery-list", "get"): (200, (PAGE, DELIVERY)),
    ("manage:webhook-redeliver", "post"): (202, QUEUED),
}
# The one-time secrets, and the responses allowed to carry them.
ONE_TIME = {"key": KEY_ISSUED, "client_secret": OAUTH_SECRET, "secret": ENDPOINT_SECRET}

# The fields each write accepts; every other field of PRIVILEGED is refused.
ACCEPTED = {
    ("manage:app-list", "post"): {"team", "name", "slug", "description"},
    ("manage:app-detail", "patch"): {"name", "description"},
    ("manage:key-list", "post"): {"name", "scopes", "expires_at", "allowed_ips"},
    ("manage:key-detail", "patch"): {"name", "scopes", "expires_at", "allowed_ips"},
    ("manage:key-revoke", "post"): {"reason"},
    ("manage:key-rotate", "post"): {"grace_seconds"},
    ("manage:oauth-client", "put"): {"grant", "client_type", "redirect_uris"},
    ("manage:oauth-client", "patch"): {"redirect_uris"},
    ("manage:oauth-client-secret-rotate", "post"): set(),
    ("manage:subscription-list", "post"): {"plan"},
    ("manage:subscription-detail", "patch"): {"plan"},
    ("manage:subscription-cancel", "post"): set(),
    ("manage:webhook-list", "post"): {"url", "description", "event_types"},
    ("manage:webhook-detail", "patch"): {
        "url",
        "description",
        "event_types",
        "is_active",
    },
    ("manage:webhook-rotate-secret", "post"): set(),
    ("manage:webhook-test", "post"): set(),
    ("manage:webhook-redeliver", "post"): set(),
}
# Fields a caller must never set: identities, ownership, state only staff or
# the server change, secrets and their hashes.
PRIVILEGED = {
    "id": 1,
    "pk": 1,
    "team": 1,
    "team_id": 1,
    "app": 1,
    "app_id": 1,
    "user": 1,
    "owner": 1,
    "role": "owner",
    "status": "active",
    "is_active": True,
    "is_staff": True,
    "oauth_enabled": True,
    "slug": "renamed",
    "lookup_id": "0" * 12,
    "prefix": "gk_live_x",
    "key": "gk_live_x",
    "secret": "whsec_x",
    "secret_hash": "0" * 64,
    "secret_encrypted": "x",
    "client_id": "chosen",
    "client_secret": "chosen",
    "created_by": 1,
    "created_at": "2020-01-01T00:00:00Z",
    "revoked_at": None,
    "rate_override": ["1000/s"],
    "requested_plan": 1,
    "plan": 1,
    "scopes": ["books:read"],
    "disabled_reason": "",
    "attempts": 0,
}


def manage_calls() -> list[tuple[Route, str]]:
    return [
        (route, method)
        for route in all_routes()
        if route.namespace == "manage"
        for method in METHODS
        if hasattr(route.view_class, method)
    ]


def _ids(calls) -> list[str]:
    return [f"{method.upper()} {route.name}" for route, method in calls]


def test_every_management_call_has_an_allow_list():
    calls = {(route.name, method) for route, method in manage_calls()}
    # A DELETE's body is not read at all (HTTP gives it no meaning).
    writes = {call for call in calls if call[1] not in ("get", "delete")}

    assert calls == set(RESPONSES)
    assert writes == set(ACCEPTED)


# --- the world ---------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fast_and_unthrottled(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Each test below makes dozens of calls in a blink; the management API's
    # limit is not what is tested here.
    settings.MANAGE_API_RATE = ["10000/s"]


@pytest.fixture
def side(developer, starter_plan):
    return make_side("alpha", owner=developer, plan=starter_plan)


@pytest.fixture
def owner(side):
    client = Client()
    client.force_login(side.owner)
    return client


def url_of(route: Route, side) -> str:
    return route.url(**{name: side.param(name) for name in route.params})


def call(client: Client, method: str, url: str, body=None):
    if method == "get":
        return client.get(url)
    return client.generic(
        method.upper(),
        url,
        json.dumps(body if body is not None else {}),
        content_type="application/json",
    )


def assert_shape(data, shape, where: str = "") -> None:
    if isinstance(shape, tuple) and shape[0] == PAGE:
        assert set(data) == {"count", "next", "previous", "results"}, where
        assert data["results"], f"{where}: an empty page proves nothing"
        for item in data["results"]:
            assert_shape(item, shape[1], where)
        return
    assert isinstance(data, dict), where
    assert set(data) == set(shape), where
    for name, inner in shape.items():
        if isinstance(inner, dict) and data[name] is not None:
            assert_shape(data[name], inner, f"{where}.{name}")
        elif isinstance(inner, list):
            for item in data[name]:
                assert_shape(item, inner[0], f"{where}.{name}[]")


def stored_secrets(side) -> list[str]:
    """What no response may ever contain: hashes, encrypted secrets, and the
    side's existing key (shown once, when it was issued)."""
    side.app.refresh_from_db()
    values = [side.full_key, side.key.secret_hash, side.app.client_secret]
    values += list(Endpoint.objects.values_list("secret_encrypted", flat=True))
    values += list(ApiKey.objects.values_list("secret_hash", flat=True))
    return [value for value in values if value]


@pytest.fixture
def with_rows(side, read_only_plan):
    """Rows for every list and log: an attempt in the delivery log, a pending
    plan request on the subscription."""
    from portal.webhooks.models import Attempt

    Attempt.objects.create(delivery=side.delivery, number=1, status_code=500)
    return side


@pytest.mark.parametrize(("route", "method"), manage_calls(), ids=_ids(manage_calls()))
def test_a_response_has_exactly_the_listed_fields(
    with_rows, owner, read_only_plan, route, method
):
    side = with_rows
    secrets_before = stored_secrets(side)
    status, shape = RESPONSES[(route.name, method)]

    response = call(
        owner,
        method,
        url_of(route, side),
        manage_body(route.name, method, read_only_plan),
    )

    assert response.status_code == status, response.content
    text = response.content.decode()
    # Nor the hashes of anything this very call made.
    for secret in {*secrets_before, *stored_secrets(side)}:
        assert secret not in text
    if shape == NO_BODY:
        assert response.content == b""
        return
    data = response.json()
    assert_shape(data, shape, f"{method.upper()} {route.name}")
    for field, allowed_in in ONE_TIME.items():
        if shape is allowed_in:
            assert data[field]  # the one response that shows it


@pytest.mark.parametrize(
    ("route", "method"),
    [c for c in manage_calls() if c[1] not in ("get", "delete")],
    ids=_ids([c for c in manage_calls() if c[1] not in ("get", "delete")]),
)
def test_privileged_fields_are_refused_and_nothing_is_stored(
    side, owner, read_only_plan, route, method
):
    url = url_of(route, side)
    valid = manage_body(route.name, method, read_only_plan)
    refused = {}
    for field, value in PRIVILEGED.items():
        if field in ACCEPTED[(route.name, method)]:
            continue
        before, events = team_rows(side.team), AuditEvent.objects.count()

        response = call(owner, method, url, {**valid, field: value})

        refused[field] = (response.status_code, response.json()["errors"].get(field))
        assert team_rows(side.team) == before, field
        assert AuditEvent.objects.count() == events, field

    assert refused
    assert refused == dict.fromkeys(refused, (400, ["Unknown field."]))


# --- values the caller may not choose -------------------------------------------


@pytest.fixture
def other_api_plan(catalog):
    """A public plan of another API, granting that API's scope."""
    from portal.catalog.models import Api, Plan, Scope

    api = Api.objects.create(name="Films", slug="films", base_path="/api/films/v1/")
    scope = Scope.objects.create(api=api, name="films:read")
    plan = Plan.objects.create(api=api, name="Free", slug="free", rate_tiers=["1/s"])
    plan.scopes.add(scope)
    return plan


@pytest.fixture
def private_plan(catalog):
    plan = catalog.plans.get(slug="read-only")
    plan.pk, plan.slug, plan.is_public = None, "private", False
    plan.save()
    return plan


@pytest.mark.parametrize(
    ("method", "name", "body", "field"),
    [
        (
            "post",
            "manage:key-list",
            {"name": "k", "scopes": ["manage:write"]},
            "scopes",
        ),
        ("post", "manage:key-list", {"name": "k", "scopes": ["films:read"]}, "scopes"),
        ("post", "manage:key-list", {"name": "k", "scopes": ["books:admin"]}, "scopes"),
        ("patch", "manage:key-detail", {"scopes": ["manage:read"]}, "scopes"),
        ("patch", "manage:key-detail", {"scopes": ["films:read"]}, "scopes"),
        ("post", "manage:subscription-list", {"plan": "<private>"}, "plan"),
        ("patch", "manage:subscription-detail", {"plan": "<private>"}, "plan"),
        ("patch", "manage:subscription-detail", {"plan": "<films>"}, "plan"),
        ("post", "manage:app-list", {"name": "x", "team": "<B>"}, "team"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_values_beyond_what_the_caller_holds_are_refused(
    side,
    owner,
    developer,
    user_factory,
    starter_plan,
    private_plan,
    other_api_plan,
    method,
    name,
    body,
    field,
):
    other = make_side("bravo", owner=user_factory(password=None), plan=starter_plan)
    stand_ins = {
        "<private>": private_plan.pk,
        "<films>": other_api_plan.pk,
        "<B>": other.team.pk,
    }
    body = {
        k: stand_ins.get(v, v) if isinstance(v, str) else v for k, v in body.items()
    }
    route = next(r for r in all_routes() if r.name == name)
    before, events = team_rows(side.team), AuditEvent.objects.count()
    b_before = team_rows(other.team)

    response = call(owner, method, url_of(route, side), body)

    assert response.status_code == 400, response.content
    assert field in response.json()["errors"]
    assert team_rows(side.team) == before
    assert team_rows(other.team) == b_before
    assert AuditEvent.objects.count() == events


# --- the portal's forms ----------------------------------------------------------


def test_signup_ignores_staff_and_verification_fields(client, db):
    response = client.post(
        reverse("portal:signup"),
        {
            "email": "newcomer@example.com",
            "name": "Newcomer",
            "password1": "a-long-enough-passphrase-9",
            "password2": "a-long-enough-passphrase-9",
            "is_staff": "on",
            "is_superuser": "on",
            "is_active": "on",
            "email_verified_at": "2020-01-01T00:00:00Z",
            "groups": "1",
            "team": "1",
        },
    )

    assert response.status_code == 200, response.content
    user = User.objects.get(email="newcomer@example.com")
    assert (user.is_staff, user.is_superuser, user.email_verified_at) == (
        False,
        False,
        None,
    )
    assert not user.groups.exists()
    assert [m.team.is_personal for m in Membership.objects.filter(user=user)] == [True]


@pytest.fixture
def both(side, user_factory, starter_plan):
    other = make_side("bravo", owner=user_factory(password=None), plan=starter_plan)
    return side, other


def test_app_create_puts_the_app_in_the_urls_team_only(both, owner):
    side, other = both
    b_before = team_rows(other.team)

    response = owner.post(
        reverse("portal:app-create", args=[side.team.slug]),
        {
            "name": "Planted",
            "slug": "planted",
            "description": "",
            "team": other.team.pk,
            "team_id": other.team.pk,
            "status": "suspended",
            "client_id": "chosen",
            "client_secret": "chosen",
            "oauth_enabled": "on",
        },
    )

    assert response.status_code == 302
    app = App.objects.get(slug="planted")
    assert app.team == side.team
    assert app.status == App._meta.get_field("status").default
    assert (app.client_id, app.oauth_enabled) != ("chosen", True)
    assert app.client_secret != "chosen"
    assert team_rows(other.team) == b_before


def test_key_create_ignores_fields_the_form_does_not_show(both, owner):
    side, other = both

    response = owner.post(
        reverse("portal:key-create", args=[side.team.slug, side.app.slug]),
        {
            "name": "Planted key",
            "scopes": ["books:read"],
            "app": other.app.pk,
            "lookup_id": "a" * 12,
            "secret_hash": "0" * 64,
            "rate_override": "1000/s",
            "replaces": other.key.pk,
        },
    )

    assert response.status_code == 200, response.content
    key = ApiKey.objects.get(name="Planted key")
    assert key.app == side.app
    assert key.lookup_id != "a" * 12
    assert key.secret_hash != "0" * 64
    assert not key.rate_override
    assert key.replaces_id is None


def test_member_add_and_team_create_ignore_foreign_and_privileged_fields(
    both, owner, user_factory
):
    side, other = both
    newcomer = user_factory(password=None, email="joiner@example.com")
    b_before = team_rows(other.team)

    added = owner.post(
        reverse("portal:member-add", args=[side.team.slug]),
        {"email": newcomer.email, "role": "member", "team": other.team.pk},
    )
    created = owner.post(
        reverse("portal:team-create"),
        {
            "name": "Fresh",
            "slug": "fresh",
            "is_personal": "on",
            "is_active": "",
            "members": other.owner.pk,
        },
    )

    assert added.status_code == created.status_code == 302
    assert [m.team for m in Membership.objects.filter(user=newcomer)] == [side.team]
    fresh = Team.objects.get(slug="fresh")
    assert (fresh.is_personal, fresh.is_active) == (False, True)
    assert list(fresh.memberships.values_list("user", flat=True)) == [side.owner.pk]
    assert team_rows(other.team) == b_before


def test_webhook_create_stays_in_the_urls_team(both, owner):
    side, other = both
    b_before = team_rows(other.team)

    response = owner.post(
        reverse("portal:webhook-list", args=[side.team.slug]),
        {
            "url": "https://93.184.216.34/planted",
            "event_types": ["key.created"],
            "team": other.team.pk,
            "is_active": "",
            "secret_encrypted": "x",
            "created_by": other.owner.pk,
        },
    )

    assert response.status_code == 200, response.content
    endpoint = Endpoint.objects.get(url="https://93.184.216.34/planted")
    assert (endpoint.team, endpoint.is_active, endpoint.created_by) == (
        side.team,
        True,
        side.owner,
    )
    assert endpoint.secret_encrypted != "x"
    assert team_rows(other.team) == b_before
