from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

from portal.audit.models import AuditEvent
from portal.web.client import client_ip, user_agent

if TYPE_CHECKING:
    from django.http import HttpRequest

    from portal.accounts.models import Team, User


def record(
    *,
    action: str,
    actor: User | None = None,
    team: Team | None = None,
    target: models.Model | None = None,
    request: HttpRequest | None = None,
    data: dict[str, Any] | None = None,
    actor_label: str = "",
) -> AuditEvent:
    """Append one event to the audit trail and return it.

    Call it inside the service's transaction so the event and the change it
    describes are written together or not at all. ``actor`` is a user, or the
    ``request.user`` of a call made with an app's token (kept as its label).
    ``request`` supplies the client IP and user agent; never pass secrets in
    ``data``. ``actor_label`` names an actor that is no user and has no
    ``request.user`` either (an OAuth client at the token endpoints); it is
    used when ``actor`` is None.
    """
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    label = str(actor) if actor is not None else actor_label
    if actor is not None and not isinstance(actor, models.Model):
        # An app calling the management API with its token (CredentialUser):
        # no user row to point at, so the label alone says which app it was.
        actor = None
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        actor_label=label[:254],
        team=team,
        team_label=team.slug if team is not None else "",
        target_type=target._meta.label if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=str(target)[:254] if target is not None else "",
        ip=client_ip(request) if request is not None else None,
        user_agent=user_agent(request) if request is not None else "",
        data=data or {},
    )
