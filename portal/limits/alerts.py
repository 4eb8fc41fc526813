"""Mail a team's owners when a subscription crosses 80% and 100% of its
monthly quota: once per threshold per month."""

from __future__ import annotations

import math

from django.utils import timezone
from django_tasks import task

THRESHOLDS = (80, 100)


def threshold_crossed(count: int, quota: int) -> int | None:
    """The threshold this call's count lands exactly on, if any.

    Counts are handed out atomically, so one call per month reaches each
    value; ``first_alert`` covers the rare repeat after leased values were
    given back (portal/limits/counters.py, Leases).
    """
    # Highest first: on a tiny quota 80% and 100% can be the same count.
    for percent in sorted(THRESHOLDS, reverse=True):
        if count == math.ceil(quota * percent / 100):
            return percent
    return None


def first_alert(quota_bucket, percent: int, now: float) -> bool:
    """True once per quota bucket (subscription and month), quota and
    threshold: a plan change to another quota alerts afresh."""
    from django.core.cache import cache

    return cache.add(
        f"gk:quota-alerted:{quota_bucket.cache_key}:{quota_bucket.limit}:{percent}",
        1,
        max(1, int(quota_bucket.reset_at - now)) + 86400,
    )


@task()
def quota_alert_send(*, subscription_id: int, percent: int) -> None:
    from django.core.mail import send_mail
    from django.template.loader import render_to_string

    from portal.catalog.models import Subscription

    sub = (
        Subscription.objects.select_related("app__team", "plan", "api")
        .filter(pk=subscription_id)
        .first()
    )
    if sub is None:
        return
    owners = list(
        sub.app.team.memberships.filter(role="owner", user__is_active=True).values_list(
            "user__email", flat=True
        )
    )
    subject, _, body = render_to_string(
        "emails/quota_alert.txt", {"subscription": sub, "percent": percent}
    ).partition("\n")
    for address in owners:
        send_mail(subject.strip(), body.lstrip(), None, [address])
    from portal.webhooks.services import emit

    emit(
        sub.app.team_id,
        "quota.threshold",
        {
            "subscription": {"id": sub.pk, "api": sub.api.slug, "plan": sub.plan.slug},
            "app": {"id": sub.app_id, "slug": sub.app.slug},
            "percent": percent,
            "monthly_quota": sub.plan.monthly_quota,
        },
        dedupe_key=f"quota.threshold:{sub.pk}:{timezone.now():%Y-%m}:{percent}",
    )


# A refused call counts toward the next ``ratelimit.exceeded`` event; at most
# one event per credential per this many seconds, carrying the count.
REFUSAL_EVENT_SECONDS = 300


def note_refusal(credential, api_slug: str, limit: str) -> None:
    """Count a call refused by a limit; now and then, emit the event.

    A few cache operations per refused call (none on allowed calls); the
    event itself is written at most once per credential per 5 minutes. The
    gate is kept per 5-minute window, holding the time of the last event, so
    it works on the clock rather than on cache expiry: a window's first
    refusal emits only if the previous window's event is 5 minutes old.
    """
    import time

    from django.core.cache import cache

    key_id = credential.key_id
    subject = f"k{key_id}" if key_id is not None else f"a{credential.app_id}"
    counter = f"gk:rlx:n:{subject}"
    now = time.time()
    window = int(now // REFUSAL_EVENT_SECONDS)
    gate = f"gk:rlx:w:{subject}:"
    try:
        refused = 1 if cache.add(counter, 1, 3600) else cache.incr(counter)
        if not cache.add(f"{gate}{window}", now, REFUSAL_EVENT_SECONDS * 3):
            return  # this window has had its event (or its turn)
        last = cache.get(f"{gate}{window - 1}")
        if last is not None and now - float(last) < REFUSAL_EVENT_SECONDS:
            # Too soon after the last event: pass its time on to the next window.
            cache.set(f"{gate}{window}", last, REFUSAL_EVENT_SECONDS * 3)
            return
        cache.delete(counter)
    except Exception:  # noqa: BLE001 - the cache is down: no event, no failure
        return
    _refusal_event.enqueue(
        team_id=credential.team_id,
        data={
            "credential": {
                "kind": credential.kind,
                "key_lookup_id": credential.key_lookup_id,
                "app": {"id": credential.app_id, "slug": credential.app_slug},
            },
            "api": api_slug,
            "limit": limit,
            "refused_calls": refused,
            "window_seconds": REFUSAL_EVENT_SECONDS,
        },
    )


@task()
def _refusal_event(*, team_id: int, data: dict) -> None:
    from portal.webhooks.services import emit

    emit(team_id, "ratelimit.exceeded", data)
