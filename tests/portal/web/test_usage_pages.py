"""The usage pages of a team, an app and a key, their CSV export and an app's
recent-calls log, checked against calls really made through the Books API."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from portal.catalog.services import subscription_create_active
from portal.keys.services import api_key_revoke
from portal.usage.flushing import flush_once
from portal.usage.models import RecentCall
from portal.usage.queries import RANGES, csv_rows, usage_report
from tests.apis.assertions import assert_problem

BOOKS = "/api/books/v1/books/"


# --- reading the page --------------------------------------------------------


class _Tables(HTMLParser):
    """The text of every cell of every table with an id, row by row."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: list[list[str]] | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
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
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag == "thead":
            self._in_head = False
        elif tag == "tr" and self._row is not None:
            self._table.append(self._row)
            self._row = None
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def tables(response) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(response.content.decode())
    return parser.tables


def ms(value: float | None) -> str:
    return "—" if value is None else str(value)


def expected_tables(report) -> dict[str, list[list[str]]]:
    """What the page's tables must say: the report's numbers, row for row."""
    fmt = "%Y-%m-%d" if report.granularity == "d" else "%Y-%m-%d %H:%M"
    labels = [p.start.strftime(fmt) for p in report.points]
    t = report.totals
    return {
        "totals-table": [
            [
                str(t.calls),
                str(t.errors_4xx),
                str(t.errors_5xx),
                str(t.throttled),
                ms(t.p50_ms),
                ms(t.p95_ms),
            ]
        ],
        "calls-table": [
            [label, str(p.calls)]
            for label, p in zip(labels, report.points, strict=True)
        ],
        "errors-table": [
            [label, str(p.errors_4xx), str(p.errors_5xx), str(p.throttled)]
            for label, p in zip(labels, report.points, strict=True)
        ],
        "latency-table": [
            [label, ms(p.p50_ms), ms(p.p95_ms)]
            for label, p in zip(labels, report.points, strict=True)
        ],
    }


def column_sum(rows: list[list[str]], index: int) -> int:
    return sum(int(row[index]) for row in rows)


# --- the calls behind the pages ----------------------------------------------


@dataclass
class Traffic:
    revoked_key: object
    revoked_request_id: str
    throttled_request_id: str
    not_found_request_id: str
    second_app: object
    other_app: object
    other_key: object


@pytest.fixture
def dev_client(client, developer):
    client.force_login(developer)
    return client


@pytest.fixture
def traffic(
    api_client,
    books_app,
    issue_key,
    app_factory,
    developer_team,
    team_factory,
    starter_plan,
    stopped_clock,
) -> Traffic:
    """Real calls through the Books API, flushed into the usage tables.

    Reader (``books_app``): 4 x 200, a 404, a 429 (5/m used up), and a 401 of
    a revoked key: 7 calls, 3 of them 4xx. Writer, the team's second app: 2 x
    200. Another team's app: 3 x 200. The clock is stopped so the per-minute
    limit window cannot roll over between calls.
    """
    plan = books_app.subscription.plan
    plan.rate_tiers = ["5/m"]
    plan.monthly_quota = None
    plan.save()

    def get(key: str, path: str = BOOKS):
        return api_client.get(path, HTTP_X_API_KEY=key)

    for _ in range(4):
        assert get(books_app.full_key).status_code == 200
    not_found = get(books_app.full_key, BOOKS + "999999/")
    assert not_found.status_code == 404
    throttled = get(books_app.full_key)
    assert_problem(throttled, 429, "rate_limited")
    revoked = issue_key(books_app.app, name="Old key")
    api_key_revoke(key=revoked.key, reason="leaked")
    refused = get(revoked.full_key)
    assert_problem(refused, 401, "key_revoked")

    writer = app_factory(team=developer_team, name="Writer", slug="writer")
    subscription_create_active(app=writer, plan=starter_plan)
    writer_key = issue_key(writer)
    for _ in range(2):
        assert get(writer_key.full_key).status_code == 200

    other_app = app_factory(team=team_factory(slug="team-x"), slug="spy")
    subscription_create_active(app=other_app, plan=starter_plan)
    other_key = issue_key(other_app, actor=None)
    for _ in range(3):
        assert get(other_key.full_key).status_code == 200

    assert flush_once().calls == 7 + 2 + 3
    return Traffic(
        revoked_key=revoked.key,
        revoked_request_id=refused["Request-Id"],
        throttled_request_id=throttled["Request-Id"],
        not_found_request_id=not_found["Request-Id"],
        second_app=writer,
        other_app=other_app,
        other_key=other_key.key,
    )


