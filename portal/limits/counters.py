"""Counting calls against every limit at once, atomically.

All of a call's buckets (each rate tier's current window, and the month's
quota) are checked and, only if every one has room, incremented together: a
refused call consumes nothing. Windows follow django-ratelimit's semantics
and cache-key scheme (``_get_window``, ``_make_cache_key``, its
``RATELIMIT_*`` settings), so a tier here counts like ``@ratelimit`` would.

On Redis the whole decision is one Lua script: at most one round trip per
call, and none for most calls of a busy credential whose buckets have ample
room (see *Leases* below). The embedded default (an in-process cache) does
the same under a process lock.
"""

from __future__ import annotations

import atexit
import calendar
import collections
import functools
import hashlib
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import caches
from django_ratelimit.core import EXPIRATION_FUDGE, _get_window, _make_cache_key

from portal.limits.alerts import THRESHOLDS as ALERT_THRESHOLDS
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
    # A count a lease must not hand out in a block (the quota's first alert
    # threshold), so the call that reaches it is counted in Redis; 0: none.
    stop: int = 0


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
                stop=math.ceil(policy.monthly_quota * ALERT_THRESHOLDS[0] / 100),
            )
        )
    return buckets


# Leases. An exact shared counter costs a round trip per call. When a bucket
# has ample room, the script also reserves a block of the counter's next
# values for the calling process (a lease), in the same atomic step as the
# call's own; the process's next calls on that bucket take their values from
# the block and ask Redis nothing. Every value handed out is one Redis
# counted, so a bucket never admits more than its limit. A bucket is only
# leased from while at least LEASE_DIVISOR x LEASE_MIN values remain, and a
# block is at most 1/LEASE_DIVISOR of what remains: a small limit, and any
# bucket near its limit, is counted in Redis call by call, exactly. Values a
# process leased and did not use within ``RATELIMIT_LEASE_SECONDS`` go back
# (the counter is decremented by what was left), so an idle process holds
# no budget another one needs for longer than that.
LEASE_DIVISOR = 64
LEASE_MIN = 8

# KEYS: the buckets Redis counts this call in. ARGV, four per key: limit,
# TTL, the lease asked for (0: none) and the bucket's stop (0: none).
# Returns {1, 0, value, lease, value, lease, ...} when the call is admitted
# (its count in each bucket, and how many values after it were leased), or
# {0, i, count, count, ...} when bucket i is full (nothing counted).
_LUA = f"""
local counts = {{}}
for i = 1, #KEYS do
  counts[i] = tonumber(redis.call('GET', KEYS[i]) or '0')
end
for i = 1, #KEYS do
  if counts[i] >= tonumber(ARGV[4 * i - 3]) then
    local out = {{0, i}}
    for j = 1, #KEYS do
      out[#out + 1] = counts[j]
    end
    return out
  end
end
local out = {{1, 0}}
for i = 1, #KEYS do
  local lease = tonumber(ARGV[4 * i - 1])
  if lease > 0 then
    local left = tonumber(ARGV[4 * i - 3]) - counts[i] - 1
    lease = math.min(lease, math.floor(left / {LEASE_DIVISOR}))
    local stop = tonumber(ARGV[4 * i])
    if stop > counts[i] + 1 then
      lease = math.min(lease, stop - counts[i] - 2)
    end
    if lease < {LEASE_MIN} then
      lease = 0
    end
  end
  local count = redis.call('INCRBY', KEYS[i], 1 + lease)
  if counts[i] == 0 then
    redis.call('EXPIRE', KEYS[i], ARGV[4 * i - 2])
  end
  out[#out + 1] = count - lease
  out[#out + 1] = lease
end
return out
"""

# Giving unused leased values back. KEYS: counters; ARGV: how many of each.
# A counter whose window has ended (the key expired) is left alone.
_LUA_RETURN = """
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    redis.call('DECRBY', KEYS[i], ARGV[i])
  end
end
return #KEYS
"""

_LUA_SHA = hashlib.sha1(_LUA.encode()).hexdigest()  # noqa: S324 - Redis names scripts so
_LUA_RETURN_SHA = hashlib.sha1(_LUA_RETURN.encode()).hexdigest()  # noqa: S324

_local_lock = threading.Lock()
_last_warning = 0.0


def _warn(exc: Exception) -> None:
    global _last_warning
    if time.monotonic() - _last_warning > 60:
        _last_warning = time.monotonic()
        logger.warning("Rate-limit counters unavailable (%s)", type(exc).__name__)


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


def _evalsha(connection, sha: str, keys: list[str], args: list[int]):
    connection.send_packed_command(
        connection.pack_command("EVALSHA", sha, len(keys), *keys, *args),
        check_health=False,
    )
    return connection.read_response()


