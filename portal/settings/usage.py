"""Usage recording, flushing and retention (see portal/usage)."""

from __future__ import annotations

from .data import EMBEDDED
from .environment import env

__all__ = [
    "USAGE_BACKGROUND_FLUSH",
    "USAGE_BUFFER_MAX_CALLS",
    "USAGE_CLAIM_TIMEOUT_SECONDS",
    "USAGE_FLUSH_BATCH_SIZE",
    "USAGE_FLUSH_INTERVAL_SECONDS",
    "USAGE_RECENT_CALLS",
    "USAGE_RECORDING",
    "USAGE_RETENTION_DAY_DAYS",
    "USAGE_RETENTION_HOUR_DAYS",
    "USAGE_RETENTION_MINUTE_DAYS",
    "USAGE_SHIP_INTERVAL_SECONDS",
]

# Record every served call (off only to measure what recording costs).
USAGE_RECORDING = env.bool("USAGE_RECORDING", default=True)
# Calls one process holds while Redis is unreachable; beyond it the oldest go.
USAGE_BUFFER_MAX_CALLS = env.int("USAGE_BUFFER_MAX_CALLS", default=100_000)
# How often a web process ships its buffered calls to Redis.
USAGE_SHIP_INTERVAL_SECONDS = env.float("USAGE_SHIP_INTERVAL_SECONDS", default=0.5)
USAGE_FLUSH_BATCH_SIZE = env.int("USAGE_FLUSH_BATCH_SIZE", default=5000)
# Seconds between flushes while there is little to do. Each flush rewrites
# the apps' recent-calls logs, so flushing less often costs less per call;
# charts and logs lag by about this much.
USAGE_FLUSH_INTERVAL_SECONDS = env.float("USAGE_FLUSH_INTERVAL_SECONDS", default=5.0)
# A batch claimed this long ago and not released is taken over by another
# flusher (its first flusher died, or stalls).
USAGE_CLAIM_TIMEOUT_SECONDS = env.int("USAGE_CLAIM_TIMEOUT_SECONDS", default=60)
# Flush in a thread of the serving process (runserver or gunicorn) instead of
# a separate `flush_usage`. On by default for the embedded default, whose
# buffer lives in that process; `make run` sets it in any case.
USAGE_BACKGROUND_FLUSH = env.bool("USAGE_BACKGROUND_FLUSH", default=EMBEDDED)
USAGE_RECENT_CALLS = env.int("USAGE_RECENT_CALLS", default=1000)
USAGE_RETENTION_MINUTE_DAYS = env.int("USAGE_RETENTION_MINUTE_DAYS", default=2)
USAGE_RETENTION_HOUR_DAYS = env.int("USAGE_RETENTION_HOUR_DAYS", default=90)
USAGE_RETENTION_DAY_DAYS = env.int("USAGE_RETENTION_DAY_DAYS", default=730)