def app_url(name: str, app, *args) -> str:
    return reverse(f"portal:{name}", args=[app.team.slug, app.slug, *args])


# --- the numbers -------------------------------------------------------------


@pytest.mark.parametrize("range_name", list(RANGES))
def test_app_page_shows_the_calls_made(dev_client, books_app, traffic, range_name):
    response = dev_client.get(
        app_url("app-usage", books_app.app), {"range": range_name}
    )

    assert response.status_code == 200
    page = tables(response)
    totals = page["totals-table"][0]
    assert totals[:4] == ["7", "3", "0", "1"]  # calls, 4xx, 5xx, 429
    assert float(totals[4]) <= float(totals[5])  # p50 <= p95
    assert column_sum(page["calls-table"], 1) == 7
    errors = page["errors-table"]
    assert [column_sum(errors, i) for i in (1, 2, 3)] == [3, 0, 1]
    assert len(page["calls-table"]) == RANGES[range_name][0]
    # Row for row what the management API answers from, and answers.
    expected = expected_tables(usage_report(range_name, app_id=books_app.app.pk))
    for table_id, rows in expected.items():
        assert page[table_id] == rows, table_id
    api = dev_client.get(
        f"/api/manage/v1/apps/{books_app.app.pk}/usage/", {"range": range_name}
    ).json()
    columns = ("calls", "errors_4xx", "errors_5xx", "throttled", "p50_ms", "p95_ms")
    assert page["totals-table"][0] == [ms(api["totals"][name]) for name in columns]
    assert [row[1:] for row in page["calls-table"]] == [
        [str(point["calls"])] for point in api["series"]
    ]
    assert [row[1:] for row in page["errors-table"]] == [
        [str(point[name]) for name in ("errors_4xx", "errors_5xx", "throttled")]
        for point in api["series"]
    ]
    assert [row[1:] for row in page["latency-table"]] == [
        [ms(point["p50_ms"]), ms(point["p95_ms"])] for point in api["series"]
    ]
    assert page["endpoints-table"] == [
        ["books", "GET", "/api/books/v1/books/", "6", "2"],
        ["books", "GET", "/api/books/v1/books/<int:book_id>/", "1", "1"],
    ]
    # The same numbers go to the charts, through json_script.
    series = response.context["series"]
    assert sum(series["calls"]) == 7
    assert sum(series["throttled"]) == 1
    assert len(series["labels"]) == len(series["calls"]) == RANGES[range_name][0]


def test_team_page_adds_up_the_teams_apps_and_no_one_elses(
    dev_client, developer_team, traffic
):
    response = dev_client.get(reverse("portal:team-usage", args=[developer_team.slug]))

    assert response.status_code == 200
    page = tables(response)
    assert page["totals-table"][0][:4] == ["9", "3", "0", "1"]
    expected = expected_tables(usage_report("24h", team_id=developer_team.pk))
    assert page["calls-table"] == expected["calls-table"]
    html = response.content.decode()
    assert app_url("app-usage", traffic.second_app) in html
    assert "spy" not in html


def test_key_pages_show_each_keys_own_calls(dev_client, books_app, traffic):
    response = dev_client.get(
        app_url("key-usage", books_app.app, books_app.key.lookup_id)
    )
    assert response.status_code == 200
    assert tables(response)["totals-table"][0][:4] == ["6", "2", "0", "1"]
    assert len(tables(response)["calls-log"]) == 6  # only this key's calls

    revoked = dev_client.get(
        app_url("key-usage", books_app.app, traffic.revoked_key.lookup_id)
    )
    assert revoked.status_code == 200
    page = tables(revoked)
    assert page["totals-table"][0][:4] == ["1", "1", "0", "0"]
    [logged] = page["calls-log"]
    assert logged[3] == "401"
    assert logged[6] == traffic.revoked_request_id
    assert "key_revoked" in logged[7]


