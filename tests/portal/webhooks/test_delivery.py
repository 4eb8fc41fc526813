"""Delivery: retries with growing delays through the database task worker,
the same ``webhook-id`` on every try, redirects, caps, timeouts, disabling."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from portal.webhooks import services, tasks
from portal.webhooks.models import Attempt, Delivery, DeliveryStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def database_tasks(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


def run_worker() -> None:
    """What `manage.py db_worker` does, until nothing is due."""
    call_command(
        "db_worker", "--batch", "--no-startup-delay", "--interval", "0", "--no-reload"
    )


def emit_test_event(endpoint, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return services.send_test_event(endpoint=endpoint)


# The worker closes "old" connections as it goes, which would end a test's
# wrapping transaction: tests that run it commit for real.
@pytest.mark.django_db(transaction=True)
def test_a_failing_receiver_gets_retries_with_growing_delays_then_failed(
    database_tasks, receiver, endpoint, time_machine, django_capture_on_commit_callbacks
):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    for _ in range(len(tasks.RETRY_DELAYS) + 1):
        receiver.reply(500, b"boom")
    event = emit_test_event(endpoint, django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get(event=event)
    assert receiver.requests == []  # queued, not sent in the request
    run_worker()
    seen = [timezone.now()]
    for delay in tasks.RETRY_DELAYS:
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.PENDING
        assert delivery.next_attempt_at == timezone.now() + timedelta(seconds=delay)
        # Not a moment early: one second before, the worker finds nothing due.
        time_machine.shift(delay - 1)
        run_worker()
        assert len(receiver.requests) == len(seen)
        time_machine.shift(1)
        run_worker()
        seen.append(timezone.now())
        assert len(receiver.requests) == len(seen)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == len(tasks.RETRY_DELAYS) + 1
    gaps = [(b - a).total_seconds() for a, b in zip(seen, seen[1:], strict=False)]
    assert gaps == list(tasks.RETRY_DELAYS)
    assert gaps == sorted(gaps)
    assert 20 * 3600 < sum(gaps) < 30 * 3600  # about a day of retries
    # Every try carries the same webhook-id, each signed afresh.
    ids = {r["headers"]["webhook-id"] for r in receiver.requests}
    assert ids == {event.pk}
    assert len({r["headers"]["webhook-signature"] for r in receiver.requests}) > 1
    log = list(Attempt.objects.filter(delivery=delivery).order_by("number"))
    assert [a.status_code for a in log] == [500] * len(seen)
    assert log[0].response_excerpt == "boom"
    # Nothing else is waiting.
    time_machine.shift(timedelta(days=2))
    run_worker()
    assert len(receiver.requests) == len(seen)


# The worker closes "old" connections as it goes, which would end a test's
# wrapping transaction: tests that run it commit for real.
@pytest.mark.django_db(transaction=True)
def test_a_retry_that_succeeds_ends_the_delivery(
    database_tasks, receiver, endpoint, time_machine, django_capture_on_commit_callbacks
):
    time_machine.move_to(timezone.now(), tick=False)
    receiver.reply(503)
    event = emit_test_event(endpoint, django_capture_on_commit_callbacks)
    run_worker()
    time_machine.shift(tasks.RETRY_DELAYS[0])
    run_worker()
    delivery = Delivery.objects.get(event=event)
    assert delivery.status == DeliveryStatus.SUCCEEDED
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [event.pk] * 2
    endpoint.refresh_from_db()
    assert endpoint.failing_since is None


def test_redelivery_carries_the_same_webhook_id(
    receiver, endpoint, developer, django_capture_on_commit_callbacks
):
    event = emit_test_event(endpoint, django_capture_on_commit_callbacks)
    delivery = Delivery.objects.get(event=event)
    assert delivery.status == DeliveryStatus.SUCCEEDED
    with django_capture_on_commit_callbacks(execute=True):
        services.redeliver(delivery=delivery, actor=developer)
    first, second = receiver.events(endpoint.secret)
    assert first == second  # the same payload
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [event.pk] * 2
    log = Attempt.objects.filter(delivery=delivery).order_by("number")
    assert [(a.number, a.requested_by) for a in log] == [(1, None), (2, developer)]


def test_redirects_are_not_followed(
    receiver, endpoint, django_capture_on_commit_callbacks
):
    receiver.reply(302, headers={"Location": receiver.url + "/elsewhere"})
    event = emit_test_event(endpoint, django_capture_on_commit_callbacks)
    assert [r["path"] for r in receiver.requests] == ["/hooks"]
    attempt = Attempt.objects.get(delivery__event=event)
    assert attempt.status_code == 302
    assert Delivery.objects.get(event=event).status == DeliveryStatus.PENDING


def test_a_slow_receiver_times_out(
    settings, receiver, endpoint, django_capture_on_commit_callbacks
):
    settings.WEBHOOKS_TIMEOUT_SECONDS = 0.5
    receiver.reply(200, b"late", delay=2)
    event = emit_test_event(endpoint, django_capture_on_commit_callbacks)
    attempt = Attempt.objects.get(delivery__event=event)
    assert attempt.error == "timed out after 0.5 s"
    assert attempt.latency_ms < 1500
    assert not attempt.succeeded


def test_only_the_start_of_a_large_answer_is_read(
    settings, receiver, endpoint, django_capture_on_commit_callbacks
):
    settings.WEBHOOKS_MAX_RESPONSE_BYTES = 4096
    receiver.reply(200, b"x" * 5_000_000)
    event = emit_test_event(endpoint, django_capture_on_commit_callbacks)
    attempt = Attempt.objects.get(delivery__event=event)
    assert attempt.succeeded
    assert attempt.response_excerpt == "x" * 1000


def test_an_endpoint_failing_for_3_days_is_disabled_and_owners_emailed(
    receiver, endpoint, developer, time_machine, django_capture_on_commit_callbacks
):
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    receiver.reply(500)
    emit_test_event(endpoint, django_capture_on_commit_callbacks)
    endpoint.refresh_from_db()
    assert endpoint.failing_since == start and endpoint.is_active
    time_machine.move_to(start + timedelta(days=3), tick=False)
    receiver.reply(500)
    mail.outbox.clear()
    emit_test_event(endpoint, django_capture_on_commit_callbacks)
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert "failed for 3 days" in endpoint.disabled_reason
    assert [m.to for m in mail.outbox] == [[developer.email]]
    assert endpoint.url in mail.outbox[0].body
    # A disabled endpoint is sent no more events.
    with django_capture_on_commit_callbacks(execute=True):
        services.emit(endpoint.team, "key.revoked", {"key": {}})
    assert len(receiver.requests) == 2


# The worker closes "old" connections as it goes, which would end a test's
# wrapping transaction: tests that run it commit for real.
@pytest.mark.django_db(transaction=True)
def test_the_worker_command_runs_queued_deliveries(
    database_tasks, receiver, endpoint, django_capture_on_commit_callbacks
):
    event = emit_test_event(endpoint, django_capture_on_commit_callbacks)
    assert receiver.requests == []
    run_worker()
    assert [r["headers"]["webhook-id"] for r in receiver.requests] == [event.pk]
