"""Webhook endpoints, the events a team is told about, and their deliveries.

An ``Event`` is written once per thing that happened (its id is the
``webhook-id`` every delivery of it carries, retries and redeliveries
included). Each active endpoint that wants the event type gets one
``Delivery``; each try at sending it is an ``Attempt`` (the delivery log).
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone


def _event_id() -> str:
    return f"msg_{secrets.token_urlsafe(18)}"


class Endpoint(models.Model):
    team = models.ForeignKey(
        "accounts.Team", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=200, blank=True)
    event_types = models.JSONField(default=list)
    # The Standard Webhooks signing secret ("whsec_..."), encrypted with a key
    # derived from SECRET_KEY: it must be readable to sign, so it cannot be
    # hashed, and a database dump alone does not reveal it.
    secret_encrypted = models.TextField(editable=False)
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    # Set by the first failed attempt after a success; cleared by a success.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["team", "created_at", "id"]

    def __str__(self) -> str:
        return self.url


class Event(models.Model):
    id = models.CharField(max_length=40, primary_key=True, default=_event_id)
    team = models.ForeignKey(
        "accounts.Team", on_delete=models.CASCADE, related_name="webhook_events"
    )
    type = models.CharField(max_length=64)
    payload = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    # Some events must happen once per thing (a key's 7-day expiry notice):
    # their key makes a second emission a no-op.
    dedupe_key = models.CharField(max_length=120, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["team", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Delivery(models.Model):
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["endpoint", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.event_id} to endpoint {self.endpoint_id}"


class Attempt(models.Model):
    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="attempt_log"
    )
    number = models.PositiveSmallIntegerField()
    at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=200, blank=True)
    response_excerpt = models.CharField(max_length=1000, blank=True)
    # Who pressed "redeliver", if a person did.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class EmailPreference(models.Model):
    """The event types a team member wants by email (opt-in)."""

    membership = models.OneToOneField(
        "accounts.Membership", on_delete=models.CASCADE, related_name="+"
    )
    event_types = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"email preferences of membership {self.membership_id}"
