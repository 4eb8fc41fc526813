"""Folding buffered calls into the roll-ups and the recent-calls log.

``flush_once`` is what ``python manage.py flush_usage`` runs in a loop. Every
batch lands in one database transaction together with its batch id, so a
batch is counted once however many flushers hold it, and a flusher killed
mid-batch leaves it for another (see ``portal.usage.store``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from portal.usage import recorder
from portal.usage.models import (
    HISTOGRAM_FIELDS,
    LATENCY_BOUNDS_MS,
    AppUsageRollup,
    FlushedBatch,
    Granularity,
    RecentCall,
    UsageRollup,
)
from portal.usage.recorder import Call

logger = logging.getLogger(__name__)

_PERIODS = (
    (Granularity.MINUTE, 60),
    (Granularity.HOUR, 3600),
    (Granularity.DAY, 86400),
)
_KEY_FIELDS = (
    "granularity",
    "start",
    "team_id",
    "app_id",
    "key_id",
    "api",
    "route",
    "method",
    "status",
)
_APP_KEY_FIELDS = ("granularity", "start", "team_id", "app_id", "status")
_SUM_FIELDS = ("calls", "latency_ms_sum", "bytes_sum", *HISTOGRAM_FIELDS)


def latency_bucket(latency_ms: float) -> int:
    for index, bound in enumerate(LATENCY_BOUNDS_MS):
        if latency_ms <= bound:
            return index
    return len(LATENCY_BOUNDS_MS)


def fold(calls: list[Call]) -> tuple[dict[tuple, list], dict[tuple, list]]:
    """Sum calls per roll-up row at every granularity: the detailed rows
    (endpoint, credential, status) and the per-app rows.

    Calls are summed per minute row first; the hour, day and per-app rows are
    then summed from those, so each call is touched once.
    """
    width = len(_SUM_FIELDS)
    minutes: dict[tuple, list] = {}
    for call in calls:
        at = int(call.at)
        key = (
            at - at % 60,
            call.team_id,
            call.app_id,
            call.key_id,
            call.api,
            call.route[:255],
            call.method[:10],
            call.status,
        )
        sums = minutes.get(key)
        if sums is None:
            sums = minutes[key] = [0] * width
        sums[0] += 1
        sums[1] += call.latency_ms
        sums[2] += call.response_bytes
        sums[3 + latency_bucket(call.latency_ms)] += 1

    rows: dict[tuple, list] = {}
    app_rows: dict[tuple, list] = {}
    for key, sums in minutes.items():
        start, team_id, app_id, status = key[0], key[1], key[2], key[7]
        for granularity, seconds in _PERIODS:
            period = start - start % seconds
            for table, row_key in (
                (rows, (granularity.value, period, *key[1:])),
                (app_rows, (granularity.value, period, team_id, app_id, status)),
            ):
                total = table.get(row_key)
                if total is None:
                    table[row_key] = list(sums)
                else:
                    for index, value in enumerate(sums):
                        total[index] += value
    return rows, app_rows


def _upsert(model, key_fields: tuple[str, ...], rows: dict[tuple, list]) -> None:
    table = connection.ops.quote_name(model._meta.db_table)
    columns = [*key_fields, *_SUM_FIELDS]
    quoted = [connection.ops.quote_name(c) for c in columns]
    placeholder = "(" + ", ".join(["%s"] * len(columns)) + ")"
    updates = ", ".join(
        f"{c} = {table}.{c} + excluded.{c}"
        for c in (connection.ops.quote_name(f) for f in _SUM_FIELDS)
    )
    conflict = ", ".join(connection.ops.quote_name(c) for c in key_fields)
    # A fixed order: concurrent flushers lock shared rows in the same order
    # and cannot deadlock on them.
    ordered = sorted(rows.items())
    adapt = connection.ops.adapt_datetimefield_value
    params = [
        [key[0], adapt(datetime.fromtimestamp(key[1], UTC)), *key[2:], *sums]
        for key, sums in ordered
    ]
    # One statement, its rows sent together (psycopg pipelines executemany):
    # the statement is parsed once, however many rows a batch has.
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({', '.join(quoted)}) VALUES {placeholder}"  # noqa: S608 - names are ours
            f" ON CONFLICT ({conflict}) DO UPDATE SET {updates}",
            params,
        )


def _recent(calls: list[Call]) -> None:
    """Add the batch's calls to their apps' logs and trim each log to its
    newest ``USAGE_RECENT_CALLS`` (by call time, then arrival)."""
    keep = settings.USAGE_RECENT_CALLS
    per_app: dict[int, list[Call]] = {}
    for call in calls:
        if call.app_id:
            per_app.setdefault(call.app_id, []).append(call)
    # Plain multi-row INSERTs: the ORM's bulk_create spends more on preparing
    # each value than the database spends storing it, on every flush.
    fields = RecentCall._meta
    reason_field = fields.get_field("reason")
    ip_field = fields.get_field("client_ip")
    adapt_time = connection.ops.adapt_datetimefield_value
    rows = []
    for app_calls in per_app.values():
        # Calls the trim would delete at once are not written at all.
        app_calls.sort(key=lambda c: c.at)
        rows += [
            (
                c.app_id,
                adapt_time(datetime.fromtimestamp(c.at, UTC)),
                c.request_id[:64],
                c.method[:10],
                c.api[:64],
                c.route[:255],
                c.status,
                round(c.latency_ms, 3),
                c.response_bytes,
                c.key_lookup_id[:32],
                c.credential[:16],
                ip_field.get_db_prep_save(c.client_ip, connection),
                reason_field.get_db_prep_save(c.reason, connection),
            )
            for c in app_calls[-keep:]
        ]
    if not rows:
        return
    columns = ", ".join(
        connection.ops.quote_name(name)
        for name in (
            "app_id",
            "at",
            "request_id",
            "method",
            "api",
            "route",
            "status",
            "latency_ms",
            "response_bytes",
            "key_lookup_id",
            "credential",
            "client_ip",
            "reason",
        )
    )
    table = connection.ops.quote_name(RecentCall._meta.db_table)
    apps = sorted(per_app)
    placeholder = "(" + ", ".join(["%s"] * 13) + ")"
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) VALUES {placeholder}",  # noqa: S608 - names are ours
            rows,
        )
        # One statement for every app of the batch (window functions: SQLite
        # 3.25+, PostgreSQL).
        cursor.execute(
            f"DELETE FROM {table} WHERE id IN ("  # noqa: S608 - names are ours
            " SELECT id FROM ("
            "  SELECT id, ROW_NUMBER() OVER ("
            "   PARTITION BY app_id ORDER BY at DESC, id DESC) AS position"
            f"  FROM {table} WHERE app_id IN ({', '.join(['%s'] * len(apps))})"
            " ) AS ranked WHERE position > %s)",
            [*apps, keep],
        )


def apply_batch(batch_id: str, calls: list[Call]) -> bool:
    """Fold one batch in; False if it had already been folded in."""
    try:
        with transaction.atomic():
            FlushedBatch.objects.create(batch_id=batch_id, calls=len(calls))
            rows, app_rows = fold(calls)
            _upsert(UsageRollup, _KEY_FIELDS, rows)
            _upsert(AppUsageRollup, _APP_KEY_FIELDS, app_rows)
            _recent(calls)
    except IntegrityError:
        if FlushedBatch.objects.filter(batch_id=batch_id).exists():
            return False
        raise
    return True


def _apply_with_retries(batch_id: str, calls: list[Call]) -> bool:
    for attempt in range(3):
        try:
            return apply_batch(batch_id, calls)
        except OperationalError:  # e.g. a deadlock detected between flushers
            if attempt == 2:
                raise
            time.sleep(0.05 * (attempt + 1))
    return False


@dataclass
class FlushResult:
    batches: int = 0
    calls: int = 0
    duplicates: int = 0


def _decode(items: list[bytes]) -> list[Call]:
    try:  # the whole batch in one parse
        return [Call(*fields) for fields in json.loads(b"[" + b",".join(items) + b"]")]
    except (ValueError, TypeError):
        pass
    calls = []
    for raw in items:
        try:
            calls.append(Call.loads(raw))
        except (ValueError, TypeError):
            logger.error("Skipped an unreadable usage record")
    return calls


def _flush_redis(batch_size: int, max_batches: int | None) -> FlushResult:
    from portal.usage import store

    result = FlushResult()
    now = time.time()
    cutoff = now - settings.USAGE_CLAIM_TIMEOUT_SECONDS
    for batch_id in store.stale_claims(cutoff):
        items = store.take_over(batch_id, cutoff, now)
        if items is None:
            continue  # someone else took it over first
        if _apply_with_retries(batch_id, _decode(items)):
            result.batches += 1
            result.calls += len(items)
        else:
            result.duplicates += 1
        store.release(batch_id)
    while max_batches is None or result.batches < max_batches:
        batch_id = uuid.uuid4().hex
        items = store.claim(batch_id, batch_size, time.time())
        if not items:
            break
        if _apply_with_retries(batch_id, _decode(items)):
            result.batches += 1
            result.calls += len(items)
        store.release(batch_id)
    return result


def _flush_local(batch_size: int, max_batches: int | None) -> FlushResult:
    result = FlushResult()
    while max_batches is None or result.batches < max_batches:
        calls = recorder.drain(batch_size)
        if not calls:
            break
        try:
            _apply_with_retries(uuid.uuid4().hex, calls)
        except Exception:
            recorder.put_back(calls)
            raise
        result.batches += 1
        result.calls += len(calls)
    return result


def flush_once(batch_size: int | None = None, max_batches: int | None = None):
    """Fold in everything buffered now (or ``max_batches`` batches)."""
    batch_size = batch_size or settings.USAGE_FLUSH_BATCH_SIZE
    if recorder.uses_redis():
        recorder.ship()  # this process's own calls first
        return _flush_redis(batch_size, max_batches)
    return _flush_local(batch_size, max_batches)


def prune(now: datetime | None = None) -> dict[str, int]:
    """Delete roll-ups and batch records past their retention."""
    now = now or timezone.now()
    deleted = {}
    for granularity, days in (
        (Granularity.MINUTE, settings.USAGE_RETENTION_MINUTE_DAYS),
        (Granularity.HOUR, settings.USAGE_RETENTION_HOUR_DAYS),
        (Granularity.DAY, settings.USAGE_RETENTION_DAY_DAYS),
    ):
        cutoff = now - timedelta(days=days)
        deleted[granularity.label] = UsageRollup.objects.filter(
            granularity=granularity, start__lt=cutoff
        ).delete()[0]
        AppUsageRollup.objects.filter(
            granularity=granularity, start__lt=cutoff
        ).delete()
    FlushedBatch.objects.filter(flushed_at__lt=now - timedelta(days=7)).delete()
    return deleted


_background: threading.Thread | None = None


def background_flusher_start() -> None:
    """Flush in a daemon thread of this process (``make run``)."""
    global _background
    if _background is not None:
        return

    def loop() -> None:
        last_prune = 0.0
        while True:
            time.sleep(settings.USAGE_FLUSH_INTERVAL_SECONDS)
            try:
                flush_once()
                if time.monotonic() - last_prune > 3600:
                    last_prune = time.monotonic()
                    prune()
            except Exception:
                logger.exception("Usage flush failed; retrying")

    _background = threading.Thread(target=loop, name="gatehouse-usage-flusher")
    _background.daemon = True
    _background.start()
