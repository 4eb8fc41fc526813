"""RateLimit header fields, as in draft-ietf-httpapi-ratelimit-headers-10.

``RateLimit-Policy`` lists each policy (a rate tier, or the monthly quota)
with its quota ``q`` and window ``w`` in seconds; ``RateLimit`` gives, for
the same names, the remaining units ``r`` and seconds ``t`` until the window
resets. Both are Structured Field Lists (RFC 9651).
"""

from __future__ import annotations

import math

from portal.limits.counters import Bucket, Outcome


def _name(bucket: Bucket) -> str:
    return '"quota"' if bucket.label == "quota" else f'"{bucket.label}"'


def ratelimit_headers(
    buckets: list[Bucket], outcome: Outcome, now: float
) -> dict[str, str]:
    """The two header fields for a call counted (or refused) in ``buckets``."""
    policy = ", ".join(f"{_name(b)};q={b.limit};w={b.window}" for b in buckets)
    current = ", ".join(
        f"{_name(b)};r={max(0, b.limit - c)};t={max(0, math.ceil(b.reset_at - now))}"
        for b, c in zip(buckets, outcome.counts, strict=True)
    )
    return {"RateLimit-Policy": policy, "RateLimit": current}
