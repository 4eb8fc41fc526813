"""Usage query benchmark: the usage charts' queries over 10 million calls.

Creates its own PostgreSQL database (dropped and created afresh, migrated),
and seeds the usage roll-ups that 10 million served calls would have left
there: a few hundred apps of about a hundred teams, each calling some of a
catalogue of endpoints with one to four keys (or an OAuth token) and a mix of
statuses, busier by day than by night and on weekdays, growing over the
history (90 days by default). The rows are what ``flush_usage`` would have
written and the retention defaults kept: every call is in its day row, its
hour row if younger than ``USAGE_RETENTION_HOUR_DAYS`` and its minute row if
younger than ``USAGE_RETENTION_MINUTE_DAYS``, so the levels agree. The rows
go in with one ``COPY``; the table's indexes are dropped first and rebuilt
from their own definitions after (checked identical). The per-app
roll-ups the flusher writes beside them are then summed from those rows
with one ``INSERT ... SELECT``, and both tables get ``VACUUM ANALYZE`` (the
server this was written on runs without autovacuum).

Then it times, in process through the ORM, warm (one unmeasured call first),
the median of ``--runs`` calls of what the pages run:

- an app's usage chart, ``usage_report(range, app_id=...)`` for the busiest
  app, over every range; issue #6's target is 150 ms for 30 days;
- the staff overview: the platform-wide ``usage_report(range)`` and
  ``top_apps(range)`` by calls and by errors, over 24 hours, 7 days and 30
  days; target 500 ms;

and prints a Markdown report (row counts, the figures against the targets
and, for any target missed, an ``EXPLAIN (ANALYZE, BUFFERS)`` summary of its
statements), appended to ``benchmarks/RESULTS.md`` unless ``--no-append``.
The database is dropped at the end unless ``--keep-database``;
``--reuse-database`` times a kept one again without seeding it.

Needs PostgreSQL only. ``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import collections
import functools
import itertools
import math
import operator
import os
import platform
import random
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script, only benchmarks/ is on it
    sys.path.insert(0, str(ROOT))

from benchmarks.run import (  # noqa: E402 - needs ROOT on sys.path first
    RESULTS,
    BenchError,
    _admin_connection,
    _database_url,
    _interrupted,
    bench_environment,
    commit_description,
    cpu_model,
    database_create,
    database_drop,
    results_append,
)

APP_CHART_TARGET_MS = 150.0  # issue #6: the 30-day app chart
STAFF_OVERVIEW_TARGET_MS = 500.0  # issue #6: the staff overview
DAY = 86400
HOUR = 3600
MINUTE = 60


# --- options -----------------------------------------------------------------


def _positive(value: str) -> int:
    number = int(value.replace("_", ""))
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive whole number")
    return number


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="benchmarks/usage_queries.py",
        description=(
            "Seed a fresh PostgreSQL database with the usage roll-ups of 10 "
            "million calls, time the 30-day app chart (target 150 ms) and the "
            "staff overview (target 500 ms) and append the figures to "
            "benchmarks/RESULTS.md."
        ),
    )
    seed = parser.add_argument_group("the seeded usage")
    seed.add_argument(
        "--calls",
        type=_positive,
        default=10_000_000,
        help="calls the roll-ups add up to (default: %(default)s)",
    )
    seed.add_argument(
        "--days",
        type=_positive,
        default=90,
        help="days of history, today included (default: %(default)s)",
    )
    seed.add_argument(
        "--apps", type=_positive, default=300, help="apps (default: %(default)s)"
    )
    seed.add_argument(
        "--teams", type=_positive, default=100, help="teams (default: %(default)s)"
    )
    seed.add_argument(
        "--seed",
        type=int,
        default=6,
        help="random seed: the same one seeds the same platform (default: %(default)s)",
    )
    timing = parser.add_argument_group("timing")
    timing.add_argument(
        "--runs",
        type=_positive,
        default=9,
        help="timed calls per query after a warm-up call; the median is "
        "reported (default: %(default)s)",
    )
    services = parser.add_argument_group("database")
    services.add_argument(
        "--postgres-url",
        default="postgres://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL server and a database to connect to while the "
        "benchmark database is created and dropped (default: %(default)s)",
    )
    services.add_argument(
        "--database-name",
        default="gatehouse_usage_bench",
        help="dropped and created afresh (default: %(default)s)",
    )
    services.add_argument(
        "--keep-database",
        action="store_true",
        help="leave the seeded database in place at the end (to look into it "
        "with psql, or to time it again with --reuse-database)",
    )
    services.add_argument(
        "--reuse-database",
        action="store_true",
        help="time a database kept by an earlier --keep-database run, without "
        "seeding, and keep it (the seed options are then ignored; the data has "
        "aged since)",
    )
    parser.add_argument(
        "--no-append",
        action="store_true",
        help="print the report without appending it to benchmarks/RESULTS.md",
    )
    args = parser.parse_args(argv)
    if args.teams > args.apps:
        parser.error("--teams cannot exceed --apps")
    return args


# --- the platform seeded -----------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    api: str
    route: str
    method: str
    latency_ms: float  # median of a served call
    size: int  # mean response bytes


CATALOGUE = (
    Endpoint("books", "/api/books/v1/books/", "GET", 18, 4200),
    Endpoint("books", "/api/books/v1/books/<int:book_id>/", "GET", 7, 900),
    Endpoint("books", "/api/books/v1/books/", "POST", 25, 950),
    Endpoint("books", "/api/books/v1/authors/", "GET", 15, 3100),
    Endpoint("books", "/api/books/v1/authors/<int:author_id>/", "GET", 6, 700),
    Endpoint("orders", "/api/orders/v1/orders/", "GET", 30, 6400),
    Endpoint("orders", "/api/orders/v1/orders/", "POST", 45, 1200),
    Endpoint("orders", "/api/orders/v1/orders/<uuid:order_id>/", "GET", 12, 1100),
    Endpoint("orders", "/api/orders/v1/orders/<uuid:order_id>/", "PATCH", 35, 1100),
    Endpoint("orders", "/api/orders/v1/orders/<uuid:order_id>/", "DELETE", 20, 0),
    Endpoint("payments", "/api/payments/v1/charges/", "POST", 120, 800),
    Endpoint("payments", "/api/payments/v1/charges/<str:charge_id>/", "GET", 10, 750),
    Endpoint("payments", "/api/payments/v1/refunds/", "POST", 150, 600),
    Endpoint("manage", "/api/manage/v1/apps/<int:app_id>/usage/", "GET", 40, 5200),
)
SUCCESS = {"GET": 200, "POST": 201, "PATCH": 200, "DELETE": 204}
# Refused before the view runs: authentication, scopes, limits.
REFUSED_EARLY = {401, 403, 429}


@dataclass(frozen=True)
class Combo:
    """One roll-up row's identity below the period: who called what, and the
    answer."""

    team_id: int
    app_id: int
    key_id: int
    endpoint: int  # index into CATALOGUE
    status: int
    weight: float  # share of the app's calls


@dataclass(frozen=True)
class SeedApp:
    team_id: int
    app_id: int
    weight: float  # share of the platform's calls
    first_day: int  # days after the history starts that it began calling


def _shares(rng: random.Random, count: int, skew: float) -> list[float]:
    raw = [1 / (rank + 1) ** skew * rng.uniform(0.7, 1.3) for rank in range(count)]
    total = sum(raw)
    return [r / total for r in raw]


def _statuses(
    rng: random.Random, endpoint: Endpoint, error_factor: float, throttled: float
) -> list[tuple[int, float]]:
    detail = "<" in endpoint.route
    writes = endpoint.method in ("POST", "PATCH")
    errors = {
        400: 0.02 if writes else 0.003,
        401: 0.004,
        403: 0.002,
        404: 0.015 if detail else 0.001,
        409: 0.004 if endpoint.method == "POST" else 0.0,
        500: 0.001,
        503: 0.0003,
    }
    shares = [(code, share * error_factor) for code, share in errors.items() if share]
    if throttled:
        shares.append((429, throttled))
    success = max(1.0 - sum(share for _, share in shares), 0.5)
    return [(SUCCESS[endpoint.method], success), *shares]


def seed_platform(
    rng: random.Random, apps: int, teams: int, days: int
) -> tuple[list[SeedApp], list[Combo]]:
    """Apps with Zipf-like activity (a few busy ones, a long quiet tail),
    each with its keys, endpoints and error profile."""
    order = list(range(apps))
    rng.shuffle(order)
    activity = _shares(rng, apps, 1.0)
    apis = sorted({e.api for e in CATALOGUE})
    seed_apps, combos = [], []
    key_ids = itertools.count(1)
    for index in range(apps):
        app = SeedApp(
            team_id=1 + index % teams,
            app_id=1 + index,
            weight=activity[order[index]],
            # Most apps call from the start; some began later.
            first_day=0 if rng.random() < 0.7 else rng.randrange(days),
        )
        seed_apps.append(app)
        keys = [
            (next(key_ids), share)
            for share in _shares(rng, rng.choice((1, 1, 2, 2, 3, 4)), 1.5)
        ]
        if rng.random() < 0.3:  # some of its calls with an OAuth token
            keys = [(k, s * 0.7) for k, s in keys] + [(0, 0.3)]
        used_apis = rng.sample(apis, rng.choice((1, 1, 2, 2, 3)))
        offered = [i for i, e in enumerate(CATALOGUE) if e.api in used_apis]
        endpoints = rng.sample(offered, rng.randint(min(2, len(offered)), len(offered)))
        error_factor = rng.lognormvariate(0, 0.7)
        throttled = 0.0 if rng.random() < 0.6 else min(rng.lognormvariate(-4.5, 1), 0.2)
        for (key_id, key_share), (endpoint, endpoint_share) in itertools.product(
            keys, zip(endpoints, _shares(rng, len(endpoints), 1.2), strict=True)
        ):
            for status, status_share in _statuses(
                rng, CATALOGUE[endpoint], error_factor, throttled
            ):
                combos.append(
                    Combo(
                        team_id=app.team_id,
                        app_id=app.app_id,
                        key_id=key_id,
                        endpoint=endpoint,
                        status=status,
                        weight=key_share * endpoint_share * status_share,
                    )
                )
    # Calls with no usable credential (a malformed or unknown key): 401s that
    # belong to no app, counted for the platform only.
    seed_apps.append(SeedApp(team_id=0, app_id=0, weight=0.01, first_day=0))
    combos += [
        Combo(0, 0, 0, endpoint, 401, 1 / len(CATALOGUE))
        for endpoint in range(len(CATALOGUE))
    ]
    return seed_apps, combos


def _latency_profile(
    endpoint: Endpoint, status: int, bounds: Sequence[float]
) -> list[float]:
    """Cumulative weights of the latency buckets: log-normal around a median
    that depends on how far the call got."""
    if status in REFUSED_EARLY:
        median, sigma = 1.5, 0.5
    elif status == 503:
        median, sigma = 1500.0, 0.4
    elif status >= 500:
        median, sigma = endpoint.latency_ms * 3, 1.0
    elif status >= 400:
        median, sigma = endpoint.latency_ms * 0.4, 0.5
    else:
        median, sigma = endpoint.latency_ms, 0.6
    below = [
        0.5 * (1 + math.erf((math.log(bound) - math.log(median)) / (sigma * 2**0.5)))
        for bound in bounds
    ]
    return [*below, 1.0]


def _hour_weight(start: int, first: int, last: int) -> float:
    """Traffic shape: grows from half to one and a half times the mean over
    the history, peaks at 15:00 UTC, quieter at weekends."""
    growth = 0.5 + (start - first) / max(last - first, 1)
    hour_of_day = start // HOUR % 24
    diurnal = 1 + 0.6 * math.cos(2 * math.pi * (hour_of_day - 15) / 24)
    weekly = 0.65 if datetime.fromtimestamp(start, UTC).weekday() >= 5 else 1.0
    return growth * diurnal * weekly


def _allocate(total: int, weights: Sequence[float]) -> list[int]:
    """``total`` split in proportion to ``weights``, exactly (largest
    remainder)."""
    scale = total / sum(weights)
    shares = [w * scale for w in weights]
    counts = [int(s) for s in shares]
    by_remainder = sorted(
        range(len(shares)), key=lambda i: shares[i] - counts[i], reverse=True
    )
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


@dataclass(frozen=True)
class Retention:
    """Oldest period start each level keeps, as ``prune`` would leave it."""

    minute: int
    hour: int
    day: int


class Seeder:
    """Draws the calls of every period and yields the roll-up rows, day by
    day: minute rows (where kept) sum into their hour's, hour rows into
    their day's, so the levels agree."""

    def __init__(
        self,
        rng: random.Random,
        apps: list[SeedApp],
        combos: list[Combo],
        bounds: Sequence[float],
    ) -> None:
        self.rng = rng
        self.apps = apps
        self.combos = combos
        self.indices = range(len(combos))
        self.profiles = {
            (c.endpoint, c.status): _latency_profile(
                CATALOGUE[c.endpoint], c.status, bounds
            )
            for c in combos
        }
        self.buckets = range(len(bounds) + 1)
        lows = [0.0, *bounds]
        self.bucket_ms = [(low + high) / 2 for low, high in itertools.pairwise(lows)]
        self.bucket_ms.append(bounds[-1] * 1.5)
        self.cum_weights: list[float] = []

    def _day_weights(self, day_index: int) -> None:
        factor = {
            app.app_id: (
                0.0 if day_index < app.first_day else self.rng.lognormvariate(0, 0.3)
            )
            * app.weight
            for app in self.apps
        }
        self.cum_weights = list(
            itertools.accumulate(c.weight * factor[c.app_id] for c in self.combos)
        )

    def _draw(self, calls: int) -> dict[int, list]:
        rng = self.rng
        drawn = collections.Counter(
            rng.choices(self.indices, cum_weights=self.cum_weights, k=calls)
        )
        rows = {}
        for index, n in drawn.items():
            combo = self.combos[index]
            histogram = [0] * len(self.buckets)
            profile = self.profiles[combo.endpoint, combo.status]
            for bucket in rng.choices(self.buckets, cum_weights=profile, k=n):
                histogram[bucket] += 1
            latency = sum(
                h * ms for h, ms in zip(histogram, self.bucket_ms, strict=True)
            )
            size = CATALOGUE[combo.endpoint].size if combo.status < 400 else 260
            rows[index] = [n, latency, n * size, *histogram]
        return rows

    @staticmethod
    def _add(into: dict[int, list], rows: dict[int, list]) -> None:
        for index, sums in rows.items():
            held = into.get(index)
            into[index] = sums if held is None else list(map(operator.add, held, sums))

    def _rows(self, level: str, start: int, rows: dict[int, list]) -> Iterator[tuple]:
        at = datetime.fromtimestamp(start, UTC)
        for index, sums in rows.items():
            combo = self.combos[index]
            endpoint = CATALOGUE[combo.endpoint]
            yield (
                level,
                at,
                combo.team_id,
                combo.app_id,
                combo.key_id,
                endpoint.api,
                endpoint.route,
                endpoint.method,
                combo.status,
                sums[0],
                round(sums[1], 3),
                *sums[2:],
            )

    def rows(self, calls: int, days: int, now: int, keep: Retention) -> Iterator[tuple]:
        first = (now // DAY - days + 1) * DAY
        hours = list(range(first, now - now % HOUR + HOUR, HOUR))
        weights = [_hour_weight(h, first, now) for h in hours]
        weights[-1] *= (now % HOUR + MINUTE) / HOUR  # the current hour so far
        day_start, day_rows = None, {}
        for hour_start, hour_calls in zip(
            hours, _allocate(calls, weights), strict=True
        ):
            day = hour_start - hour_start % DAY
            if day != day_start:
                if day_start is not None and day_start >= keep.day:
                    yield from self._rows("d", day_start, day_rows)
                day_start, day_rows = day, {}
                day_index = (day - first) // DAY
                self._day_weights(day_index)
                if day_index % 10 == 0:
                    print(
                        f"  {datetime.fromtimestamp(day, UTC):%Y-%m-%d} ...", flush=True
                    )
            if hour_start + HOUR > keep.minute:
                # Drawn minute by minute: its minutes' rows are kept.
                minutes = range(hour_start, min(hour_start + HOUR, now + 1), MINUTE)
                per_minute = collections.Counter(
                    self.rng.choices(minutes, k=hour_calls)
                )
                hour_rows: dict[int, list] = {}
                for minute_start in minutes:
                    if not per_minute[minute_start]:
                        continue
                    minute_rows = self._draw(per_minute[minute_start])
                    if minute_start >= keep.minute:
                        yield from self._rows("m", minute_start, minute_rows)
                    self._add(hour_rows, minute_rows)
            else:
                hour_rows = self._draw(hour_calls) if hour_calls else {}
            if hour_start >= keep.hour:
                yield from self._rows("h", hour_start, hour_rows)
            self._add(day_rows, hour_rows)
        if day_start is not None and day_start >= keep.day:
            yield from self._rows("d", day_start, day_rows)


# --- the database ------------------------------------------------------------------


def _indexes(conn: psycopg.Connection, table: str) -> list[tuple]:
    """Each index of the table: name, definition, and its constraint's name,
    type and definition if it backs one."""
    return conn.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid), "
        "c.conname, c.contype, pg_get_constraintdef(c.oid) "
        "FROM pg_index i LEFT JOIN pg_constraint c "
        "ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid "
        "WHERE i.indrelid = %s::regclass ORDER BY 1",
        (table,),
    ).fetchall()


