"""The staff overview at /staff/: who may open it, and that what it shows is
what happened, read off its tables the way a staff member reads them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse

from portal.accounts.models import Team, User
from portal.audit.models import AuditEvent
from portal.audit.services import record as audit_record
from portal.catalog.models import Subscription
from portal.catalog.services import (
    subscription_create_active,
    subscription_reject,
    subscription_request,
)
from portal.dashboard import views
from portal.oauth.models import App
from portal.usage.flushing import flush_once
from portal.usage.queries import RANGES, usage_report
from portal.usage.recorder import Call, record
from tests.staff import staff_login, totp_device

pytestmark = pytest.mark.django_db

URL = "/staff/"
BOOKS = "/api/books/v1/books/"
_request_ids = itertools.count()


# --- reading the page --------------------------------------------------------


@dataclass
class Cell:
    text: str
    href: str | None


class _Tables(HTMLParser):
    """Every body cell of every table with an id: its text and first link."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[Cell]]] = {}
        self._table = self._row = self._text = None
        self._href: str | None = None
        self._in_head = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id"):
            self._table = self.tables.setdefault(attrs["id"], [])
        elif tag == "thead":
            self._in_head = True
        elif tag == "tr" and self._table is not None and not self._in_head:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._text, self._href = [], None
        elif tag == "a" and self._text is not None and self._href is None:
            self._href = attrs.get("href")

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag == "thead":
            self._in_head = False
        elif tag == "tr" and self._row is not None:
            self._table.append(self._row)
            self._row = None
        elif tag in ("td", "th") and self._text is not None:
            self._row.append(Cell(" ".join("".join(self._text).split()), self._href))
            self._text = None

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)


def tables(response) -> dict[str, list[list[Cell]]]:
    parser = _Tables()
    parser.feed(response.content.decode())
    return parser.tables


def texts(rows: list[list[Cell]]) -> list[list[str]]:
    return [[cell.text for cell in row] for row in rows]


def change_url(model, pk) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk])


def changelist_url(model) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")


def redirected_to(response) -> tuple[str, str]:
    """Where a redirect goes: its path and its ``next``."""
    location = urlsplit(response["Location"])
    return location.path, parse_qs(location.query)["next"][0]


def pct(part: int, whole: int) -> str:
    return str(round(100 * part / whole, 1))


# --- who may open it -----------------------------------------------------------


@pytest.fixture
def staff(user_factory):
    return user_factory(password=None, is_staff=True, is_superuser=True)


@pytest.fixture
def staff_client(client, staff):
    staff_login(client, staff)
    return client


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(URL)

    assert response.status_code == 302
    assert redirected_to(response) == (reverse("portal:login"), URL)


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_developer_is_told_there_is_no_such_page(client, developer, method):
    client.force_login(developer)

    response = getattr(client, method)(URL)

    assert response.status_code == 404
    assert "Staff overview" not in response.content.decode()


def test_staff_without_a_second_factor_are_sent_to_set_one_up(client, staff):
    client.force_login(staff)

    response = client.get(URL)

    assert response.status_code == 302
    assert redirected_to(response) == (reverse("portal:twofactor-setup"), URL)


def test_staff_who_have_not_verified_this_session_are_sent_to_verify(client, staff):
    totp_device(staff)
    client.force_login(staff)

    response = client.get(URL)

    assert response.status_code == 302
    assert redirected_to(response) == (reverse("portal:twofactor-verify"), URL)


