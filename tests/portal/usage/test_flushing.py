"""Flushing buffered calls into the roll-ups and the recent-calls log.

Runs on both set-ups: on the embedded default the flusher drains this
process's buffer, with Redis it ships the buffer to Redis and claims batches
from there. Calls are recorded directly, at chosen times, so every expected
number below is worked out by hand.
"""

from __future__ import annotations

import itertools
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import redis
from django.core.management import CommandError, call_command
from django.db.models import Sum

from portal.usage import recorder, store
from portal.usage.flushing import apply_batch, flush_once, prune
from portal.usage.models import (
    HISTOGRAM_FIELDS,
    AppUsageRollup,
    FlushedBatch,
    Granularity,
    RecentCall,
    UsageRollup,
)
from portal.usage.queries import usage_report
from portal.usage.recorder import Call, record
from tests.servers import ROOT

pytestmark = pytest.mark.django_db

BOOKS = "/api/books/v1/books/"
_request_ids = itertools.count()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def make_call(
    at: datetime,
    *,
    app_id: int = 1,
    team_id: int = 1,
    key_id: int = 1,
    route: str = BOOKS,
    method: str = "GET",
    status: int = 200,
    latency_ms: float = 12.5,
    response_bytes: int = 100,
    request_id: str | None = None,
) -> Call:
    return Call(
        at=at.timestamp(),
        team_id=team_id,
        app_id=app_id,
        key_id=key_id,
        token_id=0,
        key_lookup_id="lookup1" if key_id else "",
        credential="api_key" if key_id else "",
        api="books",
        route=route,
        method=method,
        status=status,
        latency_ms=latency_ms,
        response_bytes=response_bytes,
        client_ip="203.0.113.7",
        request_id=request_id or f"req-{next(_request_ids)}",
        reason=None,
    )


def calls_by_start(
    level: Granularity, model=UsageRollup, **filters
) -> dict[datetime, int]:
    rows = (
        model.objects.filter(granularity=level, **filters)
        .values("start")
        .annotate(n=Sum("calls"))
        .order_by("start")
    )
    return {row["start"]: row["n"] for row in rows}


def level_sums(level: Granularity, model=UsageRollup) -> dict[str, float]:
    names = ["calls", "latency_ms_sum", "bytes_sum", *HISTOGRAM_FIELDS]
    return model.objects.filter(granularity=level).aggregate(
        **{name: Sum(name) for name in names}
    )


def total_calls(level: Granularity) -> int:
    return (
        UsageRollup.objects.filter(granularity=level).aggregate(n=Sum("calls"))["n"]
        or 0
    )


def recent_request_ids(app_id: int) -> list[str]:
    return list(
        RecentCall.objects.filter(app_id=app_id)
        .order_by("at")
        .values_list("request_id", flat=True)
    )


# -- Roll-up levels -----------------------------------------------------------


