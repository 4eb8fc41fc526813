"""Leased counter values on Redis (the PostgreSQL + Redis pass).

A web process counting a busy bucket with ample room reserves blocks of the
counter's next values, so most of its calls need no round trip. These tests
check what that must not change: no bucket ever admits more than its limit,
values left unused go back, a refused call consumes nothing, small limits
and buckets near their limit are counted call by call, a lowered limit
applies to the next call, and the quota's alert counts are reached by one
call each. Two ``Leases`` objects stand for two web processes.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
import time_machine
from django_redis import get_redis_connection

from portal.limits import counters
from portal.limits.counters import Leases, buckets_for, consume
from portal.limits.policies import Policy, Tier

pytestmark = pytest.mark.postgres

_subjects = itertools.count(1)


@pytest.fixture(autouse=True)
def _inside_one_window(settings):
    # Far from any window's edge, so no test's counts restart midway. Leases
    # expire on the monotonic clock, which this leaves running: they get a
    # minute, so a slow machine cannot expire one mid-test (the tests give
    # values back by calling return_unused).
    settings.RATELIMIT_LEASE_SECONDS = 60
    with time_machine.travel(datetime(2026, 3, 10, 12, 0, 5, tzinfo=UTC), tick=False):
        yield


def policy(*tiers: tuple[int, int], quota: int | None = None) -> Policy:
    subject = next(_subjects)
    return Policy(
        tiers=tuple(Tier(f"{n}/{p}s", n, p) for n, p in tiers),
        tier_subject=f"key:lease-test-{subject}",
        monthly_quota=quota,
        quota_subject=f"sub:lease-test-{subject}",
    )


@pytest.fixture
def round_trips(monkeypatch):
    """How many limit checks went to Redis."""
    counted = {"checks": 0}
    run = counters._run_script

    def counting(alias, sha, *args):
        if sha == counters._LUA_SHA:
            counted["checks"] += 1
        return run(alias, sha, *args)

    monkeypatch.setattr(counters, "_run_script", counting)
    return counted


@pytest.fixture
def processes(monkeypatch):
    """Two lease tables, as two web processes have; ``use(n)`` picks one."""
    tables = [Leases(), Leases()]

    def use(n: int) -> Leases:
        monkeypatch.setattr(counters, "_leases", tables[n])
        return tables[n]

    use(0)
    yield use
    for table in tables:
        table.forget()


def redis_count(bucket) -> int:
    cache_key = counters._redis_key(counters._cache(), bucket.cache_key)
    return int(get_redis_connection("default").get(cache_key) or 0)


def test_a_busy_bucket_is_counted_with_few_round_trips(round_trips, processes):
    p = policy((10**6, 60), quota=10**7)
    outcomes = [consume(buckets_for(p)) for _ in range(1000)]
    assert all(o.allowed for o in outcomes)
    # One process alone sees every count in order: the headers stay exact.
    assert [o.counts for o in outcomes] == [(n, n) for n in range(1, 1001)]
    assert round_trips["checks"] < 30  # blocks of 8, 16, ... then 100
    # Redis has counted what was served plus what this process holds.
    held = processes(0).held()
    assert 0 < held <= 2 * 100
    assert [redis_count(b) for b in buckets_for(p)] == [1000 + held // 2] * 2


def test_two_processes_never_admit_more_than_the_limit(processes):
    p = policy((2000, 3600))
    admitted, refused, seen = 0, [False, False], []
    for turn in itertools.cycle((0, 1)):
        if all(refused):
            break
        processes(turn)
        outcome = consume(buckets_for(p))
        if outcome.allowed:
            admitted += 1
            seen.append(outcome.counts[0])
        else:
            refused[turn] = True
    assert admitted == 2000
    assert sorted(seen) == list(range(1, 2001))  # each value handed out once


def test_values_an_idle_process_leased_go_back(processes):
    p = policy((3000, 3600))
    idle = processes(0)
    for _ in range(40):
        assert consume(buckets_for(p)).allowed
    held = idle.held()
    assert held > 0
    assert redis_count(buckets_for(p)[0]) == 40 + held

    # Another process takes the rest; the idle one's values come back once
    # its lease has expired, and the other one can use them.
    processes(1)
    served = sum(consume(buckets_for(p)).allowed for _ in range(3000))
    assert served == 3000 - 40 - held
    assert idle.return_unused(now=float("inf")) == held
    assert idle.held() == 0
    served += sum(consume(buckets_for(p)).allowed for _ in range(held + 5))
    assert 40 + served == 3000


def test_a_refused_call_leaves_every_other_budget_as_it_was(processes):
    # The 3/min tier is counted in Redis call by call; the quota is leased.
    p = policy((10**6, 60), (3, 60), quota=10**6)
    outcomes = [consume(buckets_for(p)) for _ in range(50)]
    assert [o.allowed for o in outcomes] == [True] * 3 + [False] * 47
    table = processes(0)
    table.return_unused(now=float("inf"), everything=True)
    assert [redis_count(b) for b in buckets_for(p)] == [3, 3, 3]
    assert table.held() == 0


def test_a_lowered_limit_applies_to_the_next_call(processes):
    p = policy((10**6, 3600), quota=10**6)
    for _ in range(30):
        assert consume(buckets_for(p)).allowed
    table = processes(0)
    held = table.held()
    assert held > 0
    lowered = Policy(p.tiers, p.tier_subject, 20, p.quota_subject)
    outcome = consume(buckets_for(lowered))
    assert not outcome.allowed
    assert buckets_for(lowered)[outcome.tripped].label == "quota"
    # The refused call took nothing: the tier's value went back to its block
    # (the quota's old block is given back, as its limit changed).
    table.return_unused(now=float("inf"), everything=True)
    tier, quota = buckets_for(lowered)
    assert redis_count(tier) == 30
    assert redis_count(quota) == 30


def test_small_limits_are_counted_call_by_call(round_trips, processes):
    # Fewer than LEASE_DIVISOR x LEASE_MIN values: never leased.
    p = policy((500, 3600), quota=500)
    outcomes = [consume(buckets_for(p)) for _ in range(510)]
    assert sum(o.allowed for o in outcomes) == 500
    assert round_trips["checks"] == 510
    assert processes(0).held() == 0


def test_a_bucket_near_its_limit_is_counted_call_by_call(round_trips, processes):
    p = policy((5000, 3600))
    for _ in range(5000 - 64 * 8):
        consume(buckets_for(p))
    before = round_trips["checks"]
    processes(0).return_unused(now=float("inf"), everything=True)
    # From here fewer than LEASE_DIVISOR x LEASE_MIN values remain.
    outcomes = [consume(buckets_for(p)) for _ in range(64 * 8 + 10)]
    assert sum(o.allowed for o in outcomes) == 64 * 8
    assert round_trips["checks"] - before == 64 * 8 + 10


def test_lease_size_zero_counts_every_call_in_redis(round_trips, settings):
    settings.RATELIMIT_LEASE_SIZE = 0
    p = policy((10**6, 60), quota=10**7)
    for _ in range(200):
        assert consume(buckets_for(p)).allowed
    assert round_trips["checks"] == 200


def test_the_quota_alert_count_is_never_leased(round_trips, processes):
    # The call reaching 80% of the quota is counted in Redis, so a block
    # given back later cannot make that count skipped or reached twice.
    p = policy((10**6, 3600), quota=10_000)
    quota = buckets_for(p)[-1]
    assert quota.stop == 8_000
    get_redis_connection("default").set(
        counters._redis_key(counters._cache(), quota.cache_key), 7_000
    )
    by_redis = {}
    for _ in range(2_000):
        before = round_trips["checks"]
        count = consume(buckets_for(p)).counts[-1]
        by_redis[count] = round_trips["checks"] > before
    assert sorted(by_redis) == list(range(7_001, 9_001))
    assert by_redis[8_000]
    # Blocks shrink towards the stop and towards the quota (1/64 of what is
    # left): about 95 round trips for these 2,000 calls.
    assert sum(by_redis.values()) < 200
