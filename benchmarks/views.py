"""The book-detail endpoint behind the comparison set-ups.

Each subclasses the Books API's own ``BookDetailApi``, so the query, the
serializer, the renderer and the error handling are the measured endpoint's
own; only authentication, permission and throttling differ.
"""

from __future__ import annotations

from django_ratelimit import ALL
from django_ratelimit.core import get_usage
from oauth2_provider.contrib.rest_framework import OAuth2Authentication, TokenHasScope
from rest_framework.permissions import AllowAny
from rest_framework.throttling import BaseThrottle, ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework_api_key.permissions import HasAPIKey

from apis.books.views import BookDetailApi
from portal.keys.credentials import Credential
from portal.limits.policies import policy_for
from portal.limits.throttling import PlanThrottle


class BaselineBookDetailApi(BookDetailApi):
    """No authentication at all: the ceiling the other set-ups are held to."""

    authentication_classes = ()
    permission_classes = (AllowAny,)


class DrfApiKeyBookDetailApi(BookDetailApi):
    """djangorestframework-api-key: ``Authorization: Api-Key <key>``."""

    authentication_classes = ()
    permission_classes = (HasAPIKey,)


class DotOAuthBookDetailApi(BookDetailApi):
    """django-oauth-toolkit's own resource-server check of the same token:
    ``Authorization: Bearer <access token>``, scope ``books:read``."""

    # DOT reads a flat list of scopes; ServedApiView's import-time check
    # wants one per HTTP method, so this class opts out of that check.
    abstract = True
    authentication_classes = (OAuth2Authentication,)
    permission_classes = (TokenHasScope,)
    required_scopes = ["books:read"]
    throttle_classes = ()


class DrfThrottledBookDetailApi(BookDetailApi):
    """No authentication, DRF's ``ScopedRateThrottle`` (scope ``bench``,
    50/min, counted in the default cache: Redis)."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "bench"

    def throttled(self, request, wait):
        # ServedApiView answers a refusal with Gatehouse's plan-limit error,
        # which knows nothing of this throttle (503): DRF's own 429 instead.
        APIView.throttled(self, request, wait)


class GetUsagePerTierThrottle(BaseThrottle):
    """The plan's limits counted the naive way, for comparison only: one
    django-ratelimit ``get_usage(..., increment=True)`` per rate tier (keyed
    by ``policy.tier_subject``, as Gatehouse counts tiers), then one for the
    monthly quota as a ``"<quota>/30d"`` rate (keyed by
    ``policy.quota_subject``). Refuses at the first that says
    ``should_limit``, as stacked ``@ratelimit(block=True)`` decorators would.

    It cannot meet "a refused call consumes nothing": every counter is
    incremented on its own before its verdict is known, so a call refused by
    the quota has already been counted against every tier, and a refused call
    counts against the tier that refused it too. Nor is the quota a calendar
    month: django-ratelimit's 30-day window ends at a staggered point per key.

    Each ``get_usage`` is one or two cache round trips on its own: an
    ``add`` (``SET NX`` with expiry), which only succeeds on the first call of
    a window, and on every other call an ``incr`` after it (django-redis runs
    ``EXISTS`` + ``INCRBY`` as one ``EVAL``). So a plan with one tier and a
    quota costs four round trips per call in steady state, where Gatehouse's
    ``PlanThrottle`` costs one. No RateLimit headers, no quota alerts.
    Never used by the portal: it only exists in the benchmark.
    """

    GROUP = "bench.get-usage"

    def allow_request(self, request, view) -> bool:
        self.time_left = None
        credential = request.auth
        if not isinstance(credential, Credential):
            return True
        policy = policy_for(credential, view.api_slug)
        if policy is None:
            return True
        checks = [(tier.rate, policy.tier_subject) for tier in policy.tiers]
        if policy.monthly_quota is not None:
            checks.append((f"{policy.monthly_quota}/30d", policy.quota_subject))
        for rate, subject in checks:
            usage = get_usage(
                request,
                group=self.GROUP,
                key=lambda group, request, subject=subject: subject,
                rate=rate,
                method=ALL,
                increment=True,
            )
            # None: limits are off, or the cache is down and RATELIMIT_FAIL_OPEN.
            if usage is not None and usage["should_limit"]:
                self.time_left = max(usage["time_left"], 1)
                return False
        return True

    def wait(self) -> int | None:
        return self.time_left


class GetUsageBookDetailApi(BookDetailApi):
    """Gatehouse's authentication and scope check (``ServedApiView``'s), with
    the plan's limits counted by ``GetUsagePerTierThrottle`` instead of
    ``PlanThrottle``."""

    throttle_classes = (GetUsagePerTierThrottle,)

    def throttled(self, request, wait):
        # ServedApiView's refusal reads what PlanThrottle stored, which this
        # throttle does not: DRF's own 429 instead.
        APIView.throttled(self, request, wait)


class PerCallPlanThrottle(PlanThrottle):
    """Gatehouse's plan-limit check with leases off: the same Lua script,
    one Redis round trip on every call (``RATELIMIT_LEASE_SIZE=0``)."""

    lease = False


class PerCallLimitsBookDetailApi(BookDetailApi):
    """The real endpoint's whole path, with every call counted in Redis."""

    throttle_classes = (PerCallPlanThrottle,)
