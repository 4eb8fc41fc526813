from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

APPEND_ONLY = "Audit events are append-only."


class AuditEventQuerySet(models.QuerySet):
    """Reads as usual; ``update()``, ``bulk_update()`` and ``delete()``
    refuse, so no bulk edit (the admin's, a shell's or a future service's)
    can rewrite the trail."""

    def update(self, **kwargs):
        raise PermissionError(APPEND_ONLY)

    def bulk_update(self, objs, fields, batch_size=None):
        # Refused before Django opens its transaction, so the caller's stays
        # usable.
        raise PermissionError(APPEND_ONLY)

    def delete(self):
        raise PermissionError(APPEND_ONLY)

    delete.queryset_only = True


class AuditEvent(models.Model):
    """One security-relevant action: who did what to what, when, from where.

    Append-only: rows are written by ``portal.audit.services.record`` and
    never changed or deleted. ``save`` refuses updates, ``delete`` refuses,
    and so do ``AuditEvent.objects.update()`` / ``.delete()``. On PostgreSQL a
    trigger (migration 0002) refuses any UPDATE or DELETE of a row whatever
    the client, with one exception below.

    Deleting a user or a team. ``actor`` and ``team`` stay real foreign keys
    with ``SET_NULL``: the database keeps checking that an event never points
    at a row that does not exist, and a deleted user's events stay readable
    through ``actor_label`` and ``team_label``, written with the event. Django
    nulls the columns with an UPDATE (through the model's plain base manager,
    which is why ``objects`` alone refuses bulk updates), so the trigger lets
    through exactly that: an UPDATE that sets ``actor_id`` and/or ``team_id``
    to NULL and leaves every other column as it was. The alternative,
    ``DO_NOTHING`` without a constraint, would leave ids pointing at nothing
    (or at a later row that reuses the id on SQLite) and make ``event.actor``
    raise; keeping the link honest is worth this one narrow opening.

    The trigger is PostgreSQL's alone: the embedded SQLite run has the ORM
    guards only (its test flush deletes rows, which a trigger would refuse).
    TRUNCATE is not a row operation and stays possible for the table's owner;
    run the portal as a role that does not own its tables to close that too.
    """

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=64, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Kept as text too, so the trail still reads after a user is deleted.
    actor_label = models.CharField(max_length=254, blank=True)
    team = models.ForeignKey(
        "accounts.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The team's slug when the event was written; kept when the team is not.
    team_label = models.CharField(max_length=60, blank=True)
    target_type = models.CharField(max_length=64, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=254, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    data = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["team", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise PermissionError(APPEND_ONLY)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError(APPEND_ONLY)
