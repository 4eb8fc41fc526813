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