def test_minute_hour_and_day_roll_ups_agree_across_period_boundaries():
    latencies = iter([0.4, 3.0, 8.0, 19.0, 45.0, 120.0, 900.0, 2500.0])
    times = [
        utc(2024, 1, 2, 23, 59, 59),
        utc(2024, 1, 3, 0, 0, 0),
        utc(2024, 1, 31, 23, 59, 30, 250_000),
        utc(2024, 1, 31, 23, 59, 59, 999_000),  # the last instant of January
        utc(2024, 2, 1, 0, 0, 0),
        utc(2024, 2, 1, 0, 0, 59, 500_000),
        utc(2024, 2, 1, 0, 1, 0),
    ]
    for at in times:
        record(make_call(at, latency_ms=next(latencies), response_bytes=250))
    record(
        make_call(
            utc(2024, 2, 1, 0, 59, 59),
            route="/api/books/v1/books/<int:pk>/",
            status=500,
            latency_ms=next(latencies),
            response_bytes=40,
        )
    )
    # Another app's call in the same minute: counted for the platform only.
    record(make_call(utc(2024, 2, 1, 0, 0, 30), app_id=2, team_id=2, key_id=2))

    assert flush_once().calls == 9

    assert calls_by_start(Granularity.MINUTE, app_id=1) == {
        utc(2024, 1, 2, 23, 59): 1,
        utc(2024, 1, 3, 0, 0): 1,
        utc(2024, 1, 31, 23, 59): 2,
        utc(2024, 2, 1, 0, 0): 2,
        utc(2024, 2, 1, 0, 1): 1,
        utc(2024, 2, 1, 0, 59): 1,
    }
    assert calls_by_start(Granularity.HOUR, app_id=1) == {
        utc(2024, 1, 2, 23): 1,
        utc(2024, 1, 3, 0): 1,
        utc(2024, 1, 31, 23): 2,
        utc(2024, 2, 1, 0): 4,
    }
    assert calls_by_start(Granularity.DAY, app_id=1) == {
        utc(2024, 1, 2): 1,
        utc(2024, 1, 3): 1,
        utc(2024, 1, 31): 2,
        utc(2024, 2, 1): 4,
    }
    minute = level_sums(Granularity.MINUTE)
    assert minute["calls"] == 9
    assert minute["bytes_sum"] == 7 * 250 + 40 + 100
    # Each call in its latency bucket (upper bounds 1, 2, 3, 5, 7, 10, 15, 20,
    # 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000 ms, then open).
    assert {name: n for name in HISTOGRAM_FIELDS if (n := minute[name])} == {
        "lat_0": 1,  # 0.4 ms
        "lat_2": 1,  # 3 ms
        "lat_5": 1,  # 8 ms
        "lat_6": 1,  # 12.5 ms (the other app's call)
        "lat_7": 1,  # 19 ms
        "lat_9": 1,  # 45 ms
        "lat_12": 1,  # 120 ms
        "lat_17": 1,  # 900 ms
        "lat_19": 1,  # 2500 ms
    }
    assert level_sums(Granularity.HOUR) == pytest.approx(minute)
    assert level_sums(Granularity.DAY) == pytest.approx(minute)
    # The per-app roll-ups (the platform-wide views) hold the same calls.
    for level in Granularity:
        assert level_sums(level, AppUsageRollup) == pytest.approx(minute)
        assert calls_by_start(level, AppUsageRollup, app_id=1) == calls_by_start(
            level, app_id=1
        )


@pytest.mark.parametrize(
    ("range_name", "app_calls", "platform_calls", "errors_5xx"),
    [
        ("1h", 4, 5, 1),  # 00:00-00:59 on 1 February, by minute
        ("24h", 6, 7, 1),  # from 01:00 on 31 January, by hour
        ("7d", 6, 7, 1),
        ("30d", 7, 8, 1),  # from 3 January, by day
    ],
)
def test_report_totals_equal_the_roll_ups_of_their_range(
    range_name, app_calls, platform_calls, errors_5xx
):
    for at in [
        utc(2024, 1, 2, 23, 59, 59),  # a day before the 30-day window
        utc(2024, 1, 3, 0, 0, 0),
        utc(2024, 1, 31, 23, 59, 30),
        utc(2024, 1, 31, 23, 59, 59, 999_000),
        utc(2024, 2, 1, 0, 0, 0),
        utc(2024, 2, 1, 0, 0, 59, 500_000),
        utc(2024, 2, 1, 0, 1, 0),
    ]:
        record(make_call(at))
    record(make_call(utc(2024, 2, 1, 0, 59, 59), status=500))
    record(make_call(utc(2024, 2, 1, 0, 0, 30), app_id=2, team_id=2, key_id=2))
    flush_once()
    now = utc(2024, 2, 1, 0, 59, 59, 500_000).timestamp()

    report = usage_report(range_name, app_id=1, now=now)
    platform = usage_report(range_name, now=now)

    assert report.totals.calls == app_calls
    assert report.totals.errors_5xx == errors_5xx
    assert sum(point.calls for point in report.points) == app_calls
    assert sum(report.totals.histogram) == app_calls
    assert platform.totals.calls == platform_calls
    in_range = UsageRollup.objects.filter(
        granularity=report.granularity, start__gte=report.start, start__lt=report.end
    )
    assert (
        report.totals.calls == in_range.filter(app_id=1).aggregate(n=Sum("calls"))["n"]
    )
    assert platform.totals.calls == in_range.aggregate(n=Sum("calls"))["n"]
    assert platform.totals.histogram == [
        in_range.aggregate(n=Sum(name))["n"] for name in HISTOGRAM_FIELDS
    ]


