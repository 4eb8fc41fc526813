"""What limits a served call is held to: the plan's (or the key's) rate tiers
and the subscription's monthly quota."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from portal.catalog.rates import parse_rate
from portal.keys.credentials import Credential


@dataclass(frozen=True, slots=True)
class Tier:
    rate: str  # as written, e.g. "10/s"; also the policy's name in headers
    limit: int
    period: int  # seconds


@dataclass(frozen=True, slots=True)
class Policy:
    tiers: tuple[Tier, ...]
    # Rate tiers count per key for API keys and per app for OAuth tokens.
    tier_subject: str
    monthly_quota: int | None
    quota_subject: str  # the subscription
    subscription_id: int = 0


@functools.lru_cache(maxsize=1024)
def tiers_for(rates: tuple[str, ...]) -> tuple[Tier, ...]:
    # Cached: a handful of distinct plans, parsed on every served call.
    tiers = []
    for rate in rates:
        limit, period = parse_rate(rate)
        tiers.append(Tier(rate=rate.strip(), limit=limit, period=period))
    return tuple(tiers)


def policy_for(credential: Credential, api_slug: str) -> Policy | None:
    """The limits for this credential's calls to ``api_slug`` (None: no plan)."""
    grant = credential.subscription_for(api_slug)
    if grant is None:
        return None
    rates = credential.rate_override or grant.rate_tiers
    subject = (
        f"key:{credential.key_id}"
        if credential.key_id is not None
        else f"app:{credential.app_id}"
    )
    return Policy(
        tiers=tiers_for(rates),
        tier_subject=subject,
        monthly_quota=grant.monthly_quota,
        quota_subject=f"sub:{grant.subscription_id}",
        subscription_id=grant.subscription_id,
    )
