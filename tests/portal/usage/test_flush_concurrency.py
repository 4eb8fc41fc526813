"""Flushers in separate processes on the shared Redis buffer (PostgreSQL + Redis).

- Several ``flush_usage --once`` at once fold 20,000 buffered calls into
  roll-ups that add up to exactly the calls buffered, at every level.
- A flusher killed before it commits leaves its batch claimed; once the claim
  has timed out another flusher takes it over and counts it once.
- A flusher killed after it committed but before it released its batch: the
  flusher taking the batch over adds nothing.
- A batch taken over late must not push newer calls out of the app's log.

The flushers are real processes against the test's own database (hence
``transactional_db``: they only see committed rows) and its Redis.
"""

from __future__ import annotations

import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.db.models import Sum

from portal.usage import recorder, store
from portal.usage.flushing import flush_once
from portal.usage.models import (
    AppUsageRollup,
    FlushedBatch,
    Granularity,
    RecentCall,
    UsageRollup,
)
from portal.usage.recorder import Call, record
from tests.servers import ROOT, server_env

pytestmark = pytest.mark.postgres

ROUTES = ("/api/books/v1/books/", "/api/books/v1/books/<int:pk>/")
STATUSES = (200, 200, 200, 201, 401, 404, 429, 500)
TRUNCATE = {
    Granularity.MINUTE: {"second": 0, "microsecond": 0},
    Granularity.HOUR: {"minute": 0, "second": 0, "microsecond": 0},
    Granularity.DAY: {"hour": 0, "minute": 0, "second": 0, "microsecond": 0},
}


def make_calls(count: int, *, seed: int) -> list[Call]:
    """``count`` calls over the last 30 hours (inside every retention), from
    four apps and unauthenticated callers, on several routes and statuses."""
    rng = random.Random(seed)
    newest = datetime.now(tz=UTC).timestamp() - 60
    calls = []
    for i in range(count):
        app_id = rng.choice((0, 1, 2, 3, 4))
        calls.append(
            Call(
                at=newest - rng.uniform(0, 30 * 3600),
                team_id=10 + app_id if app_id else 0,
                app_id=app_id,
                key_id=100 + app_id if app_id else 0,
                token_id=0,
                key_lookup_id=f"lookup{app_id}" if app_id else "",
                credential="api_key" if app_id else "",
                api="books",
                route=rng.choice(ROUTES),
                method=rng.choice(("GET", "GET", "POST")),
                status=rng.choice(STATUSES),
                latency_ms=rng.uniform(0.2, 2500),
                response_bytes=rng.randrange(0, 5000),
                client_ip="198.51.100.4",
                request_id=f"seed{seed}-{i:06d}",
                reason=None,
            )
        )
    return calls


def buffer_in_redis(calls: list[Call]) -> None:
    for call in calls:
        record(call)
    recorder.ship()
    with recorder._ship_lock:  # a shipper thread may have shipped some first
        assert recorder.buffered() == 0
        assert store.pending() == len(calls)


def expected_rows(calls: list[Call], level: Granularity) -> Counter:
    """Calls per roll-up row, worked out with datetimes rather than the
    flusher's arithmetic."""
    rows: Counter = Counter()
    for call in calls:
        start = datetime.fromtimestamp(call.at, UTC).replace(**TRUNCATE[level])
        rows[
            (start, call.app_id, call.key_id, call.route, call.method, call.status)
        ] += 1
    return rows


def expected_app_rows(calls: list[Call], level: Granularity) -> Counter:
    rows: Counter = Counter()
    for call in calls:
        start = datetime.fromtimestamp(call.at, UTC).replace(**TRUNCATE[level])
        rows[(start, call.team_id, call.app_id, call.status)] += 1
    return rows


def rolled_up_per_app(level: Granularity) -> Counter:
    rows = AppUsageRollup.objects.filter(granularity=level).values_list(
        "start", "team_id", "app_id", "status", "calls"
    )
    return Counter({tuple(row[:-1]): row[-1] for row in rows})


def rolled_up(level: Granularity) -> Counter:
    rows = UsageRollup.objects.filter(granularity=level).values_list(
        "start", "app_id", "key_id", "route", "method", "status", "calls"
    )
    return Counter({tuple(row[:-1]): row[-1] for row in rows})