def test_the_last_hour_report_puts_each_call_in_its_minute():
    for at in [
        utc(2024, 2, 1, 0, 0, 0),
        utc(2024, 2, 1, 0, 0, 59, 500_000),
        utc(2024, 2, 1, 0, 1, 0),
        utc(2024, 2, 1, 0, 59, 59),
    ]:
        record(make_call(at))
    flush_once()

    report = usage_report(
        "1h", app_id=1, now=utc(2024, 2, 1, 0, 59, 59, 500_000).timestamp()
    )

    nonzero = {point.start: point.calls for point in report.points if point.calls}
    assert nonzero == {
        utc(2024, 2, 1, 0, 0): 2,
        utc(2024, 2, 1, 0, 1): 1,
        utc(2024, 2, 1, 0, 59): 1,
    }


# -- Retention ----------------------------------------------------------------

RETENTION_NOW = utc(2024, 3, 15, 12, 0, 0)


def test_prune_deletes_each_level_past_its_retention_and_keeps_the_rest(
    settings, time_machine
):
    settings.USAGE_RETENTION_MINUTE_DAYS = 1
    settings.USAGE_RETENTION_HOUR_DAYS = 3
    settings.USAGE_RETENTION_DAY_DAYS = 10
    time_machine.move_to(RETENTION_NOW, tick=False)
    for at in [
        RETENTION_NOW - timedelta(hours=1),
        RETENTION_NOW - timedelta(days=1) + timedelta(minutes=1),
        RETENTION_NOW - timedelta(days=1),  # exactly as old as kept minutes get
        RETENTION_NOW - timedelta(days=1) - timedelta(minutes=1),
        RETENTION_NOW - timedelta(days=4),
        RETENTION_NOW - timedelta(days=12),
    ]:
        record(make_call(at))
    flush_once()

    deleted = prune()

    assert deleted == {"minute": 3, "hour": 2, "day": 1}
    assert calls_by_start(Granularity.MINUTE) == {
        utc(2024, 3, 14, 12, 0): 1,
        utc(2024, 3, 14, 12, 1): 1,
        utc(2024, 3, 15, 11, 0): 1,
    }
    assert calls_by_start(Granularity.HOUR) == {
        utc(2024, 3, 14, 11): 1,
        utc(2024, 3, 14, 12): 2,
        utc(2024, 3, 15, 11): 1,
    }
    assert calls_by_start(Granularity.DAY) == {
        utc(2024, 3, 11): 1,
        utc(2024, 3, 14): 3,
        utc(2024, 3, 15): 1,
    }
    for level in Granularity:  # the per-app roll-ups keep the same periods
        assert calls_by_start(level, AppUsageRollup) == calls_by_start(level)


def test_prune_with_the_default_retention_keeps_recent_usage(time_machine):
    time_machine.move_to(RETENTION_NOW, tick=False)
    record(make_call(RETENTION_NOW - timedelta(days=1)))
    flush_once()

    assert prune() == {"minute": 0, "hour": 0, "day": 0}
    for level in Granularity:
        assert total_calls(level) == 1


# -- Recent-calls log ---------------------------------------------------------


def test_the_recent_calls_log_keeps_the_newest_calls_of_each_app(settings):
    settings.USAGE_RECENT_CALLS = 3
    start = utc(2024, 5, 1, 9, 0, 0)
    for i in range(5):
        record(make_call(start + timedelta(seconds=i), request_id=f"a{i}"))
    for i in range(2):
        record(
            make_call(
                start + timedelta(seconds=i), app_id=2, key_id=2, request_id=f"b{i}"
            )
        )
    # An unauthenticated call belongs to no app's log.
    record(make_call(start, app_id=0, team_id=0, key_id=0, request_id="anon"))

    flush_once(batch_size=2)

    assert recent_request_ids(1) == ["a2", "a3", "a4"]
    assert recent_request_ids(2) == ["b0", "b1"]
    assert not RecentCall.objects.filter(request_id="anon").exists()
    other_app = set(RecentCall.objects.filter(app_id=2).values_list("pk", flat=True))

    for i in range(5, 7):
        record(make_call(start + timedelta(seconds=i), request_id=f"a{i}"))
    flush_once()

    assert recent_request_ids(1) == ["a4", "a5", "a6"]
    assert set(RecentCall.objects.filter(app_id=2).values_list("pk", flat=True)) == (
        other_app
    )
    # The roll-ups keep every call, whatever the log drops.
    assert total_calls(Granularity.DAY) == 10


# -- Batches ------------------------------------------------------------------


