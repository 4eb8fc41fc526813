"""Webhook delivery, off the request path, through Django's tasks API."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django_tasks import task

logger = logging.getLogger("portal.webhooks")

# Seconds to wait after each failed attempt: 8 attempts over about 27 hours,
# then the delivery is marked failed.
RETRY_DELAYS = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)


def schedule(delivery_id: int, when=None) -> None:
    """Enqueue an attempt at ``delivery_id``, now or at ``when``."""
    from django_tasks import task_backends

    runner = deliver
    if when is not None:
        if not task_backends[deliver.backend].supports_defer:
            # The immediate backend cannot wait: the worker's sweep (or the
            # next redeliver) picks the delivery up at next_attempt_at.
            return
        runner = deliver.using(run_after=when)
    runner.enqueue(delivery_id=delivery_id)


@task()
def deliver(
    *, delivery_id: int, manual: bool = False, requested_by_id: int | None = None
) -> str:
    from portal.webhooks import services

    return services.attempt_delivery(
        delivery_id=delivery_id, manual=manual, requested_by_id=requested_by_id
    )


@task()
def send_event_emails(*, event_id: str) -> int:
    from portal.webhooks import services

    return services.email_event(event_id=event_id)


@task()
def notify_expiring_keys() -> int:
    """Emit ``key.expiring`` 7 days and 1 day before each key expires."""
    from portal.webhooks import services

    return services.emit_expiring_keys()


def retry_delay(attempts: int) -> timedelta | None:
    if attempts > len(RETRY_DELAYS):
        return None
    return timedelta(seconds=RETRY_DELAYS[attempts - 1])


def disable_after() -> timedelta:
    return timedelta(days=getattr(settings, "WEBHOOKS_DISABLE_AFTER_DAYS", 3))
