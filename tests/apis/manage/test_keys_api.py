"""/api/manage/v1/apps/<id>/keys/: issue, read, change, revoke and rotate keys.

The full key is in the response that issues it and in no other. Each
operation as a signed-in person (session + CSRF) and as a token.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from portal.audit.models import AuditEvent
from portal.keys.models import ApiKey
from tests.apis.assertions import assert_problem
from tests.apis.manage.conftest import BASE

pytestmark = pytest.mark.django_db

BOOKS = "/api/books/v1/books/"
KEY_RE = re.compile(r"^gk_test_[0-9a-z]{12}_[0-9A-Za-z]{38}$")
KEY_FIELDS = {
    "lookup_id",
    "prefix",
    "name",
    "status",
    "scopes",
    "expires_at",
    "allowed_ips",
    "rate_override",
    "created_at",
    "last_used_at",
    "revoked_at",
    "revoked_reason",
    "replaces",
}


def keys_url(app) -> str:
    return f"{BASE}apps/{app.pk}/keys/"


def key_url(key, suffix: str = "") -> str:
    return f"{BASE}apps/{key.app_id}/keys/{key.lookup_id}/{suffix}"


def books(full_key: str) -> int:
    return Client().get(BOOKS, HTTP_X_API_KEY=full_key).status_code


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def test_a_key_is_shown_once_then_never_again(caller, books_app):
    response = caller.post(
        keys_url(books_app.app), {"name": "server", "scopes": ["books:read"]}
    )

    assert response.status_code == 201, response.content
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    full_key = body["key"]
    assert KEY_RE.match(full_key)
    assert set(body) == KEY_FIELDS | {"key"}
    key = ApiKey.objects.get(lookup_id=body["lookup_id"])
    assert (key.app, key.name, key.scopes) == (books_app.app, "server", ["books:read"])
    assert full_key.startswith(key.prefix.rstrip("…"))
    assert books(full_key) == 200

    listed = caller.get(keys_url(books_app.app))
    read = caller.get(key_url(key))
    for later in (listed, read):
        assert later.status_code == 200
        assert full_key not in later.content.decode()
        assert key.secret_hash not in later.content.decode()
        assert "secret_hash" not in later.content.decode()
    assert set(read.json()) == KEY_FIELDS
    assert read.json()["lookup_id"] == key.lookup_id

    event = AuditEvent.objects.get(action="api_key.issue", target_id=str(key.pk))
    assert event.actor_label == caller.actor_label
    assert full_key not in str(event.data)
    person = books_app.key.created_by  # the developer, who issued the fixture's key
    assert key.created_by == (person if caller.kind == "session" else None)


def test_a_key_gets_every_granted_scope_unless_told(caller, books_app):
    everything = caller.post(keys_url(books_app.app), {"name": "all"}).json()
    nothing = caller.post(
        keys_url(books_app.app), {"name": "none", "scopes": []}
    ).json()

    assert everything["scopes"] == ["books:read", "books:write"]
    assert nothing["scopes"] == []


def test_a_key_with_expiry_and_allowed_ips(caller, books_app):
    expires = datetime.now(tz=UTC) + timedelta(days=30)

    response = caller.post(
        keys_url(books_app.app),
        {
            "name": "office",
            "expires_at": iso(expires),
            "allowed_ips": ["10.0.0.1", "2001:db8::/32"],
        },
    )

    assert response.status_code == 201, response.content
    key = ApiKey.objects.get(lookup_id=response.json()["lookup_id"])
    assert abs(key.expires_at - expires) < timedelta(seconds=1)
    assert key.allowed_ips == ["10.0.0.1/32", "2001:db8::/32"]
    assert books(response.json()["key"]) == 403  # the test client is 127.0.0.1


@pytest.mark.parametrize(
    ("data", "code", "field"),
    [
        ({}, "invalid", "name"),
        ({"name": ""}, "invalid", "name"),
        ({"name": "k" * 101}, "invalid", "name"),
        ({"name": "k", "scopes": "books:read"}, "invalid", "scopes"),
        ({"name": "k", "scopes": ["books:admin"]}, "scope_not_granted", None),
        ({"name": "k", "scopes": ["manage:write"]}, "scope_not_granted", None),
        ({"name": "k", "allowed_ips": ["10.0.0.0/33"]}, "invalid_ip_range", None),
        ({"name": "k", "expires_at": "2001-01-01T00:00:00Z"}, "invalid", None),
        ({"name": "k", "expires_at": "tomorrow"}, "invalid", "expires_at"),
    ],
)
def test_bad_keys_are_refused(caller, books_app, data, code, field):
    before, events = ApiKey.objects.count(), AuditEvent.objects.count()

    response = caller.post(keys_url(books_app.app), data)

    problem = assert_problem(response, 400, code)
    if field:
        assert field in problem["errors"]
    assert "key" not in problem
    assert ApiKey.objects.count() == before
    assert AuditEvent.objects.count() == events


def test_keys_are_listed_newest_first_and_paginated(caller, books_app, issue_key):
    for n in range(3):
        issue_key(books_app.app, name=f"k{n}")

    body = caller.get(keys_url(books_app.app), {"page_size": 2}).json()

    assert body["count"] == 4
    assert [k["name"] for k in body["results"]] == ["k2", "k1"]
    assert all(set(k) == KEY_FIELDS for k in body["results"])


def test_a_keys_settings_are_changed(caller, books_app):
    key = books_app.key
    expires = datetime.now(tz=UTC) + timedelta(days=7)

    response = caller.patch(
        key_url(key),
        {
            "name": "renamed",
            "scopes": ["books:read"],
            "expires_at": iso(expires),
            "allowed_ips": ["192.0.2.0/24"],
        },
    )

    assert response.status_code == 200, response.content
    key.refresh_from_db()
    assert (key.name, key.scopes, key.allowed_ips) == (
        "renamed",
        ["books:read"],
        ["192.0.2.0/24"],
    )
    assert abs(key.expires_at - expires) < timedelta(seconds=1)
    assert response.json()["name"] == "renamed"
    assert "key" not in response.json()
    actions = set(
        AuditEvent.objects.filter(target_id=str(key.pk)).values_list(
            "action", flat=True
        )
    )
    assert {
        "api_key.rename",
        "api_key.scopes_change",
        "api_key.expiry_change",
        "api_key.allowed_ips_change",
    } <= actions
    assert books(books_app.full_key) == 403  # 127.0.0.1 is no longer allowed


def test_a_keys_expiry_is_cleared_with_null(caller, books_app, issue_key):
    issued = issue_key(
        books_app.app, expires_at=datetime.now(tz=UTC) + timedelta(days=1)
    )

    response = caller.patch(key_url(issued.key), {"expires_at": None})

    assert response.status_code == 200
    issued.key.refresh_from_db()
    assert issued.key.expires_at is None


def test_a_refused_change_takes_back_the_others(caller, books_app):
    key = books_app.key
    before = ApiKey.objects.filter(pk=key.pk).values().get()
    events = AuditEvent.objects.count()

    response = caller.patch(
        key_url(key), {"name": "renamed", "scopes": ["books:admin"]}
    )

    assert_problem(response, 400, "scope_not_granted")
    assert ApiKey.objects.filter(pk=key.pk).values().get() == before
    assert AuditEvent.objects.count() == events


def test_a_revoked_key_can_only_be_renamed(caller, books_app):
    key = books_app.key
    assert caller.post(key_url(key, "revoke/")).status_code == 200

    refused = caller.patch(key_url(key), {"name": "again", "allowed_ips": []})
    renamed = caller.patch(key_url(key), {"name": "again"})

    assert_problem(refused, 409, "key_revoked")
    assert renamed.status_code == 200
    key.refresh_from_db()
    assert key.name == "again"


def test_a_key_is_revoked_at_once(caller, books_app):
    assert books(books_app.full_key) == 200

    response = caller.post(key_url(books_app.key, "revoke/"), {"reason": "leaked"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "revoked"
    assert body["revoked_reason"] == "leaked"
    assert books(books_app.full_key) == 401
    event = AuditEvent.objects.get(action="api_key.revoke")
    assert event.actor_label == caller.actor_label

    again = caller.post(key_url(books_app.key, "revoke/"))
    assert again.status_code == 200
    assert AuditEvent.objects.filter(action="api_key.revoke").count() == 1


def test_a_key_is_rotated_with_a_grace_period(caller, books_app):
    old = books_app.key

    response = caller.post(key_url(old, "rotate/"), {"grace_seconds": 3600})

    assert response.status_code == 201, response.content
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    new_key = body["key"]
    assert KEY_RE.match(new_key)
    assert body["replaces"] == old.lookup_id
    assert body["lookup_id"] != old.lookup_id
    assert body["name"] == old.name
    assert body["scopes"] == old.scopes
    assert books(new_key) == 200
    assert books(books_app.full_key) == 200  # still within the grace period
    old.refresh_from_db()
    assert old.expires_at is not None
    assert new_key not in caller.get(keys_url(books_app.app)).content.decode()


def test_a_rotation_without_grace_revokes_the_old_key_now(caller, books_app):
    response = caller.post(key_url(books_app.key, "rotate/"), {"grace_seconds": 0})

    assert response.status_code == 201
    assert books(books_app.full_key) == 401
    assert books(response.json()["key"]) == 200
    assert caller.get(key_url(books_app.key)).json()["status"] == "revoked"


def test_a_rotation_keeps_the_old_key_a_day_by_default(caller, books_app):
    caller.post(key_url(books_app.key, "rotate/"))

    books_app.key.refresh_from_db()
    left = books_app.key.expires_at - datetime.now(tz=UTC)
    assert timedelta(hours=23) < left <= timedelta(days=1)


@pytest.mark.parametrize("grace", [-1, 7 * 86400 + 1, "a day"])
def test_a_bad_grace_is_refused(caller, books_app, grace):
    before = ApiKey.objects.count()

    response = caller.post(key_url(books_app.key, "rotate/"), {"grace_seconds": grace})

    problem = assert_problem(response, 400, "invalid")
    assert "grace_seconds" in problem["errors"]
    assert ApiKey.objects.count() == before


def test_a_revoked_key_cannot_be_rotated(caller, books_app):
    caller.post(key_url(books_app.key, "revoke/"))
    before = ApiKey.objects.count()

    response = caller.post(key_url(books_app.key, "rotate/"))

    assert_problem(response, 409, "key_revoked")
    assert ApiKey.objects.count() == before


@pytest.mark.parametrize("lookup_id", ["nope", "0" * 12, "A" * 12, "x" * 100])
def test_an_unknown_key_is_not_found(caller, books_app, lookup_id):
    response = caller.get(f"{keys_url(books_app.app)}{lookup_id}/")

    assert_problem(response, 404, "not_found")
