"""Plan limits on served calls: tiers, quota, key override, headers, errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from portal.catalog.models import Plan

BOOKS = "/api/books/v1/books/"
# A moment far from any window edge: 12:00:00 on the 10th of a 30-day month.
NOON = datetime(2026, 6, 10, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def at_noon():
    with time_machine.travel(NOON, tick=False) as traveller:
        yield traveller


def set_plan(plan: Plan, tiers: list[str], quota: int | None = None) -> None:
    plan.rate_tiers = tiers
    plan.monthly_quota = quota
    plan.save()


def get(client, books_app):
    return client.get(BOOKS, **books_app.headers)


def test_every_call_carries_ratelimit_headers(client, books_app, at_noon):
    set_plan(books_app.subscription.plan, ["5/s", "100/m"], quota=1000)
    response = get(client, books_app)
    assert response.status_code == 200
    assert response["RateLimit-Policy"] == (
        '"5/s";q=5;w=1, "100/m";q=100;w=60, "quota";q=1000;w=2592000'
    )
    remaining = response["RateLimit"]
    assert '"5/s";r=4;t=1' in remaining
    assert '"100/m";r=99;' in remaining
    assert '"quota";r=999;t=1771200' in remaining


def test_a_tier_refuses_with_429_naming_the_limit(client, books_app, at_noon):
    set_plan(books_app.subscription.plan, ["3/m"])
    assert [get(client, books_app).status_code for _ in range(3)] == [200] * 3
    response = get(client, books_app)
    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "rate_limited"
    assert body["limit"] == "3/m"
    assert body["allowed"] == 3
    assert body["count"] == 3
    assert int(response["Retry-After"]) == body["reset"] >= 1
    assert '"3/m";r=0;' in response["RateLimit"]


def test_refused_calls_burn_neither_other_tiers_nor_the_quota(
    client, books_app, at_noon
):
    set_plan(books_app.subscription.plan, ["2/s", "1000/d"], quota=100)
    statuses = [get(client, books_app).status_code for _ in range(10)]
    assert statuses == [200, 200] + [429] * 8
    at_noon.shift(1)  # the next second: a new per-second window
    response = get(client, books_app)
    assert response.status_code == 200
    # Only the three admitted calls count against the day and the month.
    assert '"1000/d";r=997;' in response["RateLimit"]
    assert '"quota";r=97;' in response["RateLimit"]


def test_the_monthly_quota_refuses_until_the_next_month(client, books_app):
    set_plan(books_app.subscription.plan, ["100/s"], quota=2)
    with time_machine.travel(datetime(2026, 6, 30, 23, 59, 0, tzinfo=UTC), tick=False):
        assert get(client, books_app).status_code == 200
        assert get(client, books_app).status_code == 200
        response = get(client, books_app)
        assert response.status_code == 429
        assert response.json()["code"] == "quota_exceeded"
        assert response["Retry-After"] == "60"
    with time_machine.travel(datetime(2026, 7, 1, 0, 0, 1, tzinfo=UTC), tick=False):
        assert get(client, books_app).status_code == 200


def test_a_keys_own_rate_replaces_the_plans(client, books_app, issue_key, at_noon):
    set_plan(books_app.subscription.plan, ["100/m"])
    own = issue_key(books_app.app, rate_override=["1/m"])
    headers = {"HTTP_X_API_KEY": own.full_key}
    assert client.get(BOOKS, **headers).status_code == 200
    refused = client.get(BOOKS, **headers)
    assert refused.status_code == 429
    assert refused.json()["limit"] == "1/m"
    # Counted per key: the app's other key still has its plan's budget.
    assert get(client, books_app).status_code == 200


def test_a_plan_change_applies_on_the_next_request(client, books_app, at_noon):
    set_plan(books_app.subscription.plan, ["1/m"])
    assert get(client, books_app).status_code == 200
    assert get(client, books_app).status_code == 429
    set_plan(books_app.subscription.plan, ["10/m"])  # staff raise the limit
    assert get(client, books_app).status_code == 200


def test_calls_refused_before_the_limit_check_consume_nothing(
    client, books_app, at_noon
):
    set_plan(books_app.subscription.plan, ["2/m"])
    books_app.key.scopes = ["books:read"]
    books_app.key.save()
    for _ in range(5):  # insufficient scope: 403, not counted
        assert client.post(BOOKS, {}, **books_app.headers).status_code == 403
    assert get(client, books_app).status_code == 200
    assert get(client, books_app).status_code == 200
    assert get(client, books_app).status_code == 429


def test_counters_unreachable_follow_ratelimit_fail_open(
    client, books_app, settings, monkeypatch, at_noon
):
    def unreachable(*args, **kwargs):
        raise ConnectionError("counter store down")

    monkeypatch.setattr("portal.limits.counters._consume_local", unreachable)
    monkeypatch.setattr("portal.limits.counters._consume_redis", unreachable)
    settings.RATELIMIT_FAIL_OPEN = True
    assert get(client, books_app).status_code == 200
    settings.RATELIMIT_FAIL_OPEN = False
    response = get(client, books_app)
    assert response.status_code == 503
    assert response.json()["code"] == "limits_unavailable"