def _run_script(alias: str, sha: str, script: str, keys: list[str], args: list[int]):
    """One script on a reserved connection, loading it first if Redis has
    forgotten it (a restart, a flush)."""
    from redis.exceptions import NoScriptError

    connection = _connections.take(alias)
    try:
        try:
            result = _evalsha(connection, sha, keys, args)
        except NoScriptError:
            connection.send_command("SCRIPT", "LOAD", script)
            connection.read_response()
            result = _evalsha(connection, sha, keys, args)
    except BaseException:
        connection.disconnect()
        raise
    _connections.give_back(connection)
    return result


@dataclass(slots=True)
class _Lease:
    """What this process holds of one counter."""

    limit: int  # the bucket's limit when it was leased
    ranges: list[list[int]]  # [first, last] runs of values not handed out yet
    expires: float  # monotonic; the values left go back after it
    asked: int  # the block asked for at the last round trip
    counted_at: float  # monotonic time of the last round trip


class Leases:
    """This process's leased counter values, by Redis key (see *Leases*).

    A bucket's block size doubles while its round trips come faster than one
    per ``RATELIMIT_LEASE_SECONDS`` (from ``LEASE_MIN`` up to
    ``RATELIMIT_LEASE_SIZE``) and drops back to none when they come slower,
    so a credential making a call now and then is counted call by call, as
    without leases. A background thread gives back what a process leased and
    left unused; so does exiting.
    """

    # Counters noted at once, at most; past it the table starts afresh.
    MAX_ENTRIES = 50_000

    def __init__(self) -> None:
        self._start_afresh()
        os.register_at_fork(after_in_child=self._start_afresh)

    def _start_afresh(self) -> None:
        # Also in a forked child: a lock held by another thread at the fork
        # would never be released there, so the child gets new ones. What
        # the parent leased stays the parent's to give back.
        self._lock = threading.Lock()
        self._held: dict[str, _Lease] = {}
        self._returns: dict[str, int] = {}
        self._thread: threading.Thread | None = None

    def forget(self) -> None:
        """Drop every lease without giving it back (tests that empty Redis)."""
        with self._lock:
            self._held.clear()
            self._returns.clear()

    def take(self, keys: list[str], buckets: list[Bucket], now: float) -> list:
        """One leased value per bucket, or None where Redis must count."""
        values: list[int | None] = []
        with self._lock:
            for key, bucket in zip(keys, buckets, strict=True):
                lease = self._held.get(key)
                value = None
                if lease is not None and lease.ranges:
                    if lease.limit != bucket.limit or lease.expires <= now:
                        self._retire(key, lease)
                    else:
                        run = lease.ranges[0]
                        value = run[0]
                        if run[0] == run[1]:
                            del lease.ranges[0]
                        else:
                            run[0] += 1
                values.append(value)
        return values

    def give_back(self, keys: list[str], buckets: list[Bucket], values) -> None:
        """Return values taken for a call that was not admitted after all."""
        with self._lock:
            for key, bucket, value in zip(keys, buckets, values, strict=True):
                if value is None:
                    continue
                lease = self._held.get(key)
                if lease is not None and lease.limit == bucket.limit:
                    lease.ranges.insert(0, [value, value])
                else:
                    self._returns[key] = self._returns.get(key, 0) + 1

    def asks(self, keys: list[str], now: float, size: int, seconds: float):
        """The block to ask for with each of these keys' round trip."""
        if size <= 0:
            return [0] * len(keys)
        asks = []
        with self._lock:
            for key in keys:
                lease = self._held.get(key)
                if lease is None or now - lease.counted_at > seconds:
                    asks.append(0)
                else:
                    asks.append(min(size, max(LEASE_MIN, lease.asked * 2)))
        return asks

    def keep(self, key, bucket, value, leased, asked, now, seconds) -> None:
        """Note a round trip for ``key``; hold the ``leased`` values after
        ``value`` (the call's own)."""
        with self._lock:
            lease = self._held.get(key)
            if lease is None and len(self._held) >= self.MAX_ENTRIES:
                for old_key, old_lease in self._held.items():
                    self._retire(old_key, old_lease)
                self._held.clear()
            if lease is None or lease.limit != bucket.limit:
                if lease is not None:
                    self._retire(key, lease)
                lease = self._held[key] = _Lease(bucket.limit, [], now, 0, now)
            lease.asked, lease.counted_at = asked, now
            if leased:
                lease.ranges.append([value + 1, value + leased])
                lease.expires = now + seconds
            start = self._thread is None
            if start:
                self._thread = threading.Thread(
                    target=self._return_loop, name="gatehouse-limit-leases", daemon=True
                )
        if start:
            try:
                self._thread.start()
            except RuntimeError:  # no thread to be had: give back at exit
                logger.warning("Rate-limit lease thread not started")

    def _retire(self, key: str, lease: _Lease) -> None:
        unused = sum(last - first + 1 for first, last in lease.ranges)
        lease.ranges = []
        if unused:
            self._returns[key] = self._returns.get(key, 0) + unused

    def held(self) -> int:
        """Leased values this process holds and has not handed out."""
        with self._lock:
            return sum(
                last - first + 1
                for lease in self._held.values()
                for first, last in lease.ranges
            )

    def return_unused(self, now: float | None = None, *, everything=False) -> int:
        """Give back the values of expired leases (of all, with
        ``everything``); returns how many went back to Redis."""
        now = time.monotonic() if now is None else now
        seconds = getattr(settings, "RATELIMIT_LEASE_SECONDS", 1.0)
        with self._lock:
            for key, lease in list(self._held.items()):
                if lease.ranges and (everything or lease.expires <= now):
                    self._retire(key, lease)
                if not lease.ranges and now - lease.counted_at > 2 * seconds:
                    del self._held[key]
            returns, self._returns = self._returns, {}
        if not returns:
            return 0
        keys = list(returns)
        try:
            _run_script(
                getattr(settings, "RATELIMIT_USE_CACHE", "default"),
                _LUA_RETURN_SHA,
                _LUA_RETURN,
                keys,
                [returns[k] for k in keys],
            )
        except Exception as exc:
            # Not retried: the script may have run before the reply was lost,
            # and giving values back twice could let a counter past its
            # limit. Values lost here only make that counter a little
            # stricter until its window ends.
            _warn(exc)
            return 0
        return sum(returns.values())

    def _return_loop(self) -> None:
        while True:
            time.sleep(getattr(settings, "RATELIMIT_LEASE_SECONDS", 1.0) / 2)
            self.return_unused()


