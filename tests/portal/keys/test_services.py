"""API key use cases, called directly: validation, storage and audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.test import RequestFactory
from django.utils import timezone

from portal.audit.models import AuditEvent
from portal.catalog.services import subscription_create_active
from portal.errors import Conflict, InvalidInput
from portal.keys import services
from portal.keys.hashing import key_matches
from portal.keys.keyformat import parse_key
from portal.keys.models import ApiKey, KeyStatus


def rows() -> tuple[int, int]:
    return ApiKey.objects.count(), AuditEvent.objects.count()


def everything_stored() -> str:
    """Every row of every table, as text."""
    return "\n".join(
        repr(row)
        for model in apps.get_models(include_auto_created=True)
        for row in model._default_manager.values_list()
    )


def secret_of(full_key: str) -> str:
    return full_key[21:53]


@pytest.fixture
def app(books_app):
    return books_app.app


# --- issue --------------------------------------------------------------------


def test_issue_stores_only_a_keyed_hash_of_the_key(app, issue_key):
    issued = issue_key(app, name="Deploy bot", allowed_ips=["10.0.0.0/8"])

    key = ApiKey.objects.get(pk=issued.key.pk)
    parsed = parse_key(issued.full_key, environment="test")
    assert parsed.lookup_id == key.lookup_id
    assert key.environment == "test"
    assert key_matches(issued.full_key, key.secret_hash)
    stored = everything_stored()
    assert issued.full_key not in stored
    assert secret_of(issued.full_key) not in stored
    assert key.prefix == f"gk_test_{key.lookup_id}_…"


def test_issue_defaults_to_every_scope_the_app_is_granted(app, issue_key, developer):
    issued = issue_key(app)

    assert issued.key.scopes == ["books:read", "books:write"]
    assert issued.key.created_by == developer
    assert issued.key.status == KeyStatus.ACTIVE
    event = AuditEvent.objects.get(action="api_key.issue", target_id=issued.key.pk)
    assert event.actor == developer
    assert event.team == app.team
    assert event.data == {
        "app": app.qualified_slug,
        "lookup_id": issued.key.lookup_id,
        "scopes": ["books:read", "books:write"],
    }


@pytest.mark.parametrize(
    "scopes",
    [
        pytest.param(["books:admin"], id="unknown"),
        pytest.param(["books:read", "other:read"], id="one-outside"),
    ],
)
def test_issue_refuses_scopes_outside_the_apps_grants(app, issue_key, scopes):
    before = rows()

    with pytest.raises(InvalidInput) as excinfo:
        issue_key(app, scopes=scopes)

    assert excinfo.value.code == "scope_not_granted"
    assert excinfo.value.field == "scopes"
    assert rows() == before


def test_issue_refuses_a_scope_of_a_plan_the_app_is_not_on(
    developer_team, app_factory, read_only_plan, issue_key
):
    app = app_factory(team=developer_team)
    subscription_create_active(app=app, plan=read_only_plan)
    before = rows()

    with pytest.raises(InvalidInput) as excinfo:
        issue_key(app, scopes=["books:write"])

    assert excinfo.value.code == "scope_not_granted"
    assert rows() == before


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        pytest.param({"name": "  "}, "invalid", "name", id="blank-name"),
        pytest.param({"name": "n" * 101}, "invalid", "name", id="long-name"),
        pytest.param(
            {"allowed_ips": ["10.0.0.0/33"]},
            "invalid_ip_range",
            "allowed_ips",
            id="prefix-too-long",
        ),
        pytest.param(
            {"allowed_ips": ["10.0.0.1", "example.com"]},
            "invalid_ip_range",
            "allowed_ips",
            id="hostname",
        ),
        pytest.param(
            {"allowed_ips": ["2001:db8::/129"]},
            "invalid_ip_range",
            "allowed_ips",
            id="v6-prefix-too-long",
        ),
        pytest.param(
            {"allowed_ips": [f"10.0.{n}.0/24" for n in range(51)]},
            "invalid",
            "allowed_ips",
            id="too-many-ranges",
        ),
        pytest.param(
            {"rate_override": ["ten per second"]}, "invalid_rate", "rate", id="rate"
        ),
        pytest.param(
            {"expires_at": timezone.now() - timedelta(seconds=1)},
            "invalid",
            "expires_at",
            id="expiry-past",
        ),
    ],
)
def test_issue_refuses_bad_input(app, issue_key, kwargs, code, field):
    before = rows()

    with pytest.raises(InvalidInput) as excinfo:
        issue_key(app, **kwargs)

    assert (excinfo.value.code, excinfo.value.field) == (code, field)
    assert rows() == before


def test_issue_refuses_an_expiry_of_now(app, issue_key, time_machine):
    time_machine.move_to(timezone.now(), tick=False)

    with pytest.raises(InvalidInput) as excinfo:
        issue_key(app, expires_at=timezone.now())

    assert excinfo.value.field == "expires_at"


def test_issue_normalises_ip_ranges(app, issue_key):
    issued = issue_key(
        app, allowed_ips=["10.1.2.3/8", " 2001:db8::1/32 ", "10.0.0.0/8", ""]
    )

    assert issued.key.allowed_ips == ["10.0.0.0/8", "2001:db8::/32"]


def test_issue_stores_a_rate_override(app, issue_key):
    issued = issue_key(app, rate_override=["50/m", " 1000/h "])

    assert ApiKey.objects.get(pk=issued.key.pk).rate_override == ["50/m", "1000/h"]


# --- rotate -------------------------------------------------------------------


@pytest.mark.parametrize(
    "grace",
    [timedelta(days=7, seconds=1), timedelta(days=30), timedelta(seconds=-1)],
    ids=["7d+1s", "30d", "negative"],
)
def test_rotate_refuses_a_grace_period_outside_zero_to_seven_days(books_app, grace):
    before = rows()

    with pytest.raises(InvalidInput) as excinfo:
        services.api_key_rotate(key=books_app.key, grace=grace)

    assert excinfo.value.field == "grace"
    assert rows() == before
    assert ApiKey.objects.get(pk=books_app.key.pk).expires_at is None


def test_rotate_issues_a_replacement_with_the_same_settings(
    app, issue_key, developer, time_machine
):
    now = timezone.now()
    time_machine.move_to(now, tick=False)
    old = issue_key(
        app,
        name="CI",
        scopes=["books:read"],
        allowed_ips=["192.0.2.0/24"],
        rate_override=["50/m"],
        expires_at=now + timedelta(days=3),
    ).key

    new = services.api_key_rotate(key=old, grace=timedelta(days=7), actor=developer).key

    old.refresh_from_db()
    assert (new.name, new.scopes, new.allowed_ips, new.rate_override) == (
        "CI",
        ["books:read"],
        ["192.0.2.0/24"],
        ["50/m"],
    )
    assert new.expires_at == now + timedelta(days=3)
    assert new.replaces == old
    assert new.lookup_id != old.lookup_id
    # The grace period never extends the old key's own expiry.
    assert old.expires_at == now + timedelta(days=3)
    assert old.revoked_at is None


def test_rotate_refuses_a_revoked_key(books_app):
    revoked = services.api_key_revoke(key=books_app.key)
    before = rows()

    with pytest.raises(Conflict) as excinfo:
        services.api_key_rotate(key=revoked, grace=timedelta(hours=1))

    assert excinfo.value.code == "key_revoked"
    assert rows() == before


def test_rotate_refuses_a_key_revoked_since_it_was_read(books_app):
    # Two requests at once: one revokes the key, the other still holds the
    # instance it read before. Revoking locks and re-reads the row; rotating
    # must too, or a revoked (leaked) key gets a working successor.
    stale = ApiKey.objects.get(pk=books_app.key.pk)
    services.api_key_revoke(key=books_app.key, reason="leaked")
    before = rows()

    with pytest.raises(Conflict) as excinfo:
        services.api_key_rotate(key=stale, grace=timedelta(0))

    assert excinfo.value.code == "key_revoked"
    assert rows() == before
    assert ApiKey.objects.get(pk=books_app.key.pk).revoked_reason == "leaked"


# --- revoke -------------------------------------------------------------------


def test_revoke_records_who_why_and_from_where(books_app, developer):
    request = RequestFactory().post("/", REMOTE_ADDR="198.51.100.4")
    request.user = developer

    key = services.api_key_revoke(
        key=books_app.key,
        reason="  leaked in a gist  ",
        actor=developer,
        request=request,
    )

    assert key.status == KeyStatus.REVOKED
    assert ApiKey.objects.get(pk=key.pk).revoked_reason == "leaked in a gist"
    event = AuditEvent.objects.get(action="api_key.revoke")
    assert event.actor == developer
    assert event.team == books_app.app.team
    assert event.target_type == "keys.ApiKey"
    assert event.target_id == str(key.pk)
    assert event.ip == "198.51.100.4"
    assert event.data == {
        "app": books_app.app.qualified_slug,
        "lookup_id": key.lookup_id,
        "reason": "leaked in a gist",
    }


def test_revoking_twice_changes_and_records_nothing_more(books_app):
    first = services.api_key_revoke(key=books_app.key, reason="first")
    before = rows()

    again = services.api_key_revoke(key=books_app.key, reason="second")

    assert rows() == before
    assert again.revoked_at == first.revoked_at
    assert again.revoked_reason == "first"


# --- changes to a key ---------------------------------------------------------


def test_set_scopes_refuses_scopes_outside_the_grants(books_app):
    before = rows()

    with pytest.raises(InvalidInput) as excinfo:
        services.api_key_set_scopes(key=books_app.key, scopes=["books:admin"])

    assert excinfo.value.code == "scope_not_granted"
    assert rows() == before
    assert ApiKey.objects.get(pk=books_app.key.pk).scopes == [
        "books:read",
        "books:write",
    ]


@pytest.mark.parametrize(
    "change",
    [
        lambda key: services.api_key_set_scopes(key=key, scopes=["books:read"]),
        lambda key: services.api_key_set_expiry(key=key, expires_at=None),
        lambda key: services.api_key_set_allowed_ips(key=key, allowed_ips=[]),
        lambda key: services.api_key_rotate(key=key, grace=timedelta(0)),
    ],
    ids=["scopes", "expiry", "allowed-ips", "rotate"],
)
def test_an_expired_key_cannot_be_changed(app, issue_key, time_machine, change):
    now = timezone.now()
    time_machine.move_to(now, tick=False)
    key = issue_key(app, expires_at=now + timedelta(minutes=1)).key
    time_machine.move_to(now + timedelta(minutes=2), tick=False)
    before = rows()

    with pytest.raises(Conflict) as excinfo:
        change(key)

    assert excinfo.value.code == "key_expired"
    assert rows() == before


@pytest.mark.parametrize(
    ("change", "action", "data"),
    [
        pytest.param(
            lambda key: services.api_key_rename(key=key, name="Renamed"),
            "api_key.rename",
            {"old": "Test key", "new": "Renamed"},
            id="rename",
        ),
        pytest.param(
            lambda key: services.api_key_set_scopes(key=key, scopes=["books:read"]),
            "api_key.scopes_change",
            {"old": ["books:read", "books:write"], "new": ["books:read"]},
            id="scopes",
        ),
        pytest.param(
            lambda key: services.api_key_set_expiry(key=key, expires_at=None),
            "api_key.expiry_change",
            {"expires_at": None},
            id="expiry",
        ),
        pytest.param(
            lambda key: services.api_key_set_allowed_ips(
                key=key, allowed_ips=["192.0.2.1"]
            ),
            "api_key.allowed_ips_change",
            {"allowed_ips": ["192.0.2.1/32"]},
            id="allowed-ips",
        ),
        pytest.param(
            lambda key: services.api_key_rotate(key=key, grace=timedelta(hours=2)),
            "api_key.rotate",
            {"grace_seconds": 7200},
            id="rotate",
        ),
        pytest.param(
            lambda key: services.api_key_revoke(key=key, reason="done"),
            "api_key.revoke",
            {"reason": "done"},
            id="revoke",
        ),
    ],
)
def test_every_key_change_writes_its_audit_event(books_app, change, action, data):
    key = books_app.key

    change(key)

    event = AuditEvent.objects.get(action=action)
    assert event.target_id == str(key.pk)
    assert event.team == books_app.app.team
    assert event.data["app"] == books_app.app.qualified_slug
    assert event.data["lookup_id"] == key.lookup_id
    assert data.items() <= event.data.items()


def test_set_expiry_records_the_new_expiry(books_app):
    when = timezone.now() + timedelta(days=2)

    services.api_key_set_expiry(key=books_app.key, expires_at=when)

    assert ApiKey.objects.get(pk=books_app.key.pk).expires_at == when
    event = AuditEvent.objects.get(action="api_key.expiry_change")
    assert event.data["expires_at"] == when.isoformat()


def test_rotate_records_the_replacement_on_the_old_key(books_app):
    new = services.api_key_rotate(key=books_app.key, grace=timedelta(0))

    rotate = AuditEvent.objects.get(action="api_key.rotate")
    assert rotate.target_id == str(books_app.key.pk)
    assert rotate.data["new_lookup_id"] == new.key.lookup_id
    assert rotate.data["grace_seconds"] == 0
    assert AuditEvent.objects.filter(
        action="api_key.issue", target_id=str(new.key.pk)
    ).exists()


def test_no_full_key_or_secret_ever_reaches_the_audit_trail(books_app, issue_key):
    issued = issue_key(books_app.app, name="Second")
    key = issued.key
    services.api_key_rename(key=key, name="Renamed")
    services.api_key_set_scopes(key=key, scopes=["books:read"])
    services.api_key_set_expiry(key=key, expires_at=timezone.now() + timedelta(days=1))
    services.api_key_set_allowed_ips(key=key, allowed_ips=["10.0.0.0/8"])
    rotated = services.api_key_rotate(key=key, grace=timedelta(hours=1))
    services.api_key_revoke(key=rotated.key, reason="test")
    full_keys = [books_app.full_key, issued.full_key, rotated.full_key]

    trail = "\n".join(
        repr(row) for row in AuditEvent.objects.values_list()
    )  # every column, data included

    assert AuditEvent.objects.filter(action__startswith="api_key.").count() == 9
    for full_key in full_keys:
        assert full_key not in trail
        assert secret_of(full_key) not in trail
    assert all(
        full_key not in repr(event.data)
        for event in AuditEvent.objects.all()
        for full_key in full_keys
    )