def seed(
    database_url: str, args: argparse.Namespace, keep: Retention, now: int
) -> float:
    """COPY the roll-ups in with the table's secondary indexes dropped, then
    rebuild them as they were; returns the seconds it took."""
    from portal.usage.models import HISTOGRAM_FIELDS, LATENCY_BOUNDS_MS, UsageRollup

    started = time.monotonic()
    table = UsageRollup._meta.db_table
    columns = [
        "granularity",
        "start",
        "team_id",
        "app_id",
        "key_id",
        "api",
        "route",
        "method",
        "status",
        "calls",
        "latency_ms_sum",
        "bytes_sum",
        *HISTOGRAM_FIELDS,
    ]
    rng = random.Random(args.seed)  # noqa: S311 - test data, not secrets
    apps, combos = seed_platform(rng, args.apps, args.teams, args.days)
    seeder = Seeder(rng, apps, combos, LATENCY_BOUNDS_MS)
    print(
        f"Seeding {args.calls} calls over {args.days} days: {len(apps)} apps, "
        f"{len(combos)} (app, key, endpoint, status) combinations ...",
        flush=True,
    )
    with psycopg.connect(database_url) as conn:
        indexes = _indexes(conn, table)
        for name, _, constraint, kind, _ in indexes:
            if kind == "u":
                conn.execute(
                    sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                        sql.Identifier(table), sql.Identifier(constraint)
                    )
                )
            elif kind is None:
                conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in seeder.rows(args.calls, args.days, now, keep):
                copy.write_row(row)
        print("Rebuilding the indexes ...", flush=True)
        conn.execute("SET maintenance_work_mem = '512MB'")
        for _, definition, constraint, kind, constraint_definition in indexes:
            if kind == "u":
                conn.execute(
                    sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                        sql.Identifier(table),
                        sql.Identifier(constraint),
                        sql.SQL(constraint_definition),
                    )
                )
            elif kind is None:
                conn.execute(sql.SQL(definition))
        conn.commit()
        rebuilt = _indexes(conn, table)
    if rebuilt != indexes:
        raise BenchError(
            f"The rebuilt indexes differ from the migrated ones:\n{indexes}\n{rebuilt}"
        )
    # The per-app roll-ups the flusher writes beside the detailed ones: the
    # same calls summed per (level, period, team, app, status).
    from portal.usage.models import AppUsageRollup

    app_table = AppUsageRollup._meta.db_table
    keys = ["granularity", "start", "team_id", "app_id", "status"]
    sums = [c for c in columns if c not in (*keys, "key_id", "api", "route", "method")]
    print("Summing the per-app roll-ups ...", flush=True)
    with psycopg.connect(database_url) as conn:
        conn.execute(
            sql.SQL(
                "INSERT INTO {app_table} ({keys}, {sums}) SELECT {keys}, {totals} "
                "FROM {table} GROUP BY {keys}"
            ).format(
                app_table=sql.Identifier(app_table),
                table=sql.Identifier(table),
                keys=sql.SQL(", ").join(map(sql.Identifier, keys)),
                sums=sql.SQL(", ").join(map(sql.Identifier, sums)),
                totals=sql.SQL(", ").join(
                    sql.SQL("sum({})").format(sql.Identifier(c)) for c in sums
                ),
            )
        )
        conn.commit()
    print("VACUUM ANALYZE ...", flush=True)
    with psycopg.connect(database_url, autocommit=True) as conn:
        for name in (table, app_table):
            conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(name)))
    return time.monotonic() - started