def test_a_batch_applied_twice_counts_once():
    at = utc(2024, 6, 1, 12, 0, 0)
    calls = [make_call(at + timedelta(seconds=i)) for i in range(3)]

    assert apply_batch("batch-1", calls) is True
    assert apply_batch("batch-1", calls) is False

    for level in Granularity:
        assert total_calls(level) == 3
    assert RecentCall.objects.filter(app_id=1).count() == 3
    assert list(FlushedBatch.objects.values_list("batch_id", "calls")) == [
        ("batch-1", 3)
    ]
    # Another batch id is another batch.
    assert apply_batch("batch-2", calls[:1]) is True
    assert total_calls(Granularity.MINUTE) == 4


def test_a_flush_that_fails_mid_batch_loses_nothing(
    monkeypatch, settings, time_machine
):
    at = utc(2024, 6, 1, 12, 0, 0)
    for i in range(5):
        record(make_call(at + timedelta(seconds=i)))

    def broken(calls):
        raise RuntimeError("database went away mid-batch")

    with monkeypatch.context() as patched:
        patched.setattr("portal.usage.flushing._recent", broken)
        with pytest.raises(RuntimeError):
            flush_once()

    # Nothing of the failed batch was committed ...
    assert not UsageRollup.objects.exists()
    assert not FlushedBatch.objects.exists()
    # ... and the next flush (on Redis, once the claim has timed out) has it all.
    time_machine.move_to(
        datetime.now(tz=UTC)
        + timedelta(seconds=settings.USAGE_CLAIM_TIMEOUT_SECONDS + 1)
    )
    result = flush_once()

    assert (result.batches, result.calls) == (1, 5)
    for level in Granularity:
        assert total_calls(level) == 5
    assert RecentCall.objects.count() == 5
    assert flush_once().calls == 0


def test_a_call_with_a_long_method_name_does_not_hold_up_its_batch(
    api_client, books_app
):
    # VERSION-CONTROL is a registered (WebDAV) method, and any client may send
    # it; gunicorn passes methods of up to 20 characters. The API answers 405,
    # and that call is recorded like every served call.
    response = api_client.generic(
        "VERSION-CONTROL", BOOKS, HTTP_X_API_KEY=books_app.full_key
    )
    assert response.status_code == 405
    assert api_client.get(BOOKS, HTTP_X_API_KEY=books_app.full_key).status_code == 200

    flush_once()

    for level in Granularity:
        assert total_calls(level) == 2
    assert RecentCall.objects.filter(app_id=books_app.app.pk).count() == 2


# -- The command --------------------------------------------------------------


