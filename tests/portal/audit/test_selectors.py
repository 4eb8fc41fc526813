"""The audit trail's reads that pages elsewhere build on: a user's own
security activity, the staff overview's recent events, the shared CSV row."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from portal.audit.selectors import (
    STAFF_ACTOR,
    AuditFilters,
    csv_header,
    csv_row,
    csv_safe,
    event_details,
    events_for_staff,
    events_for_user,
    recent_events,
)


def at(day: int) -> datetime:
    return datetime(2020, 5, day, 9, 30, tzinfo=UTC)


@pytest.fixture
def someone_else(user_factory):
    return user_factory(password=None, email="someone@example.com")


def test_a_users_events_are_theirs_alone_and_tied_to_no_team(
    user, team, someone_else, user_factory, make_event
):
    staff = user_factory(password=None, email="ops@example.com", is_staff=True)
    login = make_event("user.login", actor=user, target=user, at=at(1))
    failed = make_event(
        "user.login_failed", target=user, data={"email": user.email}, at=at(2)
    )
    suspended = make_event("user.suspended", actor=staff, target=user, at=at(3))
    make_event("team.create", actor=user, team=team, target=team, at=at(4))
    make_event("user.login", actor=someone_else, target=someone_else, at=at(5))
    make_event("user.login_failed", target=someone_else, at=at(6))

    events = list(events_for_user(user))

    assert events == [suspended, failed, login]
    assert [e.shown_actor for e in events] == [STAFF_ACTOR, "", user.email]


def test_a_staff_members_own_events_show_their_name(user_factory, make_event):
    staff = user_factory(password=None, email="ops@example.com", is_staff=True)
    make_event("user.login", actor=staff, target=staff)

    (event,) = events_for_user(staff)

    assert event.shown_actor == "ops@example.com"
    assert event.by_staff is False


def test_a_users_events_can_be_filtered(user, make_event):
    make_event("user.login", actor=user, target=user, at=at(1))
    failed = make_event("user.login_failed", target=user, at=at(2))

    assert list(events_for_user(user, AuditFilters(since=date(2020, 5, 2)))) == [failed]
    assert list(events_for_user(user, AuditFilters(action="user.login_failed"))) == [
        failed
    ]


def test_staff_see_everything_with_every_filter(user, team, make_event, user_factory):
    staff = user_factory(password=None, email="ops@example.com", is_staff=True)
    approval = make_event("subscription.approve", actor=staff, team=team, at=at(1))
    login = make_event("user.login", actor=user, target=user, at=at(2))

    assert list(events_for_staff()) == [login, approval]
    assert list(events_for_staff(AuditFilters(actor="ops@"))) == [approval]
    assert list(events_for_staff(AuditFilters(team=team.slug))) == [approval]
    assert list(events_for_staff(AuditFilters(target=str(user.pk)))) == [login]
    (shown,) = events_for_staff(AuditFilters(actor="ops@"))
    assert shown.shown_actor == "ops@example.com"
    assert csv_row(shown)[2] == "ops@example.com"


def test_recent_events_are_the_newest_few(user, make_event):
    made = [make_event("user.login", actor=user, at=at(day)) for day in range(1, 8)]

    assert recent_events(3) == made[::-1][:3]
    assert recent_events(3)[0].actor == user  # joined, for links into the admin


def test_recent_events_cost_one_query(user, make_event, django_assert_num_queries):
    for day in range(1, 4):
        make_event("user.login", actor=user, at=at(day))

    with django_assert_num_queries(1):
        events = recent_events(10)
        assert [e.actor.email for e in events] == [user.email] * 3


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=1", "a=1"),
        ("", ""),
        (None, ""),
        ("2001:db8::1", "2001:db8::1"),
    ],
)
def test_csv_cells_never_start_a_formula(value, cell):
    assert csv_safe(value) == cell


def test_a_csv_row_follows_its_header(user, make_event):
    event = make_event(
        "api_key.issue",
        actor=user,
        target=user,
        at=at(1),
        data={"scopes": ["books:read"]},
    )

    assert len(csv_row(event)) == len(csv_header())
    assert len(csv_row(event, client_details=False)) == len(
        csv_header(client_details=False)
    )
    assert csv_row(event)[0] == "2020-05-01T09:30:00+00:00"
    assert csv_row(event)[-1] == '{"scopes": ["books:read"]}'


def test_details_read_as_one_line(user, make_event):
    event = make_event(
        "api_key.rotate",
        actor=user,
        data={
            "scopes": ["books:read", "books:write"],
            "grace_seconds": 3600,
            "expires_at": None,
            "name": {"from": "a", "to": "b"},
            "allowed_ips": [],
        },
    )

    assert event_details(event) == (
        "allowed_ips: none; expires_at: none; grace_seconds: 3600; "
        'name: {"from": "a", "to": "b"}; scopes: books:read, books:write'
    )
