"""Webhook delivery: timeouts, caps and the development allowance."""

from __future__ import annotations

from .environment import env

__all__ = [
    "WEBHOOKS_ALLOW_LOOPBACK",
    "WEBHOOKS_DISABLE_AFTER_DAYS",
    "WEBHOOKS_MAX_ENDPOINTS_PER_TEAM",
    "WEBHOOKS_MAX_RESPONSE_BYTES",
    "WEBHOOKS_TIMEOUT_SECONDS",
]

# Endpoints must be https on a public address. For development and tests,
# this allows http and https to loopback addresses (127.0.0.1, ::1) only.
WEBHOOKS_ALLOW_LOOPBACK = env.bool("WEBHOOKS_ALLOW_LOOPBACK", default=False)
# The whole exchange with a receiver (connect, send, answer) must fit in this.
WEBHOOKS_TIMEOUT_SECONDS = env.float("WEBHOOKS_TIMEOUT_SECONDS", default=5.0)
# At most this much of a receiver's answer is read (the log keeps 1,000 chars).
WEBHOOKS_MAX_RESPONSE_BYTES = env.int("WEBHOOKS_MAX_RESPONSE_BYTES", default=65536)
WEBHOOKS_MAX_ENDPOINTS_PER_TEAM = env.int("WEBHOOKS_MAX_ENDPOINTS_PER_TEAM", default=10)
# An endpoint whose deliveries have all failed for this long is disabled.
WEBHOOKS_DISABLE_AFTER_DAYS = env.int("WEBHOOKS_DISABLE_AFTER_DAYS", default=3)
