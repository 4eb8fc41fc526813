"""The audit trail in the admin: readable and exportable by staff, and not
changeable or deletable by anyone, a superuser included."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from portal.accounts.models import Role
from portal.audit.models import AuditEvent
from tests.portal.audit.conftest import IP, USER_AGENT
from tests.staff import staff_login

CHANGELIST = "admin:audit_auditevent_changelist"
EXPORT = "admin:audit_auditevent_export"


ROOT = "root@example.com"


def at(day: int) -> datetime:
    return datetime(2020, 3, day, 12, tzinfo=UTC)


@pytest.fixture
def superuser_client(user_factory) -> Client:
    root = user_factory(password=None, email=ROOT, is_staff=True, is_superuser=True)
    client = Client()
    staff_login(client, root)
    return client


@pytest.fixture
def events(user, team, team_factory, user_factory, membership_factory, make_event):
    """Three events: two of ``team`` (1 and 2 March), one of "rivals" (3 March)."""
    rivals = team_factory(name="Rivals", slug="rivals")
    rival = user_factory(password=None, email="rival@example.com")
    membership_factory(user=rival, team=rivals, role=Role.OWNER)
    return [
        make_event("team.create", actor=user, team=team, target=team, at=at(1)),
        make_event(
            "team.member_role_change",
            actor=user,
            team=team,
            target=rival,
            at=at(2),
            data={"from": "member", "to": "admin"},
        ),
        make_event("team.create", actor=rival, team=rivals, target=rivals, at=at(3)),
    ]


def listed(response) -> list[int]:
    """The ids of the events the changelist shows, in order (leaving out the
    superuser's own login, which ``staff_login`` wrote)."""
    return [
        event.pk
        for event in response.context["cl"].result_list
        if event.actor_label != ROOT
    ]


def csv_of(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    # Without the superuser's own login, which ``staff_login`` wrote.
    return [row for row in rows if row[2] != ROOT]


def snapshot() -> list[tuple]:
    return list(AuditEvent.objects.order_by("pk").values_list())


# --- reading ----------------------------------------------------------------------


def test_staff_list_every_event_newest_first(superuser_client, events):
    response = superuser_client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    assert listed(response) == [e.pk for e in reversed(events)]
    page = response.content.decode()
    for column in ("Time (UTC)", "Action", "Actor", "Team", "Target", "IP"):
        assert f">{column}<" in page
    assert IP in page
    assert "2020-03-02 12:00:00" in page


def test_an_event_opens_read_only(superuser_client, events):
    event = events[1]
    response = superuser_client.get(
        reverse("admin:audit_auditevent_change", args=[event.pk])
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert USER_AGENT in page
    assert 'name="action"' not in page  # no form field, only text
    assert 'name="_save"' not in page
    assert "deletelink" not in page


def test_a_staff_member_needs_the_view_permission(user_factory, events):
    clerk = user_factory(password=None, email="clerk@example.com", is_staff=True)
    client = Client()
    staff_login(client, clerk)

    assert client.get(reverse(CHANGELIST)).status_code == 403
    assert client.get(reverse(EXPORT)).status_code == 403

    clerk.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    assert client.get(reverse(CHANGELIST)).status_code == 200
    assert client.get(reverse(EXPORT)).status_code == 200


# --- append-only, even for a superuser --------------------------------------------


def test_there_is_no_add_change_or_delete_for_a_superuser(superuser_client, events):
    event = events[0]
    before = snapshot()

    assert (
        superuser_client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    )
    assert (
        superuser_client.post(
            reverse("admin:audit_auditevent_add"), {"action": "forged"}
        ).status_code
        == 403
    )
    change = reverse("admin:audit_auditevent_change", args=[event.pk])
    assert (
        superuser_client.post(
            change, {"action": "forged", "actor_label": "someone@else.example"}
        ).status_code
        == 403
    )
    delete = reverse("admin:audit_auditevent_delete", args=[event.pk])
    assert superuser_client.get(delete).status_code == 403
    assert superuser_client.post(delete, {"post": "yes"}).status_code == 403

    assert snapshot() == before


def test_there_is_no_bulk_action(superuser_client, events):
    before = snapshot()
    page = superuser_client.get(reverse(CHANGELIST)).content.decode()

    assert 'name="action"' not in page
    assert "action-checkbox" not in page
    assert "Add audit event" not in page

    response = superuser_client.post(
        reverse(CHANGELIST),
        {
            "action": "delete_selected",
            "_selected_action": [e.pk for e in events],
            "post": "yes",
        },
    )
    assert response.status_code in (200, 302)
    assert snapshot() == before


def test_the_index_offers_the_trail_for_viewing_only(superuser_client, events):
    page = superuser_client.get(reverse("admin:index")).content.decode()

    assert reverse(CHANGELIST) in page
    assert reverse("admin:audit_auditevent_add") not in page


# --- filters and search ------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"action": "team.member_role_change"}, [1]),
        ({"team": "rivals"}, [2]),
        ({"actor": "RIVAL@"}, [2]),
        ({"since": "2020-03-02"}, [2, 1]),
        ({"until": "2020-03-02"}, [1, 0]),
        ({"since": "2020-03-02", "until": "2020-03-02"}, [1]),
        ({"created_at__year": "2020", "created_at__month": "3"}, [2, 1, 0]),
        (
            {
                "created_at__day": "1",
                "created_at__month": "3",
                "created_at__year": "2020",
            },
            [0],
        ),
        ({"q": "rival@example.com"}, [2, 1]),  # the actor, or the target
        ({"q": "no-match-anywhere"}, []),
    ],
)
def test_filters_and_search(superuser_client, events, query, expected):
    response = superuser_client.get(reverse(CHANGELIST), query)

    assert response.status_code == 200
    assert listed(response) == [events[i].pk for i in expected]


def test_a_team_filter_keeps_working_after_the_team_is_deleted(
    superuser_client, events, team
):
    slug = team.slug
    team.delete()

    response = superuser_client.get(reverse(CHANGELIST), {"team": slug})

    assert listed(response) == [events[1].pk, events[0].pk]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"since": "2020-02-30"}, "Not a date."),
        ({"since": "2020-03-03", "until": "2020-03-01"}, "before the start date"),
    ],
)
def test_a_bad_date_is_a_message_not_an_error(superuser_client, events, query, message):
    response = superuser_client.get(reverse(CHANGELIST), query, follow=True)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert len(listed(response)) == 3  # the bad filter is not applied