_leases = Leases()


@atexit.register
def _return_at_exit() -> None:
    # Nothing to give back (the embedded default, or no lease): no I/O.
    _leases.return_unused(everything=True)


def leases_forget() -> None:
    """Drop this process's leases without giving them back (tests, after
    emptying Redis)."""
    _leases.forget()


@functools.lru_cache(maxsize=8192)
def _redis_key(cache, key: str) -> str:
    return cache.make_key(key)


def _consume_redis(cache, buckets: list[Bucket], now: float, lease: bool) -> Outcome:
    alias = getattr(settings, "RATELIMIT_USE_CACHE", "default")
    keys = [_redis_key(cache, b.cache_key) for b in buckets]
    clock = time.monotonic()
    values = _leases.take(keys, buckets, clock) if lease else [None] * len(buckets)
    ask = [i for i, value in enumerate(values) if value is None]
    if not ask:
        return Outcome(True, tuple(values), None)
    seconds = getattr(settings, "RATELIMIT_LEASE_SECONDS", 1.0)
    asked = _leases.asks(
        [keys[i] for i in ask],
        clock,
        getattr(settings, "RATELIMIT_LEASE_SIZE", 0) if lease else 0,
        seconds,
    )
    args: list[int] = []
    for i, block in zip(ask, asked, strict=True):
        bucket = buckets[i]
        args += [bucket.limit, _ttl(bucket, now), block, bucket.stop]
    try:
        result = _run_script(alias, _LUA_SHA, _LUA, [keys[i] for i in ask], args)
    except BaseException:
        _leases.give_back(keys, buckets, values)
        raise
    allowed, tripped, *rest = (int(x) for x in result)
    if not allowed:
        _leases.give_back(keys, buckets, values)
        # As the counts stood: Redis's, and the last value handed out here.
        counts = [value - 1 if value is not None else 0 for value in values]
        for position, i in enumerate(ask):
            counts[i] = rest[position]
        return Outcome(False, tuple(counts), ask[tripped - 1])
    for position, i in enumerate(ask):
        value, leased = rest[2 * position], rest[2 * position + 1]
        values[i] = value
        if lease:
            _leases.keep(
                keys[i], buckets[i], value, leased, asked[position], clock, seconds
            )
    return Outcome(True, tuple(values), None)


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


def consume(
    buckets: list[Bucket], now: float | None = None, *, lease: bool = True
) -> Outcome | None:
    """Count one call in every bucket, or in none if any is full.

    ``lease=False`` counts it in Redis whatever this process has leased (the
    benchmark's comparison of one round trip per call).

    Returns None when the counter store cannot be reached; the caller applies
    ``RATELIMIT_FAIL_OPEN``. A warning is logged at most once a minute.
    """
    if not buckets:
        return Outcome(True, (), None)
    now = time.time() if now is None else now
    cache = _cache()
    try:
        if _uses_redis(cache):
            return _consume_redis(cache, buckets, now, lease)
        return _consume_local(cache, buckets, now)
    except Exception as exc:  # the store is down: never a 500 for the caller
        _warn(exc)
        return None
