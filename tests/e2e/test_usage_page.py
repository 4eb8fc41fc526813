"""A developer's calls, good and refused, show up on the app's usage page:
drawn as charts by Chart.js and listed in the recent-calls log."""

from __future__ import annotations

import gc
import threading

import pytest
from django.conf import settings
from django.test import Client as DjangoClient

from portal.usage.flushing import flush_once
from tests.servers import call

pytestmark = pytest.mark.usefixtures("transactional_db")


@pytest.fixture(autouse=True)
def _server_threads_finish():
    yield
    # A kept-alive connection holds a live-server thread and its database
    # connection, which would keep the PostgreSQL test database from being
    # dropped (see tests/e2e/test_oauth_flows.py).
    gc.collect()
    for thread in threading.enumerate():
        if thread.name.endswith("(process_request_thread)"):
            thread.join(timeout=10)


def log_in(page, user) -> None:
    """Give the browser a session of ``user`` (logging in is tested elsewhere)."""
    django_client = DjangoClient()
    django_client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    page.context.add_cookies(
        [{"name": name, "value": django_client.cookies[name].value, "url": page.url}]
    )


def test_refused_and_good_calls_show_on_the_usage_page(
    page, live_server, developer, books_app, issue_key
):
    read_only = issue_key(books_app.app, name="Read only", scopes=["books:read"])
    status, body, refused = call(
        live_server.url, read_only.full_key, "POST", {"title": "Dune"}
    )
    assert (status, body["code"]) == (403, "insufficient_scope")
    refused_id = refused.headers["Request-Id"]
    status, _, good = call(live_server.url, books_app.full_key)
    assert status == 200
    good_id = good.headers["Request-Id"]
    # The live server runs in this process (a thread): its calls are in this
    # process's buffer, which flush_once folds in, shipping them through
    # Redis first when the suite runs with REDIS_URL set.
    assert flush_once().calls == 2

    problems: list[str] = []

    def console(message) -> None:
        # The site has no favicon yet: the browser's own request for it 404s.
        if message.type == "error" and not message.location["url"].endswith(
            "/favicon.ico"
        ):
            problems.append(f"{message.text} at {message.location['url']}")

    page.on("console", console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto("/")
    log_in(page, developer)
    app = books_app.app
    page.goto(f"/teams/{app.team.slug}/apps/{app.slug}/")
    page.get_by_role("link", name="Usage", exact=True).click()
    page.get_by_role("heading", name=f"Usage of {app.name}").wait_for()

    # Chart.js drew every chart into its canvas (no CSP violation stopped it).
    for chart in ("calls", "errors", "latency"):
        canvas = page.locator(f'canvas[data-usage-chart="{chart}"]')
        canvas.and_(page.locator('[data-rendered="true"]')).wait_for()
        assert page.evaluate(
            "(c) => Chart.getChart(c) !== undefined && c.width > 0 && c.height > 0",
            canvas.element_handle(),
        )
    drawn = page.evaluate(
        """() => Chart.getChart(document.querySelector('[data-usage-chart="calls"]'))
            .data.datasets[0].data.reduce((a, b) => a + b, 0)"""
    )
    assert drawn == 2
    assert problems == []  # no script error, no Content-Security-Policy refusal
    totals = page.locator("#totals-table tbody td")
    assert totals.all_inner_texts()[:4] == ["2", "1", "0", "0"]

    log = page.locator("#calls-log")
    refused_row = log.locator("tr", has_text=refused_id)
    refused_row.wait_for()
    assert "403" in refused_row.inner_text()
    assert "insufficient_scope" in refused_row.inner_text()
    assert "books:write" in refused_row.inner_text()
    assert read_only.key.lookup_id in refused_row.inner_text()
    assert log.locator("tr", has_text=good_id).count() == 1

    # The full log finds the refused call by its request id.
    page.get_by_role("link", name="Search the log of recent calls").click()
    page.get_by_label("Request id").fill(refused_id)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("heading", name="Matching calls").wait_for()
    rows = page.locator("#calls-log tbody tr")
    assert rows.count() == 1
    assert refused_id in rows.first.inner_text()