def test_the_filter_forms_keep_the_other_filters(superuser_client, events):
    page = superuser_client.get(
        reverse(CHANGELIST), {"action": "team.create", "team": "rivals"}
    ).content.decode()

    # The date-range form carries the action and team along as hidden fields.
    assert '<input type="hidden" name="action" value="team.create">' in page
    assert '<input type="hidden" name="team" value="rivals">' in page


# --- CSV export ----------------------------------------------------------------------


def test_the_changelist_links_to_the_export_of_what_it_shows(superuser_client, events):
    page = superuser_client.get(
        reverse(CHANGELIST), {"team": "rivals", "q": "rival"}
    ).content.decode()

    assert f'href="{reverse(EXPORT)}?q=rival&amp;team=rivals"' in page


def test_the_export_has_the_filtered_events(superuser_client, events, team):
    rows = csv_of(
        superuser_client.get(reverse(EXPORT), {"team": team.slug, "q": "rival"})
    )

    assert rows[0] == [
        "time",
        "action",
        "actor",
        "team",
        "target_type",
        "target_id",
        "target",
        "ip",
        "user_agent",
        "details",
    ]
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["time"] == "2020-03-02T12:00:00+00:00"
    assert row["action"] == "team.member_role_change"
    assert row["team"] == team.slug
    assert row["target"] == "rival@example.com"
    assert (row["ip"], row["user_agent"]) == (IP, USER_AGENT)
    assert row["details"] == '{"from": "member", "to": "admin"}'


def test_the_export_of_everything(superuser_client, events):
    rows = csv_of(superuser_client.get(reverse(EXPORT)))

    assert [row[1] for row in rows[1:]] == [
        "team.create",
        "team.member_role_change",
        "team.create",
    ]


def test_the_export_is_csv_injection_safe(superuser_client, user, make_event):
    make_event("user.login", actor=user, user_agent="=cmd|'/c calc'!A1")
    make_event("user.login_failed", data={"email": "+1@example.com"}, user_agent="-2")

    rows = csv_of(superuser_client.get(reverse(EXPORT)))

    agents = [dict(zip(rows[0], row, strict=True))["user_agent"] for row in rows[1:]]
    assert agents == ["'-2", "'=cmd|'/c calc'!A1"]


@pytest.mark.parametrize(
    "query",
    [{"since": "yesterday"}, {"no_such_field": "1"}, {"created_at__year": "nope"}],
)
def test_a_bad_export_query_sends_no_file(superuser_client, events, query):
    response = superuser_client.get(reverse(EXPORT), query)

    assert response.status_code == 400
    assert not response["Content-Type"].startswith("text/csv")


def test_the_export_is_behind_the_staff_rule(client, user, user_factory, events):
    url = reverse(EXPORT)
    assert client.get(url).status_code == 302  # anonymous: to the login

    client.force_login(user)  # not staff
    assert client.get(url).status_code == 404

    unverified = user_factory(password=None, is_staff=True, is_superuser=True)
    client.force_login(unverified)  # staff, but no second factor yet
    response = client.get(url)
    assert response.status_code == 302
    assert not response["Content-Type"].startswith("text/csv")
