"""Usage roll-ups and each app's recent-calls log.

Served calls are never written here on the request path: they are buffered
(``portal.usage.recorder``) and ``flush_usage`` folds them in, in batches.
"""

from __future__ import annotations

from django.db import models

# Upper bounds (ms) of the latency histogram's buckets; the last is open.
LATENCY_BOUNDS_MS = (
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 2000,
)  # fmt: skip
HISTOGRAM_FIELDS = tuple(f"lat_{i}" for i in range(len(LATENCY_BOUNDS_MS) + 1))


class Granularity(models.TextChoices):
    MINUTE = "m", "minute"
    HOUR = "h", "hour"
    DAY = "d", "day"


class UsageRollup(models.Model):
    """Calls in one period, for one app, credential, endpoint and status.

    Each flushed call is added at every granularity at once (its minute, hour
    and day), in the same transaction, so the levels always agree; retention
    deletes old minute and hour rows. Ids are plain integers (0: none), not
    foreign keys: usage outlives a deleted app, and NULLs would defeat the
    unique key the flusher upserts on.
    """

    granularity = models.CharField(max_length=1, choices=Granularity.choices)
    start = models.DateTimeField()
    team_id = models.BigIntegerField(default=0)
    app_id = models.BigIntegerField(default=0)
    key_id = models.BigIntegerField(default=0)  # 0: an OAuth token, or none
    api = models.CharField(max_length=64, blank=True)
    route = models.CharField(max_length=255, blank=True)
    method = models.CharField(max_length=10)
    status = models.PositiveSmallIntegerField()
    calls = models.BigIntegerField(default=0)
    latency_ms_sum = models.FloatField(default=0)
    bytes_sum = models.BigIntegerField(default=0)
    # lat_0 ... lat_19: calls per latency bucket (LATENCY_BOUNDS_MS), added
    # below; p50 and p95 are read off the summed histogram.

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "granularity",
                    "start",
                    "team_id",
                    "app_id",
                    "key_id",
                    "api",
                    "route",
                    "method",
                    "status",
                ],
                name="usage_rollup_unique",
            )
        ]
        indexes = [
            models.Index(fields=["app_id", "granularity", "start"]),
            models.Index(fields=["team_id", "granularity", "start"]),
            models.Index(fields=["key_id", "granularity", "start"]),
            models.Index(fields=["granularity", "start"]),
        ]

    def __str__(self) -> str:
        return f"{self.calls} calls, {self.method} {self.route} {self.status}"


class AppUsageRollup(models.Model):
    """The same calls summed per app and status only: the platform-wide
    views (staff overview, top apps) read this much smaller table instead of
    every endpoint and credential row. Written in the same transaction."""

    granularity = models.CharField(max_length=1, choices=Granularity.choices)
    start = models.DateTimeField()
    team_id = models.BigIntegerField(default=0)
    app_id = models.BigIntegerField(default=0)
    status = models.PositiveSmallIntegerField()
    calls = models.BigIntegerField(default=0)
    latency_ms_sum = models.FloatField(default=0)
    bytes_sum = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["granularity", "start", "team_id", "app_id", "status"],
                name="usage_app_rollup_unique",
            )
        ]
        indexes = [models.Index(fields=["granularity", "start"])]

    def __str__(self) -> str:
        return f"{self.calls} calls of app {self.app_id}, status {self.status}"


for _name in HISTOGRAM_FIELDS:
    UsageRollup.add_to_class(_name, models.BigIntegerField(default=0))
    AppUsageRollup.add_to_class(_name, models.BigIntegerField(default=0))


class RecentCall(models.Model):
    """One of an app's last calls (``USAGE_RECENT_CALLS`` are kept per app)."""

    app_id = models.BigIntegerField()
    at = models.DateTimeField()
    request_id = models.CharField(max_length=64)
    method = models.CharField(max_length=10)
    api = models.CharField(max_length=64, blank=True)
    route = models.CharField(max_length=255, blank=True)
    status = models.PositiveSmallIntegerField()
    latency_ms = models.FloatField()
    response_bytes = models.BigIntegerField(default=0)
    key_lookup_id = models.CharField(max_length=32, blank=True)
    credential = models.CharField(max_length=16, blank=True)  # api_key, oauth_token
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    # Why a refused call was refused: the problem's code and details (the
    # scope missing, the limit tier with its count and reset ...).
    reason = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [
            # One index: a log holds at most USAGE_RECENT_CALLS rows per app,
            # so searching it by status or request id reads at most that
            # many rows, and every index more is written and deleted again
            # on every flush.
            models.Index(fields=["app_id", "-at", "-id"]),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.method} {self.route} {self.status}"


class FlushedBatch(models.Model):
    """A buffer batch already folded in: a second flusher holding the same
    batch (it took over a stalled one) finds it here and adds nothing."""

    batch_id = models.CharField(max_length=64, unique=True)
    flushed_at = models.DateTimeField(auto_now_add=True, db_index=True)
    calls = models.PositiveIntegerField()

    def __str__(self) -> str:
        return self.batch_id
