from __future__ import annotations

from django.db import models
from django.utils import timezone
from oauth2_provider.models import AbstractApplication


class AppStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"


class App(AbstractApplication):
    """A developer's application: django-oauth-toolkit's swapped Application.

    It belongs to a team, holds that team's API keys and OAuth credentials, and
    is named on the command line as ``<team slug>/<app slug>``.
    """

    team = models.ForeignKey(
        "accounts.Team", on_delete=models.CASCADE, related_name="apps"
    )
    slug = models.SlugField(max_length=60)
    description = models.TextField(max_length=2000, blank=True)
    status = models.CharField(
        max_length=12, choices=AppStatus.choices, default=AppStatus.ACTIVE
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Off until a team member sets the app up as an OAuth client in the portal
    # (or with createoauthclient): until then nobody knows its client secret,
    # and no grant is accepted for it.
    oauth_enabled = models.BooleanField(default=False)

    class Meta(AbstractApplication.Meta):
        constraints = [
            models.UniqueConstraint(fields=["team", "slug"], name="oauth_app_team_slug")
        ]
        ordering = ["team__slug", "slug"]

    def __str__(self) -> str:
        return self.qualified_slug

    @property
    def qualified_slug(self) -> str:
        return f"{self.team.slug}/{self.slug}"

    @property
    def is_active(self) -> bool:
        return self.status == AppStatus.ACTIVE

    def is_usable(self, request) -> bool:
        """django-oauth-toolkit asks this before any grant or token use."""
        return self.oauth_enabled and self.is_active and self.team.is_active


class UsedAuthorizationCode(models.Model):
    """An authorization code already exchanged, and what it was exchanged for.

    RFC 6749 §4.1.2: a code presented twice must be refused *and* the tokens
    issued from it should be revoked. django-oauth-toolkit deletes the grant
    on first use, so this row remembers it (by hash) to recognise a replay.
    """

    code_checksum = models.CharField(max_length=64, unique=True)
    application = models.ForeignKey(App, on_delete=models.CASCADE, related_name="+")
    access_token_checksum = models.CharField(max_length=64, blank=True)
    refresh_token_checksum = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"code {self.code_checksum[:8]}… of {self.application_id}"