# --- what is timed -----------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    label: str
    code: str  # what it calls, as the report shows it
    call: Callable[[], object]
    target_ms: float | None = None
    part: bool = False  # one part of the staff overview, shown under it


@dataclass
class Timing:
    query: Query
    times_ms: list[float]
    statements: list[str]  # the SQL of one call

    @property
    def median_ms(self) -> float:
        return statistics.median(self.times_ms)

    @property
    def met(self) -> bool | None:
        target = self.query.target_ms
        return None if target is None else self.median_ms <= target


def queries_timed(app_id: int) -> list[Query]:
    from portal.usage.queries import top_apps, usage_report

    def overview(range_name: str) -> None:
        usage_report(range_name)
        top_apps(range_name)

    timed = [
        Query(
            f"App chart, {label}",
            f'usage_report("{range_name}", app_id=<busiest>)',
            functools.partial(usage_report, range_name, app_id=app_id),
            APP_CHART_TARGET_MS if range_name == "30d" else None,
        )
        for range_name, label in (
            ("30d", "30 days"),
            ("7d", "7 days"),
            ("24h", "24 hours"),
            ("1h", "1 hour"),
        )
    ]
    for range_name, label in (
        ("24h", "24 hours"),
        ("7d", "7 days"),
        ("30d", "30 days"),
    ):
        timed += [
            Query(
                f"Staff overview, {label}",
                f'usage_report("{range_name}") + top_apps("{range_name}")',
                functools.partial(overview, range_name),
                STAFF_OVERVIEW_TARGET_MS,
            ),
            Query(
                "(part) platform-wide report",
                f'usage_report("{range_name}")',
                functools.partial(usage_report, range_name),
                part=True,
            ),
            Query(
                "(part) top apps by calls and by errors",
                f'top_apps("{range_name}")',
                functools.partial(top_apps, range_name),
                part=True,
            ),
        ]
    return timed


