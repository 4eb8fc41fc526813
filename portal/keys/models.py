from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone


class KeyStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    REVOKED = "revoked", "Revoked"


class ApiKey(models.Model):
    """An app's API key. Only a keyed hash of the full key is stored."""

    app = models.ForeignKey(
        "oauth.App", on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    lookup_id = models.CharField(max_length=12, unique=True)
    environment = models.CharField(max_length=4)
    secret_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, blank=True)
    allowed_ips = models.JSONField(
        default=list, blank=True, help_text="CIDR ranges; empty allows any address."
    )
    rate_override = models.JSONField(
        default=list,
        blank=True,
        help_text="The key's own rate tiers, replacing the plan's, e.g. [\"50/m\"].",
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)
    # The key this one replaced in a rotation; that key expires at the end of
    # the grace period the developer chose.
    replaces = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="replaced_by",
    )
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.lookup_id})"

    @property
    def prefix(self) -> str:
        """The part of the key that is safe to display."""
        return f"gk_{self.environment}_{self.lookup_id}_…"

    def status_at(self, now: datetime) -> str:
        if self.revoked_at is not None:
            return KeyStatus.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return KeyStatus.EXPIRED
        return KeyStatus.ACTIVE

    @property
    def status(self) -> str:
        return self.status_at(timezone.now())

    @property
    def is_usable(self) -> bool:
        return self.status == KeyStatus.ACTIVE