def test_flush_usage_once_says_what_it_flushed():
    # Recent calls: the command prunes after flushing.
    at = datetime.now(tz=UTC) - timedelta(minutes=5)
    for i in range(5):
        record(make_call(at + timedelta(seconds=i)))
    out = StringIO()

    call_command("flush_usage", "--once", "--batch-size", "2", stdout=out)

    assert out.getvalue() == "Flushed 5 calls in 3 batches.\n"
    for level in Granularity:
        assert total_calls(level) == 5

    out = StringIO()
    call_command("flush_usage", "--once", stdout=out)
    assert out.getvalue() == "Flushed 0 calls in 0 batches.\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interval", "abc"], "'abc' is not a positive number of seconds."),
        (["--interval", "0"], "'0' is not a positive number of seconds."),
        (["--interval", "-5"], "'-5' is not a positive number of seconds."),
        (["--batch-size", "0"], "--batch-size must be at least 1."),
    ],
)
def test_flush_usage_refuses_bad_arguments_and_flushes_nothing(args, message):
    record(make_call(utc(2024, 6, 1, 12, 0, 0)))

    with pytest.raises(CommandError) as refused:
        call_command("flush_usage", "--once", *args, stdout=StringIO())

    assert str(refused.value) == message
    assert not UsageRollup.objects.exists()
    assert flush_once().calls == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--interval", "abc"], "CommandError: 'abc' is not a positive number"),
        (["--interval", "0"], "CommandError: '0' is not a positive number"),
        (["--batch-size", "0"], "CommandError: --batch-size must be at least 1."),
        (["--batch-size", "many"], "invalid int value: 'many'"),
    ],
)
def test_flush_usage_with_bad_arguments_exits_non_zero(tmp_path, args, message):
    # Refused before it touches anything; a throwaway database all the same.
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        "REDIS_URL": "",
    }
    finished = subprocess.run(  # noqa: S603 - fixed argv
        [sys.executable, "manage.py", "flush_usage", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert finished.returncode != 0
    assert message in finished.stderr
    assert "Flushing usage" not in finished.stdout


# -- Redis unreachable when shipping ------------------------------------------


@pytest.fixture
def redis_down(monkeypatch):
    """``redis_push`` fails like an unreachable Redis until ``up()`` is called;
    afterwards it pushes into ``pushed`` (the list Redis would hold)."""

    class Outage:
        def __init__(self) -> None:
            self.down = True
            self.attempts = 0
            self.pushed: list[str] = []

        def push(self, raw_calls: list[str]) -> None:
            if self.down:
                self.attempts += 1
                raise redis.exceptions.ConnectionError("Connection refused")
            self.pushed.extend(raw_calls)

        def up(self) -> None:
            self.down = False

    outage = Outage()
    monkeypatch.setattr(store, "redis_push", outage.push)
    # The warning is rate-limited per process; this test starts a fresh minute.
    monkeypatch.setattr(recorder, "_last_warning", float("-inf"))
    return outage


def buffered() -> int:
    with recorder._ship_lock:  # not halfway through a shipper thread's attempt
        return recorder.buffered()


def test_calls_stay_buffered_while_redis_is_down_and_ship_once_it_is_back(
    redis_down, caplog
):
    calls = [
        make_call(utc(2024, 6, 1, 12, 0, 0) + timedelta(seconds=i)) for i in range(2500)
    ]
    caplog.set_level(logging.WARNING, logger="portal.usage.recorder")
    for call in calls:
        record(call)

    for _ in range(3):
        assert recorder.ship() == 0
    assert redis_down.attempts >= 3
    assert buffered() == 2500

    redis_down.up()
    recorder.ship()

    assert buffered() == 0
    assert [Call.loads(raw) for raw in redis_down.pushed] == calls
    warnings = [r for r in caplog.records if r.name == "portal.usage.recorder"]
    assert [r.getMessage() for r in warnings] == [
        "Usage buffer not shipped to Redis (ConnectionError)"
    ]


@pytest.mark.postgres
def test_calls_buffered_during_a_redis_outage_are_counted_once_it_is_back(
    monkeypatch,
):
    def unreachable(raw_calls):
        raise redis.exceptions.ConnectionError("Connection refused")

    monkeypatch.setattr(recorder, "_last_warning", float("-inf"))
    with monkeypatch.context() as outage:
        outage.setattr(store, "redis_push", unreachable)
        for i in range(3):
            record(make_call(utc(2024, 6, 1, 12, 0, i)))
        assert recorder.ship() == 0
        assert store.pending() == 0
        assert buffered() == 3

    result = flush_once()  # ships this process's buffer, then flushes it

    assert result.calls == 3
    assert buffered() == 0
    for level in Granularity:
        assert total_calls(level) == 3


@pytest.mark.postgres
def test_a_chunk_whose_reply_was_lost_is_not_counted_twice(monkeypatch):
    """Redis stored a push but its reply never arrived (it crashed, or the
    connection was cut): the shipper retries the same chunk, which Redis
    recognises and does not append again."""
    real_push = store.redis_push
    lost = []

    def stored_but_reply_lost(raw_calls):
        real_push(raw_calls)
        if not lost:
            lost.append(len(raw_calls))
            raise redis.exceptions.ConnectionError("Connection reset by peer")
        return True

    monkeypatch.setattr(recorder, "_last_warning", float("-inf"))
    monkeypatch.setattr(store, "redis_push", stored_but_reply_lost)
    for i in range(1500):
        record(make_call(utc(2024, 6, 1, 12, 0, 0) + timedelta(seconds=i)))
    assert recorder.ship() == 0  # the first chunk "failed"
    assert lost == [1000]
    assert buffered() == 1500
    assert recorder.ship() == 1500  # the retry, then the rest
    assert store.pending() == 1500  # not 2500

    result = flush_once()
    assert result.calls == 1500
    for level in Granularity:
        assert total_calls(level) == 1500


@pytest.mark.postgres
def test_the_same_calls_pushed_again_are_ignored_but_new_ones_are_not():
    calls = [make_call(utc(2024, 6, 1, 12, 0, i)).dumps() for i in range(3)]
    assert store.redis_push(calls) is True
    assert store.redis_push(calls) is False
    assert store.redis_push(calls[:2]) is True  # another chunk
    assert store.pending() == 5
