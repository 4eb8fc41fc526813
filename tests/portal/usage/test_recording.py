"""Every served call is recorded, and the roll-ups add up to the calls made."""

from __future__ import annotations

import pytest
from django.db.models import Sum

from portal.keys.services import api_key_revoke
from portal.usage.flushing import flush_once
from portal.usage.models import Granularity, RecentCall, UsageRollup

pytestmark = pytest.mark.django_db

BOOKS = "/api/books/v1/books/"


def _calls_by_status(granularity: str, **filters) -> dict[int, int]:
    rows = (
        UsageRollup.objects.filter(granularity=granularity, **filters)
        .values("status")
        .annotate(n=Sum("calls"))
    )
    return {row["status"]: row["n"] for row in rows}


def test_calls_and_refusals_are_counted_at_every_level(
    api_client, books_app, issue_key
):
    for _ in range(3):
        assert (
            api_client.get(BOOKS, HTTP_X_API_KEY=books_app.full_key).status_code == 200
        )
    assert api_client.get(BOOKS, HTTP_X_API_KEY="gk_test_nope").status_code == 401
    revoked = issue_key(books_app.app)
    api_key_revoke(key=revoked.key, reason="test")
    response = api_client.get(BOOKS, HTTP_X_API_KEY=revoked.full_key)
    assert response.status_code == 401
    revoked_request_id = response["Request-Id"]

    result = flush_once()

    assert result.calls == 5
    app_id = books_app.app.pk
    for level in Granularity:
        assert _calls_by_status(level, app_id=app_id) == {200: 3, 401: 1}
        # The malformed key belongs to no app: counted for the platform only.
        assert _calls_by_status(level) == {200: 3, 401: 2}
    row = UsageRollup.objects.filter(granularity="h", status=200).get()
    assert row.route == "/api/books/v1/books/"
    assert row.key_id == books_app.key.pk
    assert row.method == "GET"
    assert row.bytes_sum > 0

    log = RecentCall.objects.filter(app_id=app_id).order_by("-id")
    assert [c.status for c in log] == [401, 200, 200, 200]
    refused = log[0]
    assert refused.request_id == revoked_request_id
    assert refused.reason["code"] == "key_revoked"
    assert refused.key_lookup_id == revoked.key.lookup_id


def test_request_id_header_is_unique_per_call(api_client, books_app):
    ids = {
        api_client.get(BOOKS, HTTP_X_API_KEY=books_app.full_key)["Request-Id"]
        for _ in range(3)
    }
    assert len(ids) == 3


@pytest.mark.parametrize("range_name", ["1h", "24h", "7d", "30d"])
def test_report_totals_equal_the_calls_made_in_every_range(
    api_client, books_app, range_name
):
    from portal.usage.queries import usage_report

    for _ in range(4):
        api_client.get(BOOKS, HTTP_X_API_KEY=books_app.full_key)
    api_client.get(BOOKS + "999999/", HTTP_X_API_KEY=books_app.full_key)
    flush_once()

    report = usage_report(range_name, app_id=books_app.app.pk)
    assert report.totals.calls == 5
    assert report.totals.errors_4xx == 1
    assert sum(p.calls for p in report.points) == 5
    assert report.totals.p50_ms is not None
    assert report.totals.p50_ms <= report.totals.p95_ms
    top = report.top_endpoints[0]
    assert (top.route, top.calls) == ("/api/books/v1/books/", 4)


def test_platform_report_and_top_apps_count_every_call(
    api_client, books_app, app_factory, issue_key, starter_plan
):
    from portal.catalog.services import subscription_create_active
    from portal.usage.queries import top_apps, usage_report

    other = app_factory(team=books_app.app.team, name="Writer", slug="writer")
    subscription_create_active(app=other, plan=starter_plan)
    other_key = issue_key(other).full_key
    for _ in range(3):
        api_client.get(BOOKS, HTTP_X_API_KEY=books_app.full_key)
    api_client.get(BOOKS, HTTP_X_API_KEY=other_key)
    api_client.get(BOOKS + "999999/", HTTP_X_API_KEY=other_key)
    api_client.get(BOOKS, HTTP_X_API_KEY="gk_test_unknown")
    flush_once()

    platform = usage_report("24h")
    assert platform.totals.calls == 6
    assert platform.totals.errors_4xx == 2
    assert platform.top_endpoints == []  # the platform view leaves them out

    top = top_apps("24h")
    assert [(a["app_id"], a["calls"]) for a in top["by_calls"]] == [
        (books_app.app.pk, 3),
        (other.pk, 2),
    ]
    assert [(a["app_id"], a["errors"]) for a in top["by_errors"]] == [(other.pk, 1)]
