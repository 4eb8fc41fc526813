"""Mail a team's owners when a subscription crosses 80% and 100% of its
monthly quota: once per threshold per month."""

from __future__ import annotations

import math

from django_tasks import task

THRESHOLDS = (80, 100)


def threshold_crossed(count: int, quota: int) -> int | None:
    """The threshold this call's count lands exactly on, if any.

    Counts are incremented atomically, so exactly one call per month reaches
    each value: no extra bookkeeping is needed to send each alert once.
    """
    # Highest first: on a tiny quota 80% and 100% can be the same count.
    for percent in sorted(THRESHOLDS, reverse=True):
        if count == math.ceil(quota * percent / 100):
            return percent
    return None


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
