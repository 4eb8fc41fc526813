"""The limit counters: every bucket at once, and a refused call counts nothing.

Runs on the in-process cache in the embedded pass and on the Lua script
against Redis in the PostgreSQL + Redis pass.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

from portal.limits.counters import buckets_for, consume, month_end
from portal.limits.headers import ratelimit_headers
from portal.limits.policies import Policy, Tier


def policy(*tiers: tuple[int, int], quota: int | None = None) -> Policy:
    return Policy(
        tiers=tuple(Tier(f"{n}/{p}s", n, p) for n, p in tiers),
        tier_subject="key:1",
        monthly_quota=quota,
        quota_subject="sub:1",
    )


@pytest.fixture
def frozen():
    with time_machine.travel(datetime(2026, 3, 31, 12, 0, 0, tzinfo=UTC), tick=False):
        yield


def test_each_tier_admits_exactly_its_limit(frozen):
    p = policy((3, 60))
    results = [consume(buckets_for(p)) for _ in range(5)]
    assert [r.allowed for r in results] == [True, True, True, False, False]
    assert results[2].counts == (3,)
    assert results[3].tripped == 0


def test_a_refused_call_consumes_no_other_budget(frozen):
    p = policy((2, 1), (100, 86400), quota=1000)
    for _ in range(10):
        consume(buckets_for(p))
    # Two admitted; the eight refused by the per-second tier left the daily
    # tier and the quota untouched.
    state = consume(buckets_for(policy((10**6, 1), (100, 86400), quota=1000)))
    assert state.counts[1:] == (3, 3)


def test_the_quota_trips_after_the_tiers_allow(frozen):
    p = policy((100, 60), quota=2)
    outcomes = [consume(buckets_for(p)) for _ in range(3)]
    assert [o.allowed for o in outcomes] == [True, True, False]
    assert buckets_for(p)[outcomes[2].tripped].label == "quota"


def test_a_new_window_starts_from_zero():
    p = policy((1, 1))
    with time_machine.travel(datetime(2026, 5, 1, 0, 0, 0, tzinfo=UTC), tick=False):
        assert consume(buckets_for(p)).allowed
        assert not consume(buckets_for(p)).allowed
    with time_machine.travel(datetime(2026, 5, 1, 0, 0, 1, tzinfo=UTC), tick=False):
        assert consume(buckets_for(p)).allowed


def test_the_quota_is_per_calendar_month_utc():
    p = policy(quota=1)
    with time_machine.travel(datetime(2026, 1, 31, 23, 59, 59, tzinfo=UTC), tick=False):
        assert consume(buckets_for(p)).allowed
        assert not consume(buckets_for(p)).allowed
    with time_machine.travel(datetime(2026, 2, 1, 0, 0, 0, tzinfo=UTC), tick=False):
        assert consume(buckets_for(p)).allowed


def test_month_end_is_the_first_of_the_next_month():
    now = datetime(2026, 2, 10, 8, 0, tzinfo=UTC).timestamp()
    assert month_end(now) == datetime(2026, 3, 1, tzinfo=UTC).timestamp()
    now = datetime(2026, 12, 31, 23, 0, tzinfo=UTC).timestamp()
    assert month_end(now) == datetime(2027, 1, 1, tzinfo=UTC).timestamp()


def test_headers_name_every_policy_with_remaining_and_reset(frozen):
    p = policy((10, 1), quota=500)
    buckets = buckets_for(p)
    outcome = consume(buckets)
    now = datetime(2026, 3, 31, 12, 0, 0, tzinfo=UTC).timestamp()
    headers = ratelimit_headers(buckets, outcome, now)
    assert headers["RateLimit-Policy"] == '"10/1s";q=10;w=1, "quota";q=500;w=2678400'
    assert headers["RateLimit"] == '"10/1s";r=9;t=1, "quota";r=499;t=43200'