def test_app_page_lists_the_latest_calls_with_why_they_were_refused(
    dev_client, books_app, traffic
):
    response = dev_client.get(app_url("app-usage", books_app.app))

    log = tables(response)["calls-log"]
    assert [row[3] for row in log] == ["401", "429", "404", "200", "200", "200", "200"]
    revoked, throttled = log[0], log[1]
    assert revoked[5] == traffic.revoked_key.lookup_id
    assert revoked[6] == traffic.revoked_request_id
    assert "key_revoked" in revoked[7]
    assert throttled[6] == traffic.throttled_request_id
    assert "rate_limited" in throttled[7]
    assert "Limit 5/m: 5 of 5 used" in throttled[7]
    assert "Resets in" in throttled[7]
    assert (revoked[1], revoked[2]) == ("GET", "/api/books/v1/books/")


def test_with_no_calls_the_page_says_so(dev_client, books_app):
    response = dev_client.get(app_url("app-usage", books_app.app))

    assert response.status_code == 200
    assert tables(response)["totals-table"] == [["0", "0", "0", "0", "—", "—"]]
    assert "No calls in this range." in response.content.decode()
    assert "No calls logged." in response.content.decode()


# --- CSV ---------------------------------------------------------------------


def read_csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode())))


def as_text(rows: list[list]) -> list[list[str]]:
    return [[str(value) for value in row] for row in rows]


@pytest.mark.parametrize("range_name", ["1h", "7d"])
def test_csv_export_is_the_reports_rows(dev_client, books_app, traffic, range_name):
    team_slug = books_app.app.team.slug
    response = dev_client.get(
        app_url("app-usage", books_app.app), {"range": range_name, "format": "csv"}
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="usage-{team_slug}-reader-{range_name}.csv"'
    )
    rows = read_csv(response)
    report = usage_report(range_name, app_id=books_app.app.pk)
    assert rows == as_text(csv_rows(report))
    assert rows[0] == [
        "start",
        "calls",
        "errors_4xx",
        "errors_5xx",
        "throttled",
        "p50_ms",
        "p95_ms",
    ]
    assert sum(int(row[1]) for row in rows[1:]) == 7
    assert sum(int(row[4]) for row in rows[1:]) == 1


def test_csv_export_of_a_team_and_a_key(dev_client, books_app, developer_team, traffic):
    team = dev_client.get(
        reverse("portal:team-usage", args=[developer_team.slug]), {"format": "csv"}
    )
    assert read_csv(team) == as_text(
        csv_rows(usage_report("24h", team_id=developer_team.pk))
    )
    assert sum(int(row[1]) for row in read_csv(team)[1:]) == 9

    key = dev_client.get(
        app_url("key-usage", books_app.app, books_app.key.lookup_id),
        {"format": "csv", "range": "30d"},
    )
    assert key["Content-Disposition"].startswith("attachment;")
    assert read_csv(key) == as_text(
        csv_rows(usage_report("30d", key_id=books_app.key.pk))
    )


def test_every_usage_page_links_its_csv(dev_client, books_app, traffic):
    response = dev_client.get(app_url("app-usage", books_app.app), {"range": "7d"})
    assert 'href="?range=7d&amp;format=csv"' in response.content.decode()


# --- bad input ---------------------------------------------------------------


@pytest.mark.parametrize("bad", ["2d", "", " 24h", "<script>", "x" * 300])
def test_an_unknown_range_falls_back_to_24_hours_with_a_message(
    dev_client, books_app, traffic, bad
):
    response = dev_client.get(app_url("app-usage", books_app.app), {"range": bad})

    assert response.status_code == 200
    assert response.context["report"].range == "24h"
    assert tables(response)["totals-table"][0][:4] == ["7", "3", "0", "1"]
    html = response.content.decode()
    if bad:
        assert "is not a range: choose 1h, 24h, 7d, 30d." in html
        assert "Showing the last 24 hours instead." in html
    else:  # an empty range is the default, not a mistake
        assert "is not a range" not in html
    if bad == "<script>":
        assert "“&lt;script&gt;” is not a range" in html


