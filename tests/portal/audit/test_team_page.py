"""The team's audit page: who may see it, what it shows, its filters, bad
input, pages and the CSV export."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from portal.accounts.models import Role
from portal.audit.models import AuditEvent
from tests.portal.audit.conftest import IP, USER_AGENT

STAFF_IP = "198.51.100.99"


def page_url(team) -> str:
    return reverse("portal:team-audit", args=[team.slug])


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


@pytest.fixture
def colleague(team, user_factory, membership_factory):
    """A plain member of ``team``."""
    member = user_factory(password=None, email="colleague@example.com")
    membership_factory(user=member, team=team, role=Role.MEMBER)
    return member


@pytest.fixture
def other_team(team_factory, user_factory, membership_factory, make_event):
    other = team_factory(name="Rivals", slug="rivals")
    rival = user_factory(password=None, email="rival@example.com")
    membership_factory(user=rival, team=other, role=Role.OWNER)
    make_event("team.create", actor=rival, team=other, target=other, at=at(3))
    return other


@pytest.fixture
def trail(user, team, colleague, make_event, app_factory):
    """Three events of ``team`` on 1, 2 and 3 March, oldest first."""
    app = app_factory(team=team, name="Shop", slug="shop")
    return [
        make_event("team.create", actor=user, team=team, target=team, at=at(1)),
        make_event(
            "team.member_add", actor=user, team=team, target=colleague, at=at(2)
        ),
        make_event("app.create", actor=colleague, team=team, target=app, at=at(3)),
    ]


def client_as(client, user):
    client.force_login(user)
    return client


def shown_actions(response) -> list[str]:
    """The action column of the events table, top to bottom."""
    table = response.content.decode().split('id="audit-events"', 1)
    if len(table) < 2:
        return []
    return re.findall(r"<td class=\"action\"><code>([a-z0-9_.]+)</code></td>", table[1])


def csv_of(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


# --- access ---------------------------------------------------------------------


def test_a_member_sees_the_teams_events_newest_first(
    client, colleague, team, trail, other_team
):
    response = client_as(client, colleague).get(page_url(team))

    assert response.status_code == 200
    assert shown_actions(response) == ["app.create", "team.member_add", "team.create"]
    assert "rival@example.com" not in response.content.decode()


def test_another_teams_page_is_not_found(client, colleague, other_team):
    client_as(client, colleague)

    assert client.get(page_url(other_team)).status_code == 404
    assert client.get("/teams/no-such-team/audit/").status_code == 404


def test_an_anonymous_visitor_is_sent_to_log_in(client, team):
    response = client.get(page_url(team))

    assert response.status_code == 302
    assert response.url.startswith(reverse("portal:login"))
    assert "next=" in response.url


def test_the_team_page_links_to_the_trail(client, user, team):
    response = client_as(client, user).get(
        reverse("portal:team-detail", args=[team.slug])
    )

    assert f'href="{page_url(team)}"' in response.content.decode()


def test_owners_see_ip_and_user_agent_members_do_not(
    client, user, colleague, team, trail
):
    owner_page = client_as(client, user).get(page_url(team)).content.decode()
    member_page = client_as(client, colleague).get(page_url(team)).content.decode()

    assert IP in owner_page and USER_AGENT in owner_page
    assert IP not in member_page and USER_AGENT not in member_page


@pytest.fixture
def staff_event(team, user_factory, make_event):
    """An approval by a staff member who is not in the team."""
    staff = user_factory(password=None, email="ops@gatehouse.example", is_staff=True)
    return make_event(
        "subscription.approve",
        actor=staff,
        team=team,
        at=at(4),
        ip=STAFF_IP,
        data={"reason": "Looks fine"},
    )


def test_staff_actions_show_as_gatehouse_staff_without_client_details(
    client, user, team, trail, staff_event
):
    page = client_as(client, user).get(page_url(team)).content.decode()

    assert "Gatehouse staff" in page
    assert "reason: Looks fine" in page
    assert "ops@gatehouse.example" not in page
    assert STAFF_IP not in page


def test_a_staff_member_of_the_team_shows_by_name(
    client, user, team, user_factory, membership_factory, make_event
):
    insider = user_factory(password=None, email="insider@example.com", is_staff=True)
    membership_factory(user=insider, team=team, role=Role.MEMBER)
    make_event("app.create", actor=insider, team=team)

    page = client_as(client, user).get(page_url(team)).content.decode()

    assert "insider@example.com" in page
    assert "Gatehouse staff" not in page


# --- filters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"action": "team.member_add"}, ["team.member_add"]),
        ({"actor": "COLLEAGUE@"}, ["app.create"]),
        (
            {"since": "2026-03-02"},
            ["subscription.approve", "app.create", "team.member_add"],
        ),
        ({"until": "2026-03-02"}, ["team.member_add", "team.create"]),
        ({"since": "2026-03-02", "until": "2026-03-02"}, ["team.member_add"]),
        ({"actor": "colleague", "since": "2026-03-01", "until": "2026-03-02"}, []),
        ({"actor": "staff"}, ["subscription.approve"]),
    ],
)
def test_filters_narrow_the_list(
    client, user, team, trail, staff_event, query, expected
):
    response = client_as(client, user).get(page_url(team), query)

    assert response.status_code == 200
    assert shown_actions(response) == expected
    if not expected:
        assert "No events match these filters." in response.content.decode()


def test_an_actor_filter_cannot_find_staff_by_their_address(
    client, user, team, staff_event
):
    response = client_as(client, user).get(page_url(team), {"actor": "ops@gatehouse"})

    assert shown_actions(response) == []


def test_the_action_filter_offers_the_teams_actions(
    client, user, team, trail, other_team
):
    page = client_as(client, user).get(page_url(team)).content.decode()

    for action in ("app.create", "team.member_add", "team.create"):
        assert f'<option value="{action}">' in page
    assert page.count("<option") == 4  # "Any action" and the team's three


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"action": "user.login"}, "is not an action in this team"),
        ({"action": "<script>"}, "is not an action in this team"),
        ({"since": "2026-13-01"}, "Not a date. A day as YYYY-MM-DD (UTC)."),
        ({"until": "yesterday"}, "Not a date."),
        ({"since": "99999-01-01"}, "Not a date."),
        ({"since": "2026-03-03", "until": "2026-03-01"}, "before the start date"),
        ({"actor": "x" * 255}, "At most 254 characters."),
        ({"actor": "a\x00b"}, "Null characters are not allowed."),
        ({"page": "0"}, "Page numbers are whole numbers from 1."),
        ({"page": "two"}, "Page numbers are whole numbers from 1."),
        ({"format": "xml"}, "is not an export format"),
    ],
)
def test_bad_input_is_shown_on_the_page(client, user, team, trail, query, message):
    response = client_as(client, user).get(page_url(team), query)

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert message in page
    assert "Fix the filters above to see events." in page
    assert shown_actions(response) == []


def test_bad_input_sends_no_csv(client, user, team, trail):
    response = client_as(client, user).get(
        page_url(team), {"format": "csv", "since": "not-a-day"}
    )

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


def test_the_end_of_time_is_a_valid_end_date(client, user, team, trail):
    response = client_as(client, user).get(
        page_url(team), {"since": "0001-01-01", "until": "9999-12-31"}
    )

    assert response.status_code == 200
    assert len(shown_actions(response)) == 3


# --- pages --------------------------------------------------------------------------


@pytest.fixture
def many(user, team, make_event):
    for n in range(51):
        make_event("team.create", actor=user, team=team, at=at(1, 0), data={"n": n})


def test_events_come_fifty_to_a_page(client, user, team, many):
    client_as(client, user)

    first = client.get(page_url(team))
    second = client.get(page_url(team), {"page": "2"})

    assert len(shown_actions(first)) == 50
    assert "Page 1 of 2" in first.content.decode()
    assert 'href="?page=2" rel="next"' in first.content.decode()
    assert len(shown_actions(second)) == 1
    assert "n: 0" in second.content.decode()  # the oldest comes last


def test_a_page_past_the_end_shows_the_last_one(client, user, team, many):
    response = client_as(client, user).get(page_url(team), {"page": "9"})

    assert response.status_code == 200
    assert "There is no page 9; showing page 2." in response.content.decode()
    assert len(shown_actions(response)) == 1


# --- CSV ------------------------------------------------------------------------------


def test_the_csv_has_the_filtered_events_with_client_details_for_owners(
    client, user, team, trail
):
    rows = csv_of(
        client_as(client, user).get(
            page_url(team), {"format": "csv", "since": "2026-03-02"}
        )
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
    assert [row[1] for row in rows[1:]] == ["app.create", "team.member_add"]
    app_row = dict(zip(rows[0], rows[1], strict=True))
    assert app_row["time"] == "2026-03-03T12:00:00+00:00"
    assert app_row["actor"] == "colleague@example.com"
    assert app_row["team"] == team.slug
    assert app_row["target_type"] == "oauth.App"
    assert app_row["target"] == f"{team.slug}/shop"
    assert (app_row["ip"], app_row["user_agent"]) == (IP, USER_AGENT)
    assert app_row["details"] == "{}"


def test_a_members_csv_has_no_client_details(client, colleague, team, trail):
    rows = csv_of(client_as(client, colleague).get(page_url(team), {"format": "csv"}))

    assert "ip" not in rows[0] and "user_agent" not in rows[0]
    assert len(rows) == 4
    assert not any(IP in cell or USER_AGENT in cell for row in rows for cell in row)


def test_the_csv_masks_staff_as_the_page_does(client, user, team, staff_event):
    rows = csv_of(client_as(client, user).get(page_url(team), {"format": "csv"}))

    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["actor"] == "Gatehouse staff"
    assert (row["ip"], row["user_agent"]) == ("", "")
    assert "ops@gatehouse.example" not in str(rows)


def test_the_csv_never_starts_a_cell_with_a_formula(
    client, user, team, team_factory, make_event
):
    formula_team = team_factory(name='=HYPERLINK("http://evil.example")')
    make_event(
        "team.member_add",
        actor=user,
        team=team,
        target=formula_team,
        user_agent="@SUM(1+1)",
    )

    rows = csv_of(client_as(client, user).get(page_url(team), {"format": "csv"}))

    row = dict(zip(rows[0], rows[-1], strict=True))
    assert row["target"] == '\'=HYPERLINK("http://evil.example")'
    assert row["user_agent"] == "'@SUM(1+1)"


def test_an_event_in_the_trail_cannot_be_changed_from_the_page(
    client, user, team, trail
):
    # The page is read-only: it answers GET (and HEAD) and nothing else.
    client_as(client, user)
    for method in ("post", "put", "patch", "delete"):
        assert getattr(client, method)(page_url(team)).status_code == 405
    assert AuditEvent.objects.filter(team=team).count() == 3
