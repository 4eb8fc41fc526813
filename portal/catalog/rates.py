"""Rate strings in django-ratelimit's notation: ``count/[multiplier]unit``."""

from __future__ import annotations

import re

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"^(\d{1,9})/(\d{0,6})([smhd])$")


def parse_rate(rate: str) -> tuple[int, int]:
    """Return (count, period in seconds) for e.g. ``"10/s"`` or ``"100/15m"``.

    Raises ValueError with a readable message for anything else.
    """
    match = _RATE.match(rate.strip()) if isinstance(rate, str) else None
    if not match:
        raise ValueError(
            f"{rate!r} is not a rate: write count/period such as 10/s, 600/m, "
            "20000/d or 100/15m."
        )
    count, multiplier, unit = match.groups()
    period = int(multiplier or 1) * UNIT_SECONDS[unit]
    if int(count) < 1 or period < 1:
        raise ValueError(f"{rate!r}: count and period must be at least 1.")
    return int(count), period
