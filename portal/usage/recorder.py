"""Recording served calls without a write on the request path.

A served call appends one tuple to this process's buffer (a deque: no I/O, no
lock held). With Redis configured, a background thread ships the buffer to a
Redis list every ``USAGE_SHIP_INTERVAL_SECONDS``, where ``flush_usage`` (on
any node) picks it up. On the embedded default the buffer stays in process
and the flusher thread of ``make run`` reads it directly.
"""

from __future__ import annotations

import atexit
import collections
import json
import logging
import os
import threading
import time
from typing import NamedTuple

from django.conf import settings

logger = logging.getLogger(__name__)


class Call(NamedTuple):
    at: float  # epoch seconds
    team_id: int
    app_id: int
    key_id: int
    token_id: int
    key_lookup_id: str
    credential: str  # "api_key", "oauth_token" or ""
    api: str
    route: str
    method: str
    status: int
    latency_ms: float
    response_bytes: int
    client_ip: str | None
    request_id: str
    reason: dict | None

    def dumps(self) -> str:
        return json.dumps(self, separators=(",", ":"))

    @classmethod
    def loads(cls, raw: str | bytes) -> Call:
        return cls(*json.loads(raw))


_buffer: collections.deque = collections.deque()
_dropped = 0
_shipper: threading.Thread | None = None
_ship_lock = threading.Lock()
_start_lock = threading.Lock()
_wake = threading.Event()
_last_warning = 0.0
# The size of the chunk whose push failed: the next ship retries it as is.
_retry_size = 0


def _reset_after_fork() -> None:
    global _shipper, _retry_size
    _buffer.clear()
    _shipper = None
    _retry_size = 0


os.register_at_fork(after_in_child=_reset_after_fork)


def uses_redis() -> bool:
    return bool(getattr(settings, "REDIS_URL", ""))


def record(call: Call) -> None:
    """Buffer one call. Never raises, never blocks on I/O."""
    global _dropped
    if len(_buffer) >= settings.USAGE_BUFFER_MAX_CALLS:
        # Redis has been unreachable for a long while: keep the newest calls.
        _buffer.popleft()
        _dropped += 1
    _buffer.append(call)
    if _shipper is None and uses_redis():
        _shipper_start()


def drain(limit: int | None = None) -> list[Call]:
    """Take up to ``limit`` buffered calls, oldest first."""
    taken = []
    try:
        while limit is None or len(taken) < limit:
            taken.append(_buffer.popleft())
    except IndexError:
        pass
    return taken


def put_back(calls: list[Call]) -> None:
    """Return calls that could not be shipped to the front of the buffer."""
    _buffer.extendleft(reversed(calls))


def buffered() -> int:
    return len(_buffer)


def _warn(message: str, *args) -> None:
    global _last_warning
    if time.monotonic() - _last_warning > 60:
        _last_warning = time.monotonic()
        logger.warning(message, *args)


def ship() -> int:
    """Push this process's buffered calls to the shared Redis list.

    Returns how many were shipped. On failure they go back to the buffer and
    the next attempt retries them; a warning is logged at most once a minute.
    """
    from portal.usage import store

    global _retry_size
    with _ship_lock:
        shipped = 0
        while True:
            # A chunk that failed is retried as the very same chunk (it went
            # back to the front of the buffer), so that if its first push did
            # reach Redis the retry is recognised and not counted twice.
            calls = drain(_retry_size or 1000)
            _retry_size = 0
            if not calls:
                return shipped
            try:
                store.redis_push([c.dumps() for c in calls])
            except Exception as exc:  # Redis down: keep them, try again later
                put_back(calls)
                _retry_size = len(calls)
                _warn("Usage buffer not shipped to Redis (%s)", type(exc).__name__)
                return shipped
            shipped += len(calls)


def _ship_loop() -> None:
    while True:
        _wake.wait(settings.USAGE_SHIP_INTERVAL_SECONDS)
        _wake.clear()
        ship()


def _shipper_start() -> None:
    global _shipper
    with _start_lock:
        if _shipper is not None:
            return
        _shipper = threading.Thread(
            target=_ship_loop, name="gatehouse-usage-shipper", daemon=True
        )
        _shipper.start()


@atexit.register
def _ship_at_exit() -> None:
    if _buffer and uses_redis():
        ship()
