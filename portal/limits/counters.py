"""Counting calls against every limit at once, atomically.

All of a call's buckets (each rate tier's current window, and the month's
quota) are checked and, only if every one has room, incremented together: a
refused call consumes nothing. Windows follow django-ratelimit's semantics
and cache-key scheme (``_get_window``, ``_make_cache_key``, its
``RATELIMIT_*`` settings), so a tier here counts like ``@ratelimit`` would.

On Redis the whole decision is one Lua script: one round trip per call. The
embedded default (an in-process cache) does the same under a process lock.
"""

from __future__ import annotations

import calendar
import logging
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import caches
from django_ratelimit.core import EXPIRATION_FUDGE, _get_window, _make_cache_key

from portal.limits.policies import Policy

logger = logging.getLogger(__name__)

GROUP = "gatehouse.served"


@dataclass(frozen=True, slots=True)
class Bucket:
    label: str  # "10/s" or "quota"
    cache_key: str
    limit: int
    window: int  # its length in seconds
    reset_at: int  # epoch seconds when this window ends


@dataclass(frozen=True, slots=True)
class Outcome:
    allowed: bool
    counts: tuple[int, ...]  # per bucket: after this call, or as it stood
    tripped: int | None  # index of the first full bucket, if refused


def month_end(now: float) -> int:
    moment = datetime.fromtimestamp(now, UTC)
    last_day = calendar.monthrange(moment.year, moment.month)[1]
    end = moment.replace(day=last_day, hour=0, minute=0, second=0, microsecond=0)
    return int(end.timestamp()) + 86400


def buckets_for(policy: Policy, now: float | None = None) -> list[Bucket]:
    now = time.time() if now is None else now
    buckets = []
    for tier in policy.tiers:
        window = _get_window(policy.tier_subject, tier.period)
        buckets.append(
            Bucket(
                label=tier.rate,
                cache_key=_make_cache_key(
                    GROUP, window, (tier.limit, tier.period), policy.tier_subject, None
                ),
                limit=tier.limit,
                window=tier.period,
                reset_at=window if tier.period > 1 else int(now) + 1,
            )
        )
    if policy.monthly_quota is not None:
        moment = datetime.fromtimestamp(now, UTC)
        days = calendar.monthrange(moment.year, moment.month)[1]
        buckets.append(
            Bucket(
                label="quota",
                cache_key=f"gk:quota:{policy.quota_subject}:{moment:%Y%m}",
                limit=policy.monthly_quota,
                window=days * 86400,
                reset_at=month_end(now),
            )
        )
    return buckets


# KEYS: the buckets' keys. ARGV: limit and TTL of each, in the same order.
_LUA = """
local counts = {}
for i = 1, #KEYS do
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  counts[i] = count
  if count >= tonumber(ARGV[2 * i - 1]) then
    local out = {0, i}
    for j = 1, #KEYS do
      out[#out + 1] = tonumber(redis.call('GET', KEYS[j]) or '0')
    end
    return out
  end
end
local out = {1, 0}
for i = 1, #KEYS do
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then
    redis.call('EXPIRE', KEYS[i], ARGV[2 * i])
  end
  out[#out + 1] = count
end
return out
"""

_local_lock = threading.Lock()
_script = None
_last_warning = 0.0


def _cache():
    return caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]


def _uses_redis(cache) -> bool:
    return cache.__class__.__module__.startswith("django_redis")


def _ttl(bucket: Bucket, now: float) -> int:
    return max(1, int(bucket.reset_at - now)) + EXPIRATION_FUDGE


def _consume_redis(cache, buckets: list[Bucket], now: float) -> Outcome:
    global _script
    from django_redis import get_redis_connection

    if _script is None:
        _script = get_redis_connection(
            getattr(settings, "RATELIMIT_USE_CACHE", "default")
        ).register_script(_LUA)
    args: list[int] = []
    for bucket in buckets:
        args += [bucket.limit, _ttl(bucket, now)]
    result = _script(keys=[cache.make_key(b.cache_key) for b in buckets], args=args)
    allowed, tripped, *counts = (int(x) for x in result)
    return Outcome(bool(allowed), tuple(counts), tripped - 1 if not allowed else None)


def _consume_local(cache, buckets: list[Bucket], now: float) -> Outcome:
    with _local_lock:
        current = cache.get_many([b.cache_key for b in buckets])
        counts = [int(current.get(b.cache_key, 0)) for b in buckets]
        for index, bucket in enumerate(buckets):
            if counts[index] >= bucket.limit:
                return Outcome(False, tuple(counts), index)
        for index, bucket in enumerate(buckets):
            counts[index] += 1
            cache.set(bucket.cache_key, counts[index], _ttl(bucket, now))
    return Outcome(True, tuple(counts), None)


def consume(buckets: list[Bucket], now: float | None = None) -> Outcome | None:
    """Count one call in every bucket, or in none if any is full.

    Returns None when the counter store cannot be reached; the caller applies
    ``RATELIMIT_FAIL_OPEN``. A warning is logged at most once a minute.
    """
    if not buckets:
        return Outcome(True, (), None)
    now = time.time() if now is None else now
    cache = _cache()
    try:
        if _uses_redis(cache):
            return _consume_redis(cache, buckets, now)
        return _consume_local(cache, buckets, now)
    except Exception as exc:  # the store is down: never a 500 for the caller
        global _last_warning
        if time.monotonic() - _last_warning > 60:
            _last_warning = time.monotonic()
            logger.warning("Rate-limit counters unavailable (%s)", type(exc).__name__)
        return None