def test_a_csv_of_an_unknown_range_is_refused_not_swapped(
    dev_client, books_app, traffic
):
    response = dev_client.get(
        app_url("app-usage", books_app.app), {"range": "2d", "format": "csv"}
    )

    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert "“2d” is not a range" in response.content.decode()


def test_an_unknown_format_is_a_message(dev_client, books_app):
    response = dev_client.get(
        app_url("app-usage", books_app.app), {"format": "xlsx", "range": "7d"}
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "“xlsx” is not an export format: use csv." in html
    assert response.context["report"].range == "7d"  # the range was fine
    assert "instead" not in html


# --- the recent-calls log ----------------------------------------------------


def log_rows(response) -> list[list[str]]:
    return tables(response).get("calls-log", [])


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("429", ["429"]),
        ("4xx", ["401", "429", "404"]),
        ("4XX", ["401", "429", "404"]),
        (" 404 ", ["404"]),
        ("2xx", ["200"] * 4),
        ("200", ["200"] * 4),
        ("5xx", []),
        ("", ["401", "429", "404", "200", "200", "200", "200"]),
    ],
)
def test_log_search_by_status(dev_client, books_app, traffic, status, expected):
    response = dev_client.get(app_url("app-calls", books_app.app), {"status": status})

    assert response.status_code == 200
    assert [row[3] for row in log_rows(response)] == expected
    if not expected:
        assert "No calls logged match this search." in response.content.decode()


def test_log_search_by_request_id(dev_client, books_app, traffic):
    response = dev_client.get(
        app_url("app-calls", books_app.app),
        {"request_id": f"  {traffic.throttled_request_id} "},
    )

    [row] = log_rows(response)
    assert row[6] == traffic.throttled_request_id
    assert row[3] == "429"
    assert "rate_limited" in row[7]

    # Filters combine: that id is not a 2xx.
    response = dev_client.get(
        app_url("app-calls", books_app.app),
        {"request_id": traffic.throttled_request_id, "status": "2xx"},
    )
    assert log_rows(response) == []


def test_log_search_by_key(dev_client, books_app, traffic):
    response = dev_client.get(
        app_url("app-calls", books_app.app), {"key": traffic.revoked_key.lookup_id}
    )

    [row] = log_rows(response)
    assert row[6] == traffic.revoked_request_id


def test_another_apps_calls_are_not_in_the_log(dev_client, books_app, traffic):
    other_ids = set(
        RecentCall.objects.filter(app_id=traffic.other_app.pk).values_list(
            "request_id", flat=True
        )
    )
    assert len(other_ids) == 3
    response = dev_client.get(app_url("app-calls", books_app.app))
    assert {row[6] for row in log_rows(response)}.isdisjoint(other_ids)
    for request_id in other_ids:
        response = dev_client.get(
            app_url("app-calls", books_app.app), {"request_id": request_id}
        )
        assert log_rows(response) == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"status": "abc"}, "Enter an HTTP status code (100 to 599)"),
        ({"status": "600"}, "Enter an HTTP status code (100 to 599)"),
        ({"status": "4x"}, "Enter an HTTP status code (100 to 599)"),
        ({"status": "44xx"}, "Enter an HTTP status code (100 to 599)"),
        ({"status": "٤٠٤"}, "Enter an HTTP status code (100 to 599)"),
        ({"request_id": "../../etc/passwd"}, "Not a request id."),
        ({"request_id": "a" * 65}, "Not a request id: at most 64 characters."),
        ({"key": "nope"}, "Select a valid choice."),
        ({"page": "0"}, "Page numbers are whole numbers from 1."),
        ({"page": "two"}, "Page numbers are whole numbers from 1."),
    ],
)
def test_bad_log_searches_are_explained(dev_client, books_app, traffic, query, message):
    response = dev_client.get(app_url("app-calls", books_app.app), query)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert log_rows(response) == []


