"""Owners are mailed when a subscription reaches 80% and 100% of its monthly
quota: once per threshold per month, and only for calls that were served."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache

from portal.limits.counters import buckets_for
from portal.limits.policies import policy_for
from tests.apis.assertions import assert_problem

BOOKS = "/api/books/v1/books/"
MID_JUNE = datetime(2026, 6, 15, 12, 0, 0, tzinfo=UTC)
MID_JULY = datetime(2026, 7, 15, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(MID_JUNE, tick=False)
    return time_machine


def set_limits(books_app, *, quota: int, tiers: list[str] | None = None) -> None:
    plan = books_app.subscription.plan
    plan.monthly_quota = quota
    plan.rate_tiers = tiers or ["1000/s"]
    plan.save()


def call(client, books_app, times: int = 1) -> list[int]:
    return [client.get(BOOKS, **books_app.headers).status_code for _ in range(times)]


def alerts(mailoutbox) -> list[tuple[str, str]]:
    """(recipient, percent) per mail, sorted."""
    found = []
    for mail in mailoutbox:
        percent = "100%" if "100%" in mail.subject else "80%"
        assert percent in mail.subject and percent in mail.body
        found += [(address, percent) for address in mail.to]
    return sorted(found)


def test_80_then_100_percent_then_silence(client, books_app, owners, clock, mailoutbox):
    set_limits(books_app, quota=10)

    assert call(client, books_app, 7) == [200] * 7
    assert mailoutbox == []

    assert call(client, books_app) == [200]  # the 8th: 80%
    assert alerts(mailoutbox) == [(owner, "80%") for owner in owners]
    assert "of this month's quota of 10 calls" in mailoutbox[0].body
    assert f"{books_app.app.team.slug}/reader" in mailoutbox[0].subject

    mailoutbox.clear()
    assert call(client, books_app) == [200]  # the 9th: nothing
    assert mailoutbox == []
    assert call(client, books_app) == [200]  # the 10th: 100%
    assert alerts(mailoutbox) == [(owner, "100%") for owner in owners]
    assert "quota_exceeded" in mailoutbox[0].body

    mailoutbox.clear()
    response = client.get(BOOKS, **books_app.headers)
    assert_problem(response, 429, "quota_exceeded")
    assert call(client, books_app, 3) == [429] * 3
    assert mailoutbox == []


def test_refused_calls_neither_count_nor_send(
    client, books_app, owners, clock, mailoutbox, issue_key, author_factory
):
    set_limits(books_app, quota=10, tiers=["7/m"])
    read_only = issue_key(books_app.app, scopes=["books:read"])

    assert call(client, books_app, 7) == [200] * 7
    assert call(client, books_app, 5) == [429] * 5  # the 7/m tier
    scope_refused = client.post(
        BOOKS,
        {"title": "T", "author_id": author_factory().pk, "year": 2000},
        content_type="application/json",
        HTTP_X_API_KEY=read_only.full_key,
    )
    assert_problem(scope_refused, 403, "insufficient_scope")
    # One character changed (never to itself: the key ends in "x" 1 time in 62).
    last = "y" if books_app.full_key.endswith("x") else "x"
    bad_key = client.get(BOOKS, HTTP_X_API_KEY=books_app.full_key[:-1] + last)
    assert bad_key.status_code == 401
    assert mailoutbox == []

    clock.shift(timedelta(minutes=1))
    assert call(client, books_app) == [200]  # the 8th served call
    assert alerts(mailoutbox) == [(owner, "80%") for owner in owners]


def test_a_new_month_starts_fresh(client, books_app, owners, clock, mailoutbox):
    set_limits(books_app, quota=10)
    assert call(client, books_app, 11) == [200] * 10 + [429]
    mailoutbox.clear()

    clock.move_to(MID_JULY, tick=False)

    assert call(client, books_app, 7) == [200] * 7
    assert mailoutbox == []
    assert call(client, books_app) == [200]
    assert alerts(mailoutbox) == [(owner, "80%") for owner in owners]
    mailoutbox.clear()
    assert call(client, books_app, 3) == [200, 200, 429]
    assert alerts(mailoutbox) == [(owner, "100%") for owner in owners]


def test_no_quota_no_alerts(client, books_app, owners, clock, mailoutbox):
    plan = books_app.subscription.plan
    plan.monthly_quota = None
    plan.rate_tiers = ["1000/s"]
    plan.save()

    assert call(client, books_app, 12) == [200] * 12
    assert mailoutbox == []


def test_a_small_quota_still_says_when_it_is_used_up(
    client, books_app, owners, clock, mailoutbox
):
    # With 4 calls a month, 80% rounds up to the 4th call: the same call that
    # uses the quota up. The owners must hear that it is used up.
    set_limits(books_app, quota=4)

    assert call(client, books_app, 5) == [200] * 4 + [429]

    assert ("second-owner@example.com", "100%") in alerts(mailoutbox)


def test_a_count_reached_again_sends_no_second_alert(
    client, books_app, owners, clock, mailoutbox
):
    # Counts can repeat when a web process gives back leased values it did
    # not use (portal/limits/counters.py, Leases); the 80% mail goes once.
    set_limits(books_app, quota=10)
    assert call(client, books_app, 8) == [200] * 8
    assert len(alerts(mailoutbox)) == len(owners)

    credential = client.get(BOOKS, **books_app.headers).wsgi_request.auth
    quota = buckets_for(policy_for(credential, "books"))[-1]
    cache.set(quota.cache_key, 7, 3600)  # as if two leased values came back
    assert call(client, books_app) == [200]  # the 8th count again
    assert len(alerts(mailoutbox)) == len(owners)