def assert_counted_exactly(calls: list[Call], recent_calls_kept: int) -> None:
    for level in Granularity:
        assert rolled_up(level) == expected_rows(calls, level), level.label
        assert rolled_up_per_app(level) == expected_app_rows(calls, level)
        sums = UsageRollup.objects.filter(granularity=level).aggregate(
            calls=Sum("calls"), bytes=Sum("bytes_sum")
        )
        assert sums == {
            "calls": len(calls),
            "bytes": sum(c.response_bytes for c in calls),
        }, level.label
    assert FlushedBatch.objects.aggregate(n=Sum("calls"))["n"] == len(calls)
    per_app = Counter(c.app_id for c in calls if c.app_id)
    logged = Counter(RecentCall.objects.values_list("app_id", flat=True))
    assert logged == {
        app_id: min(n, recent_calls_kept) for app_id, n in per_app.items()
    }
    request_ids = list(RecentCall.objects.values_list("request_id", flat=True))
    assert len(request_ids) == len(set(request_ids))  # none logged twice
    assert store.pending() == 0
    assert store.stale_claims(float("inf")) == []  # no batch left claimed


@contextmanager
def flushers_running(count: int, argv: list[str], env: dict[str, str]):
    """Start ``count`` processes at once; any still running at the end (a
    failed or timed-out test) is killed."""
    flushers = [
        subprocess.Popen(  # noqa: S603 - fixed argv
            argv,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        yield flushers
    finally:
        for flusher in flushers:
            if flusher.poll() is None:
                flusher.kill()
                flusher.wait(timeout=30)


FLUSHED = re.compile(r"^Flushed (\d+) calls in (\d+) batches\.$", re.MULTILINE)


@pytest.mark.parametrize(
    "claim_timeout",
    [
        pytest.param("60", id="claims-respected"),
        # Every flusher takes over every batch it finds claimed: batches are
        # folded in by two flushers at once, and must still count once.
        pytest.param("0", id="claims-taken-over-at-once"),
    ],
)
def test_concurrent_flushers_count_every_buffered_call_exactly_once(
    transactional_db, claim_timeout
):
    calls = make_calls(20_000, seed=6)
    buffer_in_redis(calls)
    env = server_env(
        USAGE_RECENT_CALLS="300", USAGE_CLAIM_TIMEOUT_SECONDS=claim_timeout
    )

    argv = [sys.executable, "manage.py", "flush_usage", "--once", "--batch-size", "500"]
    with flushers_running(4, argv, env) as flushers:
        outputs = [flusher.communicate(timeout=300) for flusher in flushers]

    for flusher, (_, stderr) in zip(flushers, outputs, strict=True):
        assert flusher.returncode == 0, stderr
    flushed = [FLUSHED.search(stdout) for stdout, _ in outputs]
    assert all(flushed), outputs
    counts = [(int(m[1]), int(m[2])) for m in flushed]
    assert sum(n for n, _ in counts) == 20_000
    assert sum(b for _, b in counts) == 40
    assert len([n for n, _ in counts if n]) >= 2, f"no overlap to test: {counts}"
    assert FlushedBatch.objects.count() == 40
    assert_counted_exactly(calls, recent_calls_kept=300)


# A flusher that stops for good at a chosen point of its flush (and is then
# SIGKILLed by the test): "applying" inside the batch's transaction, after the
# roll-ups were written; "releasing" after the commit, before the release.
STALLING_FLUSHER = """
import os, sys, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
import django
django.setup()
from portal.usage import flushing, store

def stall(*args):
    print("stalled", flush=True)
    time.sleep(600)

if sys.argv[1] == "applying":
    flushing._recent = stall
else:
    store.release = stall
flushing.flush_once(batch_size=int(sys.argv[2]), max_batches=1)
"""


def kill_a_flusher_at(point: str, batch_size: int) -> None:
    flusher = subprocess.Popen(  # noqa: S603 - fixed argv
        [sys.executable, "-c", STALLING_FLUSHER, point, str(batch_size)],
        cwd=ROOT,
        env=server_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # A flusher that never gets to its stall is killed too, ending the wait.
    watchdog = threading.Timer(120, flusher.kill)
    watchdog.start()
    try:
        line = flusher.stdout.readline()
        assert line == "stalled\n", line or flusher.stderr.read()
    finally:
        watchdog.cancel()
        flusher.send_signal(signal.SIGKILL)
        flusher.wait(timeout=30)
    assert flusher.returncode == -signal.SIGKILL


def total_calls() -> dict[str, int]:
    return {
        level.label: UsageRollup.objects.filter(granularity=level).aggregate(
            n=Sum("calls")
        )["n"]
        or 0
        for level in Granularity
    }


def after_the_claim_timeout(time_machine) -> None:
    time_machine.move_to(
        datetime.now(tz=UTC)
        + timedelta(seconds=settings.USAGE_CLAIM_TIMEOUT_SECONDS + 1)
    )


def test_a_flusher_killed_before_committing_loses_nothing(
    transactional_db, time_machine
):
    calls = make_calls(1_200, seed=7)
    buffer_in_redis(calls)

    kill_a_flusher_at("applying", batch_size=1_000)

    # Its batch died with its transaction, and is still claimed.
    assert total_calls() == {"minute": 0, "hour": 0, "day": 0}
    assert not FlushedBatch.objects.exists()
    assert store.pending() == 200
    (claimed,) = store.stale_claims(float("inf"))
    # A claim younger than the timeout is left alone: its flusher may be alive.
    result = flush_once()
    assert (result.batches, result.calls) == (1, 200)
    assert store.stale_claims(float("inf")) == [claimed]

    after_the_claim_timeout(time_machine)
    result = flush_once()

    assert (result.batches, result.calls, result.duplicates) == (1, 1_000, 0)
    assert total_calls() == {"minute": 1_200, "hour": 1_200, "day": 1_200}
    assert FlushedBatch.objects.filter(batch_id=claimed, calls=1_000).exists()
    assert_counted_exactly(calls, recent_calls_kept=settings.USAGE_RECENT_CALLS)


def test_a_flusher_killed_after_committing_is_not_counted_twice(
    transactional_db, time_machine
):
    calls = make_calls(1_200, seed=8)
    buffer_in_redis(calls)

    kill_a_flusher_at("releasing", batch_size=1_000)

    # Its batch is in the database, and still claimed in Redis.
    assert total_calls() == {"minute": 1_000, "hour": 1_000, "day": 1_000}
    (claimed,) = store.stale_claims(float("inf"))
    assert FlushedBatch.objects.filter(batch_id=claimed, calls=1_000).exists()

    after_the_claim_timeout(time_machine)
    result = flush_once()

    # The batch taken over is recognised as flushed; only the rest is new.
    assert (result.batches, result.calls, result.duplicates) == (1, 200, 1)
    assert total_calls() == {"minute": 1_200, "hour": 1_200, "day": 1_200}
    assert FlushedBatch.objects.count() == 2
    assert_counted_exactly(calls, recent_calls_kept=settings.USAGE_RECENT_CALLS)


def test_a_flusher_process_folds_in_what_another_process_shipped(transactional_db):
    calls = make_calls(3_000, seed=9)
    buffer_in_redis(calls)

    flusher = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "manage.py", "flush_usage", "--once"],
        cwd=ROOT,
        env={**server_env(), "USAGE_FLUSH_BATCH_SIZE": "1000"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert flusher.returncode == 0, flusher.stderr
    assert flusher.stdout == "Flushed 3000 calls in 3 batches.\n"
    assert_counted_exactly(calls, recent_calls_kept=settings.USAGE_RECENT_CALLS)


def test_a_batch_taken_over_late_does_not_push_newer_calls_out_of_the_log(
    db, settings, time_machine
):
    settings.USAGE_RECENT_CALLS = 3
    made = datetime.now(tz=UTC) - timedelta(minutes=10)
    calls = [
        call._replace(
            at=(made + timedelta(seconds=i)).timestamp(),
            team_id=11,
            app_id=1,
            key_id=101,
            request_id=f"call-{i}",
        )
        for i, call in enumerate(make_calls(6, seed=10))
    ]
    # The three older calls are claimed by a flusher that then dies ...
    buffer_in_redis(calls[:3])
    assert len(store.claim("dead-flushers-batch", 100, time.time())) == 3
    # ... the three newer ones are flushed meanwhile ...
    buffer_in_redis(calls[3:])
    assert flush_once().calls == 3
    # ... and the stalled batch is taken over once its claim has timed out.
    after_the_claim_timeout(time_machine)
    assert flush_once().calls == 3

    assert total_calls() == {"minute": 6, "hour": 6, "day": 6}
    kept = RecentCall.objects.filter(app_id=1).values_list("request_id", flat=True)
    assert sorted(kept) == ["call-3", "call-4", "call-5"]