@pytest.fixture
def many_calls(books_app):
    """120 logged calls (newest: request id r119)."""
    now = datetime.now(UTC)
    RecentCall.objects.bulk_create(
        RecentCall(
            app_id=books_app.app.pk,
            at=now,
            request_id=f"r{i}",
            method="GET",
            api="books",
            route="/api/books/v1/books/",
            status=200 if i % 2 else 404,
            latency_ms=1.5,
        )
        for i in range(120)
    )


def test_the_log_is_paginated(dev_client, books_app, many_calls):
    url = app_url("app-calls", books_app.app)

    first = dev_client.get(url)
    rows = log_rows(first)
    assert len(rows) == 50
    assert rows[0][6] == "r119"
    assert "1–50 of 120" in first.content.decode()
    assert 'href="?page=2"' in first.content.decode()

    last = dev_client.get(url, {"page": "3"})
    assert [row[6] for row in log_rows(last)] == [f"r{i}" for i in range(19, -1, -1)]

    # Pages keep the search.
    searched = dev_client.get(url, {"status": "404"})
    assert len(log_rows(searched)) == 50
    assert 'href="?status=404&amp;page=2"' in searched.content.decode()


def test_a_page_past_the_end_shows_the_last_page_with_a_notice(
    dev_client, books_app, many_calls
):
    response = dev_client.get(app_url("app-calls", books_app.app), {"page": "99"})

    assert response.status_code == 200
    assert "There is no page 99; showing page 3." in response.content.decode()
    assert len(log_rows(response)) == 20


# --- who may see what --------------------------------------------------------


def test_another_teams_usage_is_not_found(dev_client, books_app, traffic):
    other = traffic.other_app
    urls = [
        reverse("portal:team-usage", args=[other.team.slug]),
        app_url("app-usage", other),
        app_url("app-usage", other) + "?format=csv",
        app_url("app-calls", other),
        app_url("key-usage", other, traffic.other_key.lookup_id),
        # Another team's key under one's own app is no key at all.
        app_url("key-usage", books_app.app, traffic.other_key.lookup_id),
        app_url("key-usage", books_app.app, "not-a-lookup-id"),
        reverse("portal:team-usage", args=["no-such-team"]),
    ]
    for url in urls:
        assert dev_client.get(url).status_code == 404, url


def test_usage_pages_need_a_login(client, books_app):
    app = books_app.app
    for url in [
        reverse("portal:team-usage", args=[app.team.slug]),
        app_url("app-usage", app),
        app_url("app-calls", app),
        app_url("key-usage", app, books_app.key.lookup_id),
    ]:
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("portal:login"))


def test_usage_pages_are_read_only(dev_client, books_app):
    response = dev_client.post(app_url("app-usage", books_app.app))
    assert response.status_code == 405


def test_the_team_app_and_key_pages_link_their_usage(dev_client, books_app):
    app = books_app.app
    team_page = dev_client.get(reverse("portal:team-detail", args=[app.team.slug]))
    assert (
        reverse("portal:team-usage", args=[app.team.slug]) in team_page.content.decode()
    )
    app_page = dev_client.get(app_url("app-detail", app)).content.decode()
    assert app_url("app-usage", app) in app_page
    assert app_url("app-calls", app) in app_page
    key_page = dev_client.get(app_url("key-detail", app, books_app.key.lookup_id))
    assert (
        app_url("key-usage", app, books_app.key.lookup_id) in key_page.content.decode()
    )


def test_the_page_runs_no_inline_script(dev_client, books_app, traffic):
    response = dev_client.get(app_url("app-usage", books_app.app))

    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    html = response.content.decode()
    scripts = re.findall(r"<script\b([^>]*)>", html)
    assert scripts, "the charts need their scripts"
    for attrs in scripts:
        assert "src=" in attrs or 'type="application/json"' in attrs, attrs
    assert "/static/vendor/chartjs-4.6.1/chart.umd.min.js" in html
    assert "/static/js/usage-charts.js" in html
    assert " style=" not in html
    assert html.count("<canvas data-usage-chart=") == 3
