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
import collections
import functools
import hashlib
import logging
import os
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


@functools.lru_cache(maxsize=4096)
def _tier_key(subject: str, limit: int, period: int, window: int) -> str:
    # django-ratelimit's key (a SHA-256 of its parts); the same for every call
    # in one window, so it is computed once per window, not once per call.
    return _make_cache_key(GROUP, window, (limit, period), subject, None)


@functools.lru_cache(maxsize=64)
def _month(day: int) -> tuple[str, int, int]:
    """For a day (days since the epoch, UTC): the month's ``YYYYMM``, its
    length in seconds and the epoch second it ends."""
    moment = datetime.fromtimestamp(day * 86400, UTC)
    days = calendar.monthrange(moment.year, moment.month)[1]
    return f"{moment:%Y%m}", days * 86400, month_end(day * 86400)


def buckets_for(policy: Policy, now: float | None = None) -> list[Bucket]:
    now = time.time() if now is None else now
    buckets = []
    for tier in policy.tiers:
        window = _get_window(policy.tier_subject, tier.period)
        buckets.append(
            Bucket(
                label=tier.rate,
                cache_key=_tier_key(
                    policy.tier_subject, tier.limit, tier.period, window
                ),
                limit=tier.limit,
                window=tier.period,
                reset_at=window if tier.period > 1 else int(now) + 1,
            )
        )
    if policy.monthly_quota is not None:
        month, length, end = _month(int(now) // 86400)
        buckets.append(
            Bucket(
                label="quota",
                cache_key=f"gk:quota:{policy.quota_subject}:{month}",
                limit=policy.monthly_quota,
                window=length,
                reset_at=end,
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

_LUA_SHA = hashlib.sha1(_LUA.encode()).hexdigest()  # noqa: S324 - Redis names scripts so

_local_lock = threading.Lock()
_last_warning = 0.0


def _cache():
    return caches[getattr(settings, "RATELIMIT_USE_CACHE", "default")]


def _uses_redis(cache) -> bool:
    return cache.__class__.__module__.startswith("django_redis")


def _ttl(bucket: Bucket, now: float) -> int:
    return max(1, int(bucket.reset_at - now)) + EXPIRATION_FUDGE


class _Connections:
    """Idle Redis connections reserved for the limit check.

    The check is one ``EVALSHA`` per served call, so redis-py's per-command
    machinery (pool checkout, retry wrapper, response callbacks) costs about
    as much CPU as the round trip itself. The check keeps its own few
    connections, made with the cache's connection settings (address,
    password, TLS, the connect and socket timeouts), and sends the packed
    command on one directly. A connection in use is off the list, so threads
    never share one; one that failed is dropped, and the next call connects
    afresh. The list is emptied in a forked child.
    """

    def __init__(self) -> None:
        self._idle: collections.deque = collections.deque()
        self._alias = None
        os.register_at_fork(after_in_child=self._idle.clear)

    def take(self, alias: str):
        if alias != self._alias:
            self._idle.clear()
            self._alias = alias
        try:
            return self._idle.pop()
        except IndexError:
            from django_redis import get_redis_connection

            pool = get_redis_connection(alias).connection_pool
            return pool.connection_class(**pool.connection_kwargs)

    def give_back(self, connection) -> None:
        self._idle.append(connection)


_connections = _Connections()


def _evalsha(connection, keys: list[str], args: list[int]):
    connection.send_packed_command(
        connection.pack_command("EVALSHA", _LUA_SHA, len(keys), *keys, *args),
        check_health=False,
    )
    return connection.read_response()


@functools.lru_cache(maxsize=8192)
def _redis_key(cache, key: str) -> str:
    return cache.make_key(key)


def _consume_redis(cache, buckets: list[Bucket], now: float) -> Outcome:
    from redis.exceptions import NoScriptError

    alias = getattr(settings, "RATELIMIT_USE_CACHE", "default")
    keys = [_redis_key(cache, b.cache_key) for b in buckets]
    args: list[int] = []
    for bucket in buckets:
        args += [bucket.limit, _ttl(bucket, now)]
    connection = _connections.take(alias)
    try:
        try:
            result = _evalsha(connection, keys, args)
        except NoScriptError:  # a restarted (or flushed) Redis forgot it
            connection.send_command("SCRIPT", "LOAD", _LUA)
            connection.read_response()
            result = _evalsha(connection, keys, args)
    except BaseException:
        connection.disconnect()
        raise
    _connections.give_back(connection)
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