def time_query(query: Query, runs: int) -> Timing:
    """One unmeasured call (its SQL captured), then ``runs`` timed ones."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        query.call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        query.call()
        times.append((time.perf_counter() - started) * 1000)
    return Timing(query, times, [q["sql"] for q in captured.captured_queries])


def explain(statement: str) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement)
        return [row[0] for row in cursor.fetchall()]


def plan_summary(plan: list[str]) -> list[str]:
    """The plan's nodes, how many rows their filters threw away, and the
    timings; without the rest of the per-node detail."""
    keep = (
        "->",
        "Rows Removed by Filter",
        "Workers Launched",
        "Planning Time",
        "JIT:",
        "Timing:",
        "Execution Time",
    )
    return [
        line
        for index, line in enumerate(plan)
        if index == 0 or line.strip().startswith(keep)
    ]


# --- what is in the database ---------------------------------------------------------


def _scalar(query: str, params: Sequence = ()) -> object:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchone()[0]


def table_stats(table: str) -> list[tuple]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT granularity, count(*), sum(calls), min(start), max(start) "  # noqa: S608 - our table's name
            f"FROM {connection.ops.quote_name(table)} GROUP BY granularity"
        )
        found = {row[0]: row for row in cursor.fetchall()}
    return [found[level] for level in ("m", "h", "d") if level in found]


def rows_read(table: str, range_name: str, app_id: int | None) -> int:
    """Roll-up rows in the range's window: what the report aggregates."""
    from django.db import connection

    from portal.usage.queries import RANGES, window

    start, end = window(range_name)
    query = (
        f"SELECT count(*) FROM {connection.ops.quote_name(table)} "  # noqa: S608 - our table's name
        "WHERE granularity = %s AND start >= %s AND start < %s"
    )
    params = [RANGES[range_name][1], start, end]
    if app_id is not None:
        query += " AND app_id = %s"
        params.append(app_id)
    return int(_scalar(query, params))