def test_verified_staff_see_the_overview(staff_client):
    response = staff_client.get(reverse("dashboard:overview"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Staff overview</h1>" in html
    assert "max-age=0" in response["Cache-Control"]
    # Charts drawn by the static script from the embedded numbers (strict CSP).
    assert 'id="usage-series" type="application/json"' in html
    assert "js/usage-charts.js" in html
    assert 'data-usage-chart="error_rate"' in html


def test_the_overview_is_read_only(staff_client):
    assert staff_client.post(URL).status_code == 405


def test_staff_find_the_overview_from_the_portal_and_the_admin(staff_client):
    portal_page = staff_client.get(reverse("portal:dashboard")).content.decode()
    admin_page = staff_client.get(reverse("admin:index")).content.decode()

    assert f'href="{URL}">Staff</a>' in portal_page
    assert f'href="{URL}">Staff overview</a>' in admin_page


def test_developers_get_no_staff_link(client, developer):
    client.force_login(developer)

    page = client.get(reverse("portal:dashboard")).content.decode()

    assert f'href="{URL}"' not in page


# --- the numbers ---------------------------------------------------------------


def call(at: datetime, app: App | None, status: int = 200) -> Call:
    return Call(
        at=at.timestamp(),
        team_id=app.team_id if app else 0,
        app_id=app.pk if app else 0,
        key_id=0,
        token_id=0,
        key_lookup_id="",
        credential="",
        api="books",
        route=BOOKS,
        method="GET",
        status=status,
        latency_ms=20.0,
        response_bytes=100,
        client_ip="203.0.113.9",
        request_id=f"req-{next(_request_ids)}",
        reason=None,
    )


@dataclass
class Traffic:
    busy: App
    small: App
    failing: App


@pytest.fixture
def traffic(app_factory, team_factory, stopped_clock) -> Traffic:
    """Calls recorded through portal.usage and flushed, at hand-picked times.

    Now: busy 5 x 200, 2 x 429, 1 x 500; small 3 x 200, 1 x 404; and one 401
    of no app at all. Three hours ago: busy 2 x 200, failing 4 x 503. Three
    days ago: small 7 x 200. Forty days ago (in no range): busy 10 x 200.
    """
    busy = app_factory(team=team_factory(name="Busy team"), name="Busy")
    small = app_factory(team=team_factory(name="Small team"), name="Small")
    failing = app_factory(team=team_factory(name="Failing team"), name="Failing")
    now = stopped_clock
    plan = [
        (now, busy, 200, 5),
        (now, busy, 429, 2),
        (now, busy, 500, 1),
        (now, small, 200, 3),
        (now, small, 404, 1),
        (now, None, 401, 1),
        (now - timedelta(hours=3), busy, 200, 2),
        (now - timedelta(hours=3), failing, 503, 4),
        (now - timedelta(days=3), small, 200, 7),
        (now - timedelta(days=40), busy, 200, 10),
    ]
    for at, app, status, times in plan:
        for _ in range(times):
            record(call(at, app, status))
    assert flush_once().calls == sum(times for *_, times in plan)
    return Traffic(busy=busy, small=small, failing=failing)


# range: calls, 4xx, 5xx, 429
EXPECTED_TOTALS = {
    "1h": (13, 4, 1, 2),
    "24h": (19, 4, 5, 2),
    "7d": (26, 4, 5, 2),
    "30d": (26, 4, 5, 2),
}


@pytest.mark.parametrize("range_name", list(RANGES))
def test_the_charts_tables_show_the_calls_recorded(staff_client, traffic, range_name):
    response = staff_client.get(URL, {"range": range_name})

    assert response.status_code == 200
    page = tables(response)
    calls, e4, e5, throttled = EXPECTED_TOTALS[range_name]
    assert texts(page["totals-table"]) == [
        [str(calls), str(e4), str(e5), pct(e4 + e5, calls), str(throttled)]
    ]
    periods = RANGES[range_name][0]
    for table_id in ("calls-table", "rate-table", "errors-table"):
        assert len(page[table_id]) == periods, table_id
    assert sum(int(row[1].text) for row in page["calls-table"]) == calls
    errors = texts(page["errors-table"])
    assert [sum(int(row[i]) for row in errors) for i in (1, 2, 3)] == [
        e4,
        e5,
        throttled,
    ]
    # Row for row the report every usage page and the API answer from.
    report = usage_report(range_name)
    fmt = "%Y-%m-%d" if report.granularity == "d" else "%Y-%m-%d %H:%M"
    expected_rates = []
    for point in report.points:
        errors_in = point.errors_4xx + point.errors_5xx
        expected_rates.append(
            [
                point.start.strftime(fmt),
                str(point.calls),
                str(errors_in),
                pct(errors_in, point.calls) if point.calls else "—",
            ]
        )
    assert texts(page["rate-table"]) == expected_rates
    assert texts(page["calls-table"]) == [row[:2] for row in expected_rates]
    # The same numbers go to the charts.
    series = response.context["series"]
    assert sum(series["calls"]) == calls
    assert sum(series["throttled"]) == throttled
    assert len(series["labels"]) == len(series["error_rate_pct"]) == periods
    assert [r for r in series["error_rate_pct"] if r is not None] == [
        float(row[3]) for row in expected_rates if row[3] != "—"
    ]


def test_the_last_hour_shows_now_per_minute(staff_client, traffic, stopped_clock):
    page = tables(staff_client.get(URL, {"range": "1h"}))

    last = page["rate-table"][-1]
    assert last[0].text == stopped_clock.strftime("%Y-%m-%d %H:%M")
    assert [c.text for c in last[1:]] == ["13", "5", pct(5, 13)]
    assert {row[3].text for row in page["rate-table"][:-1]} == {"—"}


def app_row(app: App, calls: int, errors: int) -> list[str]:
    return [
        f"{app.name} {app.qualified_slug}",
        app.team.name,
        str(calls),
        str(errors),
        pct(errors, calls),
    ]


def test_top_apps_by_calls_and_by_errors(staff_client, traffic):
    busy, small, failing = traffic.busy, traffic.small, traffic.failing

    day = tables(staff_client.get(URL, {"range": "24h"}))
    week = tables(staff_client.get(URL, {"range": "7d"}))

    # Ties (small and failing: 4 calls each) go by app id; the 401 of no app
    # counts in the totals but is nobody's top app.
    assert texts(day["top-calls-table"]) == [
        app_row(busy, 10, 3),
        app_row(small, 4, 1),
        app_row(failing, 4, 4),
    ]
    assert texts(day["top-errors-table"]) == [
        app_row(failing, 4, 4),
        app_row(busy, 10, 3),
        app_row(small, 4, 1),
    ]
    assert texts(week["top-calls-table"])[:2] == [
        app_row(small, 11, 1),
        app_row(busy, 10, 3),
    ]
    # Each app and its team link to their admin pages.
    for row, app in zip(day["top-calls-table"], [busy, small, failing], strict=True):
        assert row[0].href == change_url(App, app.pk)
        assert row[1].href == change_url(Team, app.team_id)


def test_an_app_deleted_since_is_still_counted(staff_client, traffic):
    app_id = traffic.failing.pk
    traffic.failing.delete()

    page = tables(staff_client.get(URL))

    row = texts(page["top-errors-table"])[0]
    assert row == [f"App #{app_id} (deleted)", "—", "4", "4", "100.0"]


def test_with_no_calls_the_page_says_so(staff_client):
    response = staff_client.get(URL)

    html = response.content.decode()
    assert texts(tables(response)["totals-table"]) == [["0", "0", "0", "—", "0"]]
    assert "No calls in this range." in html
    assert "No app made calls in this range." in html
    assert "No app had errors in this range." in html


# --- bad input -----------------------------------------------------------------


@pytest.mark.parametrize("bad", ["2d", " 24h", "<script>", "x" * 300, "7D"])
def test_an_unknown_range_falls_back_to_24_hours_with_a_message(
    staff_client, traffic, bad
):
    response = staff_client.get(URL, {"range": bad})

    assert response.status_code == 200
    assert response.context["report"].range == "24h"
    assert texts(tables(response)["totals-table"])[0][0] == "19"
    html = response.content.decode()
    assert "is not a range: choose 1h, 24h, 7d, 30d." in html
    assert "Showing the last 24 hours instead." in html
    assert "<script>" not in html.split("<main", 1)[1].split("</main>")[0]


def test_an_empty_range_is_the_default_not_a_mistake(staff_client):
    response = staff_client.get(URL, {"range": ""})

    assert response.status_code == 200
    assert response.context["report"].range == "24h"
    assert "is not a range" not in response.content.decode()


def test_a_repeated_range_uses_the_last_one(staff_client, traffic):
    response = staff_client.get(f"{URL}?range=1h&range=7d")

    assert response.status_code == 200
    assert response.context["report"].range == "7d"


# --- what waits for staff, what happened ---------------------------------------


@pytest.fixture
def requests_waiting(app_factory, team_factory, catalog, starter_plan, developer):
    """A new request for Business, a change from Starter to Business, and two
    that wait for nothing (an active subscription, a rejected request)."""
    business = catalog.plans.get(slug="business")
    team = team_factory(name="Waiting team")
    new = subscription_request(app=app_factory(team=team, name="New"), plan=business)
    change_app = app_factory(team=team, name="Changing")
    subscription_create_active(app=change_app, plan=starter_plan)
    change = subscription_request(app=change_app, plan=business)
    subscription_create_active(app=app_factory(team=team), plan=starter_plan)
    rejected = subscription_request(app=app_factory(team=team), plan=business)
    subscription_reject(subscription=rejected, actor=developer, reason="No.")
    return new, change


def test_waiting_subscription_requests_link_to_their_decision(
    staff_client, requests_waiting
):
    new, change = requests_waiting

    response = staff_client.get(URL)

    rows = tables(response)["awaiting-table"]
    assert [row[:3] for row in texts(rows)] == [
        [str(new.app), "Books", "New subscription to Business"],
        [str(change.app), "Books", "Change from Starter to Business"],
    ]
    assert [row[0].href for row in rows] == [
        change_url(Subscription, new.pk),
        change_url(Subscription, change.pk),
    ]
    html = response.content.decode()
    assert "2 awaiting." in html
    queue = f"{changelist_url(Subscription)}?awaiting=yes"
    assert f'href="{queue}">Decide in the admin</a>' in html
    # The link opens the admin's queue with exactly these two.
    admin_page = staff_client.get(queue)
    assert admin_page.status_code == 200
    assert {sub.pk for sub in admin_page.context["cl"].result_list} == {
        new.pk,
        change.pk,
    }


def test_a_long_queue_lists_the_oldest_and_counts_them_all(
    staff_client, app_factory, catalog
):
    business = catalog.plans.get(slug="business")
    start = datetime(2025, 1, 1, 12, tzinfo=UTC)
    count = views.LIST_SIZE + 2
    subs = [
        subscription_request(app=app_factory(), plan=business) for _ in range(count)
    ]
    # Requested in another order than created: the oldest request comes first.
    minutes = {sub.pk: (5 * n + 3) % count for n, sub in enumerate(subs)}
    for sub in subs:
        Subscription.objects.filter(pk=sub.pk).update(
            created_at=start + timedelta(minutes=minutes[sub.pk])
        )
    subs.sort(key=lambda sub: minutes[sub.pk])

    response = staff_client.get(URL)

    rows = texts(tables(response)["awaiting-table"])
    assert [row[0] for row in rows] == [str(s.app) for s in subs[: views.LIST_SIZE]]
    assert rows[0][3] == "2025-01-01 12:00"
    assert (
        f"{count} awaiting; the {views.LIST_SIZE} oldest are listed."
        in response.content.decode()
    )


def test_nothing_waiting_says_so(staff_client):
    html = staff_client.get(URL).content.decode()

    assert "Nothing is waiting for a decision." in html


def test_the_newest_sign_ups_come_first_with_their_state(
    staff_client, staff, user_factory
):
    joined = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
    old = user_factory(email="old@example.com", date_joined=joined)
    unverified = user_factory(
        email="unverified@example.com",
        name="",
        email_verified_at=None,
        date_joined=joined + timedelta(days=1),
    )
    careful = user_factory(
        email="careful@example.com", date_joined=joined + timedelta(days=2)
    )
    totp_device(careful)
    suspended = user_factory(
        email="gone@example.com",
        is_active=False,
        date_joined=joined + timedelta(days=3),
    )
    User.objects.filter(pk=staff.pk).update(date_joined=joined - timedelta(days=1))

    rows = tables(staff_client.get(URL))["signups-table"]

    assert texts(rows) == [
        [
            suspended.email,
            suspended.name,
            "2025-03-04 09:30",
            "Yes",
            "Off",
            "Suspended",
        ],
        [careful.email, careful.name, "2025-03-03 09:30", "Yes", "On", "Active"],
        [unverified.email, "—", "2025-03-02 09:30", "No", "Off", "Active"],
        [old.email, old.name, "2025-03-01 09:30", "Yes", "Off", "Active"],
        [staff.email, staff.name, "2025-02-28 09:30", "Yes", "On", "Superuser"],
    ]
    assert [row[0].href for row in rows] == [
        change_url(User, u.pk) for u in (suspended, careful, unverified, old, staff)
    ]


def test_recent_audit_events_newest_first_linking_to_the_trail(
    staff_client, staff, developer, developer_team, time_machine
):
    real_now = datetime.now(tz=UTC)
    at = datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC)
    time_machine.move_to(at, tick=False)
    first = audit_record(action="team.create", actor=developer, team=developer_team)
    time_machine.move_to(at + timedelta(seconds=1), tick=False)
    second = audit_record(
        action="key.revoke", actor=staff, team=developer_team, target=developer_team
    )
    time_machine.move_to(real_now)
    staff_login(staff_client, staff)

    response = staff_client.get(URL)

    rows = tables(response)["events-table"]
    # Logging in writes events of its own (now): the page shows the newest.
    newest = list(AuditEvent.objects.order_by("-created_at", "-id")[: views.LIST_SIZE])
    assert [row[1].text for row in rows] == [event.action for event in newest]
    assert [row[1].href for row in rows] == [
        change_url(AuditEvent, event.pk) for event in newest
    ]
    mine = [row for row in texts(rows) if row[0].startswith("2025-05-06")]
    assert mine == [
        [
            "2025-05-06 07:08:10",
            "key.revoke",
            staff.email,
            developer_team.name,
            developer_team.name,
            "—",
        ],
        [
            "2025-05-06 07:08:09",
            "team.create",
            developer.email,
            developer_team.name,
            "—",
            "—",
        ],
    ]
    assert second in newest and first in newest
    assert f'href="{changelist_url(AuditEvent)}"' in response.content.decode()


# --- links into the admin --------------------------------------------------------


def test_a_model_the_admin_does_not_know_gets_no_link(staff):
    from django.contrib.sessions.models import Session

    assert views.AdminLinks(staff).change(Session, "x") is None
    assert views.AdminLinks(staff).changelist(Session) is None


def test_an_unregistered_model_does_not_break_the_page(
    staff_client, requests_waiting, monkeypatch
):
    real_reverse = views.reverse

    def reverse_without_subscriptions(name, *args, **kwargs):
        if name.startswith("admin:catalog_subscription"):
            raise NoReverseMatch(name)
        return real_reverse(name, *args, **kwargs)

    monkeypatch.setattr(views, "reverse", reverse_without_subscriptions)

    response = staff_client.get(URL)

    assert response.status_code == 200
    rows = tables(response)["awaiting-table"]
    assert len(rows) == 2
    assert {row[0].href for row in rows} == {None}
    assert "Decide in the admin" not in response.content.decode()


def test_staff_see_links_only_to_what_they_may_view(
    client, user_factory, requests_waiting, traffic
):
    clerk = user_factory(password=None, is_staff=True)
    clerk.user_permissions.add(
        Permission.objects.get(
            content_type__app_label="catalog", codename="view_subscription"
        )
    )
    staff_login(client, clerk)

    page = tables(client.get(URL))

    assert {row[0].href for row in page["awaiting-table"]} == {
        change_url(Subscription, sub.pk) for sub in requests_waiting
    }
    # Numbers and names still shown; apps, teams and users not linked.
    assert texts(page["top-calls-table"])[0][2] == "10"
    assert {cell.href for row in page["top-calls-table"] for cell in row} == {None}
    assert {row[0].href for row in page["signups-table"]} == {None}


# --- cost --------------------------------------------------------------------------


def grow(app_factory, user_factory, team_factory, business, n: int, at) -> None:
    """n more apps (with calls, errors and a waiting request), users and events."""
    team = team_factory()
    for _ in range(n):
        app = app_factory(team=team)
        subscription_request(app=app, plan=business)
        for status in (200, 200, 500):
            record(call(at, app, status))
        user = user_factory(password=None)
        totp_device(user)
        audit_record(action="test.event", actor=user, team=team, target=app)
    flush_once()


def test_the_page_costs_the_same_few_queries_however_big_the_platform(
    staff_client, app_factory, user_factory, team_factory, catalog, stopped_clock
):
    business = catalog.plans.get(slug="business")
    grow(app_factory, user_factory, team_factory, business, 1, stopped_clock)
    staff_client.get(URL)  # warm up: content types, URL resolvers

    def queries(range_name: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get(URL, {"range": range_name}).status_code == 200
        return len(captured)

    small = {name: queries(name) for name in RANGES}
    grow(app_factory, user_factory, team_factory, business, 25, stopped_clock)
    big = {name: queries(name) for name in RANGES}

    assert big == small
    # Session, user, OTP device, the navigation's teams and apps; report, top
    # apps, their names; the queue and its count; sign-ups; events.
    assert max(big.values()) <= 12
    page = tables(staff_client.get(URL))
    assert len(page["top-calls-table"]) == views.LIST_SIZE
    assert len(page["awaiting-table"]) == views.LIST_SIZE
    assert len(page["signups-table"]) == views.LIST_SIZE
    assert len(page["events-table"]) == views.LIST_SIZE
