from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from portal.catalog.rates import parse_rate


class ApiStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DEPRECATED = "deprecated", "Deprecated"


class Visibility(models.TextChoices):
    PUBLIC = "public", "Public"
    PRIVATE = "private", "Private"


class Api(models.Model):
    """A served API. Declared in code (``apis/<slug>/spec.py``), synced here."""

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=40, unique=True)
    version = models.CharField(max_length=20, default="v1")
    base_path = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=12, choices=ApiStatus.choices, default=ApiStatus.ACTIVE
    )
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "API"

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class Scope(models.Model):
    """A permission string ``<api slug>:<action>`` that a served view can require."""

    api = models.ForeignKey(Api, on_delete=models.CASCADE, related_name="scopes")
    name = models.CharField(max_length=80, unique=True)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def validate_rate_tiers(value) -> None:
    if not isinstance(value, list):
        raise ValidationError('Give a list of rates such as ["10/s", "1000/h"].')
    for rate in value:
        try:
            parse_rate(rate)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class Plan(models.Model):
    """What a subscription to an API grants: scopes, rate tiers, monthly quota."""

    api = models.ForeignKey(Api, on_delete=models.CASCADE, related_name="plans")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=40)
    description = models.TextField(blank=True)
    scopes = models.ManyToManyField(Scope, related_name="plans", blank=True)
    rate_tiers = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_rate_tiers],
        help_text='Rate tiers, every one enforced, e.g. ["10/s", "1000/h"].',
    )
    monthly_quota = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Calls per calendar month (UTC); empty: none."
    )
    requires_approval = models.BooleanField(default=False)
    is_public = models.BooleanField(default=True)
    is_default = models.BooleanField(
        default=False, help_text="Offered first; the demo app subscribes to it."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["api__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["api", "slug"], name="catalog_plan_api_slug"
            )
        ]

    def __str__(self) -> str:
        return f"{self.api.name}: {self.name}"

    def clean(self) -> None:
        if self.rate_tiers is None:
            self.rate_tiers = []


class SubscriptionStatus(models.TextChoices):
    PENDING = "pending", "Pending approval"
    ACTIVE = "active", "Active"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


LIVE_STATUSES = (SubscriptionStatus.PENDING, SubscriptionStatus.ACTIVE)


class Subscription(models.Model):
    """An app's subscription to one plan. At most one live one per app and API."""

    app = models.ForeignKey(
        "oauth.App", on_delete=models.CASCADE, related_name="subscriptions"
    )
    plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, related_name="subscriptions"
    )
    # Denormalised from plan.api so the database can enforce one live
    # subscription per API.
    api = models.ForeignKey(Api, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(
        max_length=10,
        choices=SubscriptionStatus.choices,
        default=SubscriptionStatus.PENDING,
    )
    # A change to a plan that needs approval, waiting for staff; the current
    # plan stays in force until then.
    requested_plan = models.ForeignKey(
        Plan,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="requested_by",
    )
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["app", "api"],
                condition=Q(status__in=["pending", "active"]),
                name="catalog_one_live_subscription_per_api",
            )
        ]

    def __str__(self) -> str:
        return f"{self.app} → {self.plan} ({self.status})"

    def save(self, *args, **kwargs) -> None:
        if self.plan_id and not self.api_id:
            self.api_id = self.plan.api_id
        super().save(*args, **kwargs)

    @property
    def is_active(self) -> bool:
        return self.status == SubscriptionStatus.ACTIVE