def busiest_app(table: str) -> tuple[int, int]:
    """The app with the most calls over the last 30 days, and its calls."""
    from django.db import connection

    from portal.usage.queries import window

    start, end = window("30d")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT app_id, sum(calls) FROM {connection.ops.quote_name(table)} "  # noqa: S608 - our table's name
            "WHERE granularity = 'd' AND start >= %s AND start < %s AND app_id <> 0 "
            "GROUP BY app_id ORDER BY 2 DESC LIMIT 1",
            [start, end],
        )
        row = cursor.fetchone()
    if row is None:
        raise BenchError("No app has calls in the last 30 days: nothing to time.")
    return int(row[0]), int(row[1])


# --- report ------------------------------------------------------------------------


def server_settings() -> str:
    from django.db import connection

    names = (
        "shared_buffers",
        "work_mem",
        "max_parallel_workers_per_gather",
        "jit",
        "random_page_cost",
    )
    with connection.cursor() as cursor:
        values = []
        for name in names:
            cursor.execute(f"SHOW {name}")
            values.append(f"{name} {cursor.fetchone()[0]}")
    return ", ".join(values)


def _abridged(statement: str) -> str:
    """The statement with its long list of sums elided: what it reads and how
    it groups is what a plan is read against."""
    select, found, rest = statement.partition(" FROM ")
    return (
        f"{select[:120]} ... FROM {rest}" if found and len(select) > 160 else statement
    )


