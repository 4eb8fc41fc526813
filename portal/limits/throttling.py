"""The DRF throttle every served endpoint runs: plan tiers and monthly quota."""

from __future__ import annotations

import time

from django.conf import settings
from rest_framework import exceptions
from rest_framework.throttling import BaseThrottle

from portal.keys.credentials import Credential
from portal.limits.alerts import (
    first_alert,
    note_refusal,
    quota_alert_send,
    threshold_crossed,
)
from portal.limits.counters import Bucket, buckets_for, consume
from portal.limits.headers import ratelimit_headers
from portal.limits.policies import Policy, policy_for, tiers_for


class RateLimited(exceptions.Throttled):
    """429 naming the limit that was hit; DRF adds ``Retry-After``."""

    def __init__(self, bucket: Bucket, count: int, wait: int):
        self.bucket = bucket
        self.count = count
        if bucket.label == "quota":
            self.problem_code = "quota_exceeded"
            detail = (
                f"The monthly quota of {bucket.limit} calls is used up; it resets "
                f"in {wait} s."
            )
        else:
            self.problem_code = "rate_limited"
            detail = f"Rate limit {bucket.label} reached; try again in {wait} s."
        super().__init__(wait=wait, detail=detail)
        self.problem_extra = {
            "limit": bucket.label,
            "allowed": bucket.limit,
            "count": count,
            "reset": wait,
        }


class LimitsUnavailable(exceptions.APIException):
    """503 when the counters cannot be reached and RATELIMIT_FAIL_OPEN is off."""

    status_code = 503
    default_detail = "Rate limits cannot be checked right now; try again shortly."
    default_code = "limits_unavailable"
    problem_code = "limits_unavailable"
    wait = 5  # DRF sends it as Retry-After


class PlanThrottle(BaseThrottle):
    """Hold a call to its plan's rate tiers (or its key's own) and quota.

    Runs after authentication and the scope check, so refused credentials and
    scopes consume nothing. Stores what it counted on the request for the
    RateLimit headers. When the counter store is down, ``RATELIMIT_FAIL_OPEN``
    decides.
    """

    # Whether this process may count busy buckets from leased values
    # (portal/limits/counters.py, Leases); the benchmark compares without.
    lease = True

    def policy(self, request, view) -> Policy | None:
        credential = request.auth
        if not isinstance(credential, Credential):
            return None
        return policy_for(credential, view.api_slug)

    def allow_request(self, request, view) -> bool:
        if not getattr(settings, "RATELIMIT_ENABLE", True):
            return True
        policy = self.policy(request, view)
        if policy is None:
            return True
        now = time.time()
        buckets = buckets_for(policy, now)
        outcome = consume(buckets, now, lease=self.lease)
        if outcome is None:
            return bool(getattr(settings, "RATELIMIT_FAIL_OPEN", False))
        request.gatehouse_limits = (buckets, outcome, now)
        if outcome.allowed and policy.monthly_quota:
            percent = threshold_crossed(outcome.counts[-1], policy.monthly_quota)
            if percent is not None and first_alert(buckets[-1], percent, now):
                quota_alert_send.enqueue(
                    subscription_id=policy.subscription_id, percent=percent
                )
        elif not outcome.allowed and isinstance(request.auth, Credential):
            note_refusal(
                request.auth,
                getattr(view, "api_slug", ""),
                buckets[outcome.tripped].label,
            )
        return outcome.allowed

    @staticmethod
    def refusal(request) -> exceptions.APIException:
        """The error for a refused call: which limit, its count and reset."""
        limits = getattr(request, "gatehouse_limits", None)
        if not limits:
            return LimitsUnavailable()
        buckets, outcome, now = limits
        bucket = buckets[outcome.tripped]
        wait = max(1, int(bucket.reset_at - now))
        return RateLimited(bucket, outcome.counts[outcome.tripped], wait)


class ManageApiThrottle(PlanThrottle):
    """The management API's platform-wide default limit (``MANAGE_API_RATE``):
    counted per app for a token and per person for the portal session, with
    the same atomic counters, headers and 429s as the plan limits."""

    def policy(self, request, view) -> Policy | None:
        credential = request.auth
        if isinstance(credential, Credential):
            subject = f"manage:app:{credential.app_id}"
        elif request.user is not None and request.user.is_authenticated:
            subject = f"manage:user:{request.user.pk}"
        else:
            return None  # refused before counting anyway
        return Policy(
            tiers=tiers_for(tuple(settings.MANAGE_API_RATE)),
            tier_subject=subject,
            monthly_quota=None,
            quota_subject="",
        )

    def allow_request(self, request, view) -> bool:
        allowed = super().allow_request(request, view)
        if not allowed and not getattr(request, "gatehouse_limits", None):
            # The counters are down and RATELIMIT_FAIL_OPEN is off: the
            # management API stays usable rather than answering 503.
            return True
        return allowed


def limit_headers(request) -> dict[str, str]:
    limits = getattr(request, "gatehouse_limits", None)
    if not limits:
        return {}
    buckets, outcome, now = limits
    return ratelimit_headers(buckets, outcome, now)
