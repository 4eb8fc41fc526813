"""Webhook endpoints, event emission and delivery.

Services that cause an event call ``emit`` inside their transaction; the event
is written and its deliveries queued only once that transaction commits, so a
rolled-back action sends nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone

from portal.audit.services import record
from portal.errors import Conflict, InvalidInput
from portal.webhooks import signing, ssrf, tasks
from portal.webhooks.catalogue import EVENT_TYPES, SUBSCRIBABLE
from portal.webhooks.models import (
    Attempt,
    Delivery,
    DeliveryStatus,
    EmailPreference,
    Endpoint,
    Event,
)
from portal.webhooks.sender import post

if TYPE_CHECKING:
    from portal.accounts.models import Membership, Team

logger = logging.getLogger("portal.webhooks")


# --- endpoints ---------------------------------------------------------------


def _clean_url(url: str) -> str:
    url = (url or "").strip()
    if not url:
        raise InvalidInput("Enter the URL that receives the events.", field="url")
    if len(url) > 500:
        raise InvalidInput("The URL is longer than 500 characters.", field="url")
    try:
        ssrf.check_url(url)
    except ssrf.UnsafeUrl as error:
        raise InvalidInput(str(error), field="url") from error
    return url


def _clean_types(types) -> list[str]:
    if not isinstance(types, list | tuple) or not types:
        raise InvalidInput("Choose at least one event type.", field="event_types")
    unknown = [t for t in types if t not in SUBSCRIBABLE]
    if unknown:
        raise InvalidInput(
            f"Unknown event type(s): {', '.join(map(str, unknown))[:200]}.",
            field="event_types",
        )
    return [t for t in SUBSCRIBABLE if t in types]


def _clean_description(text: str) -> str:
    text = (text or "").strip()
    if len(text) > 200:
        raise InvalidInput(
            "The description is longer than 200 characters.", field="description"
        )
    return text


def endpoint_create(
    *,
    team: Team,
    url: str,
    event_types,
    description: str = "",
    actor=None,
    request=None,
) -> tuple[Endpoint, str]:
    """Register an endpoint; returns it and its signing secret (shown once)."""
    url = _clean_url(url)
    event_types = _clean_types(event_types)
    description = _clean_description(description)
    cap = settings.WEBHOOKS_MAX_ENDPOINTS_PER_TEAM
    secret = signing.new_secret()
    with transaction.atomic():
        # Lock the team row so two concurrent creations respect the cap.
        type(team).objects.select_for_update().filter(pk=team.pk).first()
        if Endpoint.objects.filter(team=team).count() >= cap:
            raise Conflict(
                f"A team can register at most {cap} webhook endpoints.",
                code="limit_reached",
            )
        endpoint = Endpoint.objects.create(
            team=team,
            url=url,
            event_types=event_types,
            description=description,
            secret_encrypted=signing.seal(secret),
            created_by=actor if getattr(actor, "pk", None) else None,
        )
        record(
            action="webhook.endpoint_create",
            actor=actor,
            team=team,
            target=endpoint,
            request=request,
            data={"url": url, "event_types": event_types},
        )
    return endpoint, secret


def endpoint_update(
    *,
    endpoint: Endpoint,
    url=None,
    event_types=None,
    description=None,
    is_active=None,
    actor=None,
    request=None,
) -> Endpoint:
    changes: dict[str, Any] = {}
    if url is not None and url != endpoint.url:
        changes["url"] = _clean_url(url)
    if event_types is not None:
        cleaned = _clean_types(event_types)
        if cleaned != endpoint.event_types:
            changes["event_types"] = cleaned
    if description is not None and description != endpoint.description:
        changes["description"] = _clean_description(description)
    if is_active is not None and bool(is_active) != endpoint.is_active:
        changes["is_active"] = bool(is_active)
        if is_active:
            changes["failing_since"] = None
            changes["disabled_reason"] = ""
        else:
            changes["disabled_reason"] = "Disabled by a team member."
    if not changes:
        return endpoint
    with transaction.atomic():
        for field, value in changes.items():
            setattr(endpoint, field, value)
        endpoint.save(update_fields=list(changes))
        record(
            action="webhook.endpoint_update",
            actor=actor,
            team=endpoint.team,
            target=endpoint,
            request=request,
            data={k: v for k, v in changes.items() if k != "failing_since"},
        )
    return endpoint


def endpoint_rotate_secret(*, endpoint: Endpoint, actor=None, request=None) -> str:
    """A new signing secret, effective for the next attempt; shown once."""
    secret = signing.new_secret()
    with transaction.atomic():
        endpoint.secret_encrypted = signing.seal(secret)
        endpoint.save(update_fields=["secret_encrypted"])
        record(
            action="webhook.secret_rotate",
            actor=actor,
            team=endpoint.team,
            target=endpoint,
            request=request,
        )
    return secret


def endpoint_delete(*, endpoint: Endpoint, actor=None, request=None) -> None:
    with transaction.atomic():
        record(
            action="webhook.endpoint_delete",
            actor=actor,
            team=endpoint.team,
            target=endpoint,
            request=request,
            data={"url": endpoint.url},
        )
        endpoint.delete()


def email_preference_set(*, membership: Membership, event_types) -> list[str]:
    if not isinstance(event_types, list | tuple):
        raise InvalidInput("Choose event types.", field="event_types")
    unknown = [t for t in event_types if t not in SUBSCRIBABLE]
    if unknown:
        raise InvalidInput("Unknown event type.", field="event_types")
    cleaned = [t for t in SUBSCRIBABLE if t in event_types]
    EmailPreference.objects.update_or_create(
        membership=membership, defaults={"event_types": cleaned}
    )
    return cleaned


# --- events ------------------------------------------------------------------


def emit(
    team: Team | int, type_: str, data: dict, *, dedupe_key: str | None = None
) -> None:
    """Publish an event once the current transaction commits (at once if none)."""
    if type_ not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type_!r}")
    team_id = team if isinstance(team, int) else team.pk
    transaction.on_commit(
        partial(
            _publish, team_id=team_id, type_=type_, data=data, dedupe_key=dedupe_key
        )
    )


def _publish(
    *,
    team_id: int,
    type_: str,
    data: dict,
    dedupe_key: str | None,
    only: Endpoint | None = None,
) -> Event | None:
    try:
        with transaction.atomic():
            event = Event.objects.create(
                team_id=team_id, type=type_, payload=data, dedupe_key=dedupe_key
            )
            if only is not None:
                endpoints = [only]
            else:
                endpoints = [
                    e
                    for e in Endpoint.objects.filter(team_id=team_id, is_active=True)
                    if type_ in e.event_types
                ]
            deliveries = Delivery.objects.bulk_create(
                [Delivery(event=event, endpoint=e) for e in endpoints]
            )
    except IntegrityError:
        return None  # already emitted (dedupe_key)
    for delivery in deliveries:
        tasks.schedule(delivery.pk)
    if only is None and _email_wanted(team_id, type_):
        tasks.send_event_emails.enqueue(event_id=event.pk)
    return event


def _email_wanted(team_id: int, type_: str) -> bool:
    return any(
        type_ in types
        for types in EmailPreference.objects.filter(
            membership__team_id=team_id, membership__user__is_active=True
        ).values_list("event_types", flat=True)
    )


def send_test_event(*, endpoint: Endpoint, actor=None, request=None) -> Event:
    """A ``webhook.test`` event to this endpoint alone (enabled or not)."""
    record(
        action="webhook.test_send",
        actor=actor,
        team=endpoint.team,
        target=endpoint,
        request=request,
    )
    event = _publish(
        team_id=endpoint.team_id,
        type_="webhook.test",
        data={
            "endpoint": {"id": endpoint.pk, "url": endpoint.url},
            "message": "This is a test event from Gatehouse.",
        },
        dedupe_key=None,
        only=endpoint,
    )
    return event  # never None: without a dedupe key nothing collides


def redeliver(*, delivery: Delivery, actor=None, request=None) -> None:
    """Try this delivery once more now, whatever its status."""
    record(
        action="webhook.redeliver",
        actor=actor,
        team=delivery.endpoint.team,
        target=delivery.endpoint,
        request=request,
        data={"event": delivery.event_id},
    )
    transaction.on_commit(
        lambda: tasks.deliver.enqueue(
            delivery_id=delivery.pk,
            manual=True,
            requested_by_id=getattr(actor, "pk", None),
        )
    )


def email_event(*, event_id: str) -> int:
    event = Event.objects.filter(pk=event_id).first()
    if event is None:
        return 0
    addresses = [
        email
        for email, types in EmailPreference.objects.filter(
            membership__team_id=event.team_id, membership__user__is_active=True
        ).values_list("membership__user__email", "event_types")
        if event.type in types
    ]
    if not addresses:
        return 0
    subject, _, body = render_to_string(
        "emails/webhook_event.txt",
        {
            "event": event,
            "description": EVENT_TYPES[event.type],
            "team": event.team,
            "payload": signing.pretty(event.payload),
        },
    ).partition("\n")
    for address in addresses:
        send_mail(subject.strip(), body.lstrip(), None, [address])
    return len(addresses)


# --- delivery ----------------------------------------------------------------


def _claim(delivery_id: int, manual: bool) -> tuple[Delivery, int] | None:
    with transaction.atomic():
        delivery = (
            Delivery.objects.select_for_update()
            .select_related("endpoint", "event")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None:
            return None
        if not manual and (
            delivery.status != DeliveryStatus.PENDING
            or (delivery.next_attempt_at and delivery.next_attempt_at > timezone.now())
        ):
            return None  # done already, or a stale duplicate of a rescheduled try
        delivery.attempts += 1
        delivery.next_attempt_at = None
        delivery.save(update_fields=["attempts", "next_attempt_at"])
        return delivery, delivery.attempts


def attempt_delivery(
    *, delivery_id: int, manual: bool = False, requested_by_id: int | None = None
) -> str:
    """One attempt at one delivery; schedules the next one if it failed.

    ``manual`` is a redelivery someone asked for (a person, or an app through
    the management API): it runs whatever the delivery's status and never
    schedules retries of its own.
    """
    claimed = _claim(delivery_id, manual)
    if claimed is None:
        return "skipped"
    delivery, number = claimed
    endpoint, event = delivery.endpoint, delivery.event
    if not endpoint.is_active and event.type != "webhook.test" and not manual:
        _finish(delivery, DeliveryStatus.FAILED)
        Attempt.objects.create(
            delivery=delivery, number=number, error="The endpoint is disabled."
        )
        return "failed"
    outcome = _send(endpoint, event)
    Attempt.objects.create(
        delivery=delivery,
        number=number,
        status_code=outcome.status_code,
        latency_ms=outcome.latency_ms,
        error=outcome.error,
        response_excerpt=outcome.excerpt,
        requested_by_id=requested_by_id,
    )
    now = timezone.now()
    if outcome.succeeded:
        _finish(delivery, DeliveryStatus.SUCCEEDED)
        if endpoint.failing_since is not None:
            Endpoint.objects.filter(pk=endpoint.pk).update(failing_since=None)
        return "succeeded"
    failing_since = endpoint.failing_since or now
    if endpoint.failing_since is None:
        Endpoint.objects.filter(pk=endpoint.pk, failing_since=None).update(
            failing_since=now
        )
    if endpoint.is_active and now - failing_since >= tasks.disable_after():
        _disable(endpoint)
    if manual:
        if delivery.status == DeliveryStatus.PENDING and delivery.attempts > len(
            tasks.RETRY_DELAYS
        ):
            _finish(delivery, DeliveryStatus.FAILED)
        return "failed"
    delay = tasks.retry_delay(number)
    if delay is None or not Endpoint.objects.filter(pk=endpoint.pk, is_active=True):
        _finish(delivery, DeliveryStatus.FAILED)
        return "failed"
    when = now + delay
    Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=when)
    tasks.schedule(delivery.pk, when)
    return "retrying"


def _send(endpoint: Endpoint, event: Event):
    from portal.webhooks.sender import Outcome

    try:
        target = ssrf.check_url(endpoint.url)
    except ssrf.UnsafeUrl as error:
        return Outcome(None, 0, "", f"Refused: {error}"[:200])
    try:
        secret = signing.unseal(endpoint.secret_encrypted)
    except ValueError as error:
        return Outcome(None, 0, "", str(error))
    body = signing.body_for(event.pk, event.type, event.created_at, event.payload)
    headers = signing.signed_headers(
        secret=secret, message_id=event.pk, timestamp=timezone.now(), body=body
    )
    return post(target, body.encode(), headers)


def _finish(delivery: Delivery, status: str) -> None:
    delivery.status = status
    delivery.finished_at = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=status, finished_at=delivery.finished_at, next_attempt_at=None
    )


def _disable(endpoint: Endpoint) -> None:
    days = tasks.disable_after().days
    reason = f"Every delivery failed for {days} days."
    with transaction.atomic():
        changed = Endpoint.objects.filter(pk=endpoint.pk, is_active=True).update(
            is_active=False, disabled_reason=reason
        )
        if not changed:
            return
        record(
            action="webhook.endpoint_disabled",
            team=endpoint.team,
            target=endpoint,
            data={"reason": reason},
        )
        owners = list(
            endpoint.team.memberships.filter(
                role="owner", user__is_active=True
            ).values_list("user__email", flat=True)
        )
        subject, _, body = render_to_string(
            "emails/webhook_disabled.txt",
            {"endpoint": endpoint, "team": endpoint.team, "days": days},
        ).partition("\n")
        from portal.accounts.tasks import email_send

        for address in owners:
            transaction.on_commit(
                partial(
                    email_send.enqueue,
                    subject=subject.strip(),
                    body=body.lstrip(),
                    to=[address],
                )
            )
    logger.warning("webhook endpoint %s disabled: %s", endpoint.pk, reason)


# --- scheduled events ---------------------------------------------------------


def emit_expiring_keys(now=None) -> int:
    """``key.expiring`` for keys expiring within 7 days and within 1 day.

    Idempotent: each key gets each notice once (the event's dedupe key), so
    running this every hour (or every minute) is safe.
    """
    from portal.keys.models import ApiKey

    now = now or timezone.now()
    emitted = 0
    keys = ApiKey.objects.filter(
        revoked_at__isnull=True,
        expires_at__gt=now,
        expires_at__lte=now + timedelta(days=7),
    ).select_related("app__team")
    for key in keys:
        window = "1d" if key.expires_at - now <= timedelta(days=1) else "7d"
        before = _publish(
            team_id=key.app.team_id,
            type_="key.expiring",
            data={**key_data(key), "expires_in": window},
            dedupe_key=f"key.expiring:{key.pk}:{window}",
        )
        emitted += before is not None
    return emitted


def key_data(key) -> dict:
    return {
        "key": {
            "lookup_id": key.lookup_id,
            "name": key.name,
            "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        },
        "app": {"id": key.app_id, "slug": key.app.slug},
    }