def _fmt_ms(value: float) -> str:
    return f"{value:.1f}"


def report(
    *,
    table: str,
    seeded_seconds: float | None,
    args: argparse.Namespace,
    app: tuple[int, int],
    timings: list[Timing],
    plans: dict[str, list[tuple[str, list[str]]]],
) -> str:
    from django import get_version
    from django.db import connection

    from portal.usage.queries import RANGES

    major, minor = divmod(connection.pg_version, 10000)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    levels = table_stats(table)
    names = {"m": "minute", "h": "hour", "d": "day"}
    distinct = {
        column: int(_scalar(f"SELECT count(DISTINCT {column}) FROM {table}"))  # noqa: S608 - fixed names
        for column in ("team_id", "app_id", "key_id", "route")
    }
    day_calls = next((row[2] for row in levels if row[0] == "d"), 0)
    lines = [
        f"### {stamp}, commit {commit_description()}: usage queries",
        "",
        f"`benchmarks/usage_queries.py`; {os.cpu_count()} CPUs ({cpu_model()}), "
        f"{platform.system()}, Python {platform.python_version()}, Django "
        f"{get_version()}, PostgreSQL {major}.{minor} ({server_settings()}); load "
        f"average {load} when the timing started.",
        "",
        f"Seeded: {day_calls} calls"
        + (
            f" over {args.days} days (seed {args.seed}, {seeded_seconds:.0f}s to "
            "seed, index and vacuum)"
            if seeded_seconds is not None
            else " (a database kept from an earlier run)"
        )
        + f", by {distinct['app_id'] - 1} apps of {distinct['team_id'] - 1} teams "
        f"with {distinct['key_id'] - 1} keys (and OAuth tokens) on "
        f"{distinct['route']} routes, plus calls with no usable credential "
        "(app 0). Roll-up rows kept at each level:",
        "",
        "| Level | Rows | Calls | Oldest period | Newest period |",
        "| --- | ---: | ---: | --- | --- |",
    ]
    for level, rows, calls, oldest, newest in levels:
        lines.append(
            f"| {names[level]} | {rows} | {calls} | {oldest:%Y-%m-%d %H:%M} "
            f"| {newest:%Y-%m-%d %H:%M} |"
        )
    app_id, app_calls = app
    lines += [
        "",
        f"The busiest app (id {app_id}) made {app_calls} of the calls of the last "
        "30 days. The rows each range's report aggregates:",
        "",
        "| Range | Level | The busiest app's rows | The platform's rows |",
        "| --- | --- | ---: | ---: |",
    ]
    for range_name in ("1h", "24h", "7d", "30d"):
        level = names[RANGES[range_name][1]]
        lines.append(
            f"| {range_name} | {level} | {rows_read(table, range_name, app_id)} "
            f"| {rows_read(table, range_name, None)} |"
        )
    lines += [
        "",
        f"Median of {args.runs} warm calls (one unmeasured call first), in "
        "process through the ORM, Python included:",
        "",
        "| Query | Function | SQL statements | Median ms | Min-max ms | Target ms "
        "| Met |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for timing in timings:
        query = timing.query
        met = {None: "", True: "yes", False: "**no**"}[timing.met]
        target = "" if query.target_ms is None else f"{query.target_ms:.0f}"
        lines.append(
            f"| {query.label} | `{query.code}` | {len(timing.statements)} "
            f"| {_fmt_ms(timing.median_ms)} | {_fmt_ms(min(timing.times_ms))}-"
            f"{_fmt_ms(max(timing.times_ms))} | {target} | {met} |"
        )
    for label, explained in plans.items():
        lines += [
            "",
            "<details><summary>"
            f"{label} missed its target: <code>EXPLAIN (ANALYZE, BUFFERS)</code> of "
            "its statements (nodes, filters and timings)</summary>",
            "",
        ]
        for statement, plan in explained:
            lines += ["```", _abridged(statement), "", *plan_summary(plan), "```"]
        lines += ["", "</details>"]
    return "\n".join(lines)


# --- the run -----------------------------------------------------------------------


def run(args: argparse.Namespace) -> str:
    database_url = _database_url(args.postgres_url, args.database_name)
    if not args.reuse_database:
        database_create(args.postgres_url, args.database_name)
    else:
        with _admin_connection(args.postgres_url) as conn:
            found = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (args.database_name,)
            ).fetchone()
        if found is None:
            raise BenchError(
                f"There is no database {args.database_name} to reuse: run once "
                "with --keep-database first."
            )
    env = bench_environment(database_url=database_url, redis_url="")
    # The portal's own settings: nothing of the load benchmark's is needed.
    env["DJANGO_SETTINGS_MODULE"] = "portal.settings"
    os.environ.update(env)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    from portal.usage.models import UsageRollup

    table = UsageRollup._meta.db_table
    try:
        seeded_seconds = None
        if not args.reuse_database:
            call_command("migrate", interactive=False, verbosity=0)
            now = int(time.time())
            keep = Retention(
                minute=now - settings.USAGE_RETENTION_MINUTE_DAYS * DAY,
                hour=now - settings.USAGE_RETENTION_HOUR_DAYS * DAY,
                day=now - settings.USAGE_RETENTION_DAY_DAYS * DAY,
            )
            seeded_seconds = seed(database_url, args, keep, now)
        app = busiest_app(table)
        timings = []
        for query in queries_timed(app[0]):
            timing = time_query(query, args.runs)
            timings.append(timing)
            print(
                f"{query.label:<30} median {timing.median_ms:8.1f} ms  "
                f"(SQL statements: {len(timing.statements)})",
                flush=True,
            )
        plans = {
            timing.query.label: [(s, explain(s)) for s in timing.statements]
            for timing in timings
            if timing.met is False
        }
        for label, explained in plans.items():
            print(f"\nEXPLAIN (ANALYZE, BUFFERS) for {label}:")
            for statement, plan in explained:
                print(statement, *plan, sep="\n", end="\n\n")
        return report(
            table=table,
            seeded_seconds=seeded_seconds,
            args=args,
            app=app,
            timings=timings,
            plans=plans,
        )
    finally:
        connections.close_all()
        if not (args.keep_database or args.reuse_database):
            try:
                database_drop(args.postgres_url, args.database_name)
            except BenchError as error:
                print(f"Cleaning up failed: {error}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGINT, _interrupted)
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        text = run(args)
    except BenchError as error:
        print(f"benchmarks/usage_queries.py: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "benchmarks/usage_queries.py: interrupted; nothing recorded.",
            file=sys.stderr,
        )
        return 130
    print()
    print(text)
    if not args.no_append:
        results_append(text)
        print(f"\nAppended to {RESULTS.relative_to(ROOT)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
