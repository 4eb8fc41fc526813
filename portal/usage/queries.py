"""The numbers behind every usage chart, table, CSV and API answer.

One function, ``usage_report``, serves the portal's team, app and key pages,
the staff overview and the management API, so they always agree. Each range
reads one roll-up level: the last hour by minute, 24 hours and 7 days by
hour, 30 days by day (all UTC).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db.models import Q, Sum

from portal.usage.models import (
    HISTOGRAM_FIELDS,
    LATENCY_BOUNDS_MS,
    AppUsageRollup,
    Granularity,
    UsageRollup,
)

# name: (how many periods, the roll-up level, the period in seconds)
RANGES = {
    "1h": (60, Granularity.MINUTE, 60),
    "24h": (24, Granularity.HOUR, 3600),
    "7d": (168, Granularity.HOUR, 3600),
    "30d": (30, Granularity.DAY, 86400),
}
DEFAULT_RANGE = "24h"
TOP_ENDPOINTS = 10

_ERRORS_4XX = Q(status__gte=400, status__lt=500)
_ERRORS_5XX = Q(status__gte=500)
_THROTTLED = Q(status=429)


def percentile(histogram: list[int], fraction: float) -> float | None:
    """The latency (ms) below which ``fraction`` of the calls fall, read off
    the bucket histogram with linear interpolation inside the bucket."""
    total = sum(histogram)
    if not total:
        return None
    rank = fraction * total
    seen = 0
    for index, count in enumerate(histogram):
        if count and seen + count >= rank:
            low = LATENCY_BOUNDS_MS[index - 1] if index else 0
            high = (
                LATENCY_BOUNDS_MS[index]
                if index < len(LATENCY_BOUNDS_MS)
                else LATENCY_BOUNDS_MS[-1] * 2
            )
            return round(low + (high - low) * (rank - seen) / count, 1)
        seen += count
    return float(LATENCY_BOUNDS_MS[-1] * 2)


@dataclass
class Point:
    start: datetime
    calls: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    throttled: int = 0
    histogram: list[int] = field(default_factory=lambda: [0] * len(HISTOGRAM_FIELDS))

    @property
    def p50_ms(self) -> float | None:
        return percentile(self.histogram, 0.50)

    @property
    def p95_ms(self) -> float | None:
        return percentile(self.histogram, 0.95)

    @property
    def error_rate(self) -> float:
        return (self.errors_4xx + self.errors_5xx) / self.calls if self.calls else 0.0

    def as_dict(self) -> dict:
        return {
            "start": self.start.isoformat().replace("+00:00", "Z"),
            "calls": self.calls,
            "errors_4xx": self.errors_4xx,
            "errors_5xx": self.errors_5xx,
            "throttled": self.throttled,
            "p50_ms": self.p50_ms,
            "p95_ms": self.p95_ms,
        }


@dataclass
class Endpoint:
    api: str
    method: str
    route: str
    calls: int
    errors: int

    def as_dict(self) -> dict:
        return {
            "api": self.api,
            "method": self.method,
            "route": self.route,
            "calls": self.calls,
            "errors": self.errors,
        }


@dataclass
class UsageReport:
    range: str
    granularity: str
    start: datetime
    end: datetime
    points: list[Point]
    totals: Point
    top_endpoints: list[Endpoint]

    def as_dict(self) -> dict:
        totals = self.totals.as_dict()
        del totals["start"]
        return {
            "range": self.range,
            "granularity": Granularity(self.granularity).label,
            "start": self.start.isoformat().replace("+00:00", "Z"),
            "end": self.end.isoformat().replace("+00:00", "Z"),
            "totals": totals,
            "series": [p.as_dict() for p in self.points],
            "top_endpoints": [e.as_dict() for e in self.top_endpoints],
        }


def _sums() -> dict:
    return {
        "n": Sum("calls"),
        "e4": Sum("calls", filter=_ERRORS_4XX),
        "e5": Sum("calls", filter=_ERRORS_5XX),
        "t": Sum("calls", filter=_THROTTLED),
        **{name: Sum(name) for name in HISTOGRAM_FIELDS},
    }


def window(range_name: str, now: float | None = None) -> tuple[datetime, datetime]:
    periods, _, seconds = RANGES[range_name]
    now = int(time.time() if now is None else now)
    end = now - now % seconds + seconds  # the current period included
    start = end - periods * seconds
    return datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)


def usage_report(
    range_name: str = DEFAULT_RANGE,
    *,
    team_id: int | None = None,
    app_id: int | None = None,
    key_id: int | None = None,
    now: float | None = None,
    endpoints: bool | None = None,
) -> UsageReport:
    """Usage over ``range_name`` for a team, an app, a key, or (none given)
    the whole platform. Raises KeyError for an unknown range.

    The platform-wide report reads the per-app roll-ups (far fewer rows) and
    leaves out the top endpoints unless ``endpoints`` asks for them.
    """
    periods, granularity, seconds = RANGES[range_name]
    start, end = window(range_name, now)
    platform = team_id is None and app_id is None and key_id is None
    if endpoints is None:
        endpoints = not platform
    model = AppUsageRollup if platform else UsageRollup
    rows = model.objects.filter(
        granularity=granularity, start__gte=start, start__lt=end
    )
    for name, value in (("team_id", team_id), ("app_id", app_id), ("key_id", key_id)):
        if value is not None:
            rows = rows.filter(**{name: value})

    points = {
        start.timestamp() + i * seconds: Point(
            datetime.fromtimestamp(start.timestamp() + i * seconds, UTC)
        )
        for i in range(periods)
    }
    totals = Point(start)
    for row in rows.values("start").annotate(**_sums()).order_by("start"):
        point = points.get(row["start"].timestamp())
        if point is None:
            continue
        for target in (point, totals):
            target.calls += row["n"] or 0
            target.errors_4xx += row["e4"] or 0
            target.errors_5xx += row["e5"] or 0
            target.throttled += row["t"] or 0
            for index, name in enumerate(HISTOGRAM_FIELDS):
                target.histogram[index] += row[name] or 0

    top = []
    if endpoints:
        detailed = UsageRollup.objects.filter(
            granularity=granularity, start__gte=start, start__lt=end
        )
        for name, value in (
            ("team_id", team_id),
            ("app_id", app_id),
            ("key_id", key_id),
        ):
            if value is not None:
                detailed = detailed.filter(**{name: value})
        top = (
            detailed.values("api", "method", "route")
            .annotate(n=Sum("calls"), e=Sum("calls", filter=_ERRORS_4XX | _ERRORS_5XX))
            .order_by("-n", "api", "route", "method")[:TOP_ENDPOINTS]
        )
    return UsageReport(
        range=range_name,
        granularity=granularity,
        start=start,
        end=end,
        points=list(points.values()),
        totals=totals,
        top_endpoints=[
            Endpoint(r["api"], r["method"], r["route"], r["n"], r["e"] or 0)
            for r in top
        ],
    )


def top_apps(range_name: str = DEFAULT_RANGE, *, limit: int = 10) -> dict[str, list]:
    """Staff overview: the apps with the most calls and with the most errors
    in the range, from one pass over the per-app roll-ups. Each entry is a
    dict with ``app_id``, ``team_id``, ``calls`` and ``errors``."""
    _, granularity, _ = RANGES[range_name]
    start, end = window(range_name)
    apps = [
        {
            "app_id": row["app_id"],
            "team_id": row["team_id"],
            "calls": row["n"],
            "errors": row["e"] or 0,
        }
        for row in AppUsageRollup.objects.filter(
            granularity=granularity, start__gte=start, start__lt=end
        )
        .exclude(app_id=0)
        .values("app_id", "team_id")
        .annotate(n=Sum("calls"), e=Sum("calls", filter=_ERRORS_4XX | _ERRORS_5XX))
    ]
    by_calls = sorted(apps, key=lambda a: (-a["calls"], a["app_id"]))[:limit]
    with_errors = [a for a in apps if a["errors"]]
    by_errors = sorted(with_errors, key=lambda a: (-a["errors"], a["app_id"]))[:limit]
    return {"by_calls": by_calls, "by_errors": by_errors}


def csv_rows(report: UsageReport) -> list[list]:
    """The report's series as CSV rows, header first."""
    header = [
        "start",
        "calls",
        "errors_4xx",
        "errors_5xx",
        "throttled",
        "p50_ms",
        "p95_ms",
    ]
    rows: list[list] = [header]
    for point in report.points:
        data = point.as_dict()
        rows.append([data[h] if data[h] is not None else "" for h in header])
    return rows
