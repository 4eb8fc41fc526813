"""Reads of the audit trail: a team's events for its members, a user's own,
everything for staff, and the CSV rows every export writes.

What a developer sees of an event done by Gatehouse staff (an approval, a
suspension): the action, its target and details, but "Gatehouse staff" as
the actor and no IP address or user agent. Each queryset here carries that
decision as two annotations, ``by_staff`` and ``shown_actor``, so the page,
its filters and its CSV all agree; staff's own views show everything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from django.db.models import (
    BooleanField,
    Case,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Value,
    When,
)
from django.utils import timezone

from portal.audit.models import AuditEvent

if TYPE_CHECKING:
    from portal.accounts.models import Team, User

STAFF_ACTOR = "Gatehouse staff"

# A spreadsheet runs a cell that starts with one of these as a formula.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class AuditFilters:
    """What to narrow a list of events to; empty values do not filter.

    ``actor`` and ``target`` match part of the shown label in any letter
    case; ``team`` is a team's slug; ``since`` and ``until`` are whole days
    (UTC), both included.
    """

    action: str = ""
    actor: str = ""
    team: str = ""
    target: str = ""
    since: date | None = None
    until: date | None = None


NO_FILTERS = AuditFilters()


def day_start(day: date) -> datetime:
    """Midnight at the start of ``day`` in the portal's time zone (UTC)."""
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


def filter_events(
    events: QuerySet[AuditEvent], filters: AuditFilters
) -> QuerySet[AuditEvent]:
    """``events`` narrowed by ``filters`` (annotated with ``shown_actor``)."""
    if filters.action:
        events = events.filter(action=filters.action)
    if filters.actor:
        events = events.filter(shown_actor__icontains=filters.actor)
    if filters.team:
        events = events.filter(team_label=filters.team)
    if filters.target:
        events = events.filter(
            Q(target_label__icontains=filters.target) | Q(target_id=filters.target)
        )
    if filters.since is not None:
        events = events.filter(created_at__gte=day_start(filters.since))
    if filters.until is not None and filters.until < date.max:
        events = events.filter(
            created_at__lt=day_start(filters.until + timedelta(days=1))
        )
    return events


def _shown(events: QuerySet[AuditEvent], by_staff: Q | None) -> QuerySet[AuditEvent]:
    if by_staff is None:
        return events.annotate(
            by_staff=Value(False, output_field=BooleanField()),
            shown_actor=F("actor_label"),
        )
    return events.annotate(
        by_staff=Case(
            When(by_staff, then=Value(True)),
            default=Value(False),
            output_field=BooleanField(),
        ),
    ).annotate(
        shown_actor=Case(
            When(by_staff=True, then=Value(STAFF_ACTOR)),
            default=F("actor_label"),
        )
    )


def events_for_team(
    team: Team, filters: AuditFilters = NO_FILTERS
) -> QuerySet[AuditEvent]:
    """The team's events, newest first, as its members see them.

    An actor who is staff and not a member of the team is shown as
    ``STAFF_ACTOR`` (``by_staff``); ``filters.team`` is ignored.
    """
    from portal.accounts.models import Membership

    member = Membership.objects.filter(team=team, user=OuterRef("actor"))
    events = _shown(
        AuditEvent.objects.filter(team=team),
        Q(actor__is_staff=True) & ~Exists(member),
    )
    return filter_events(events, replace(filters, team=""))


def team_event_actions(team: Team) -> list[str]:
    """The actions the team's events have, for the page's action filter."""
    return list(
        AuditEvent.objects.filter(team=team)
        .order_by("action")
        .values_list("action", flat=True)
        .distinct()
    )


def events_for_user(
    user: User, filters: AuditFilters = NO_FILTERS
) -> QuerySet[AuditEvent]:
    """Events about ``user`` alone, tied to no team, newest first: their
    logins and failed logins, password changes and resets, two-factor
    changes, and what staff did to their account (shown as staff)."""
    about = Q(actor=user) | Q(target_type=user._meta.label, target_id=str(user.pk))
    events = _shown(
        AuditEvent.objects.filter(about, team__isnull=True),
        Q(actor__is_staff=True) & ~Q(actor=user),
    )
    return filter_events(events, filters)


def events_for_staff(filters: AuditFilters = NO_FILTERS) -> QuerySet[AuditEvent]:
    """Every event, newest first, with every detail."""
    return filter_events(_shown(AuditEvent.objects.all(), None), filters)


def recent_events(limit: int = 10) -> list[AuditEvent]:
    """The newest ``limit`` events, for the staff overview."""
    return list(
        AuditEvent.objects.select_related("actor", "team").order_by(
            "-created_at", "-id"
        )[:limit]
    )


# --- presentation and CSV ----------------------------------------------------


def event_details(event: AuditEvent) -> str:
    """The event's data as one line: ``key: value; key: a, b``."""
    parts = []
    for key, value in sorted(event.data.items()):
        if isinstance(value, list | tuple):
            shown = ", ".join(str(v) for v in value) or "none"
        elif isinstance(value, dict):
            shown = json.dumps(value, sort_keys=True, ensure_ascii=False)
        else:
            shown = "none" if value is None else str(value)
        parts.append(f"{key}: {shown}")
    return "; ".join(parts)


def csv_safe(value: object) -> str:
    """``value`` as a CSV cell a spreadsheet shows as text and never runs."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_header(*, client_details: bool = True) -> list[str]:
    header = ["time", "action", "actor", "team", "target_type", "target_id"]
    header += ["target"]
    if client_details:
        header += ["ip", "user_agent"]
    return [*header, "details"]


def csv_row(event: AuditEvent, *, client_details: bool = True) -> list[str]:
    """One event as a CSV row under ``csv_header``: UTC ISO 8601 time, the
    shown actor (``STAFF_ACTOR`` for staff seen from a team), its data as
    JSON. IP and user agent only with ``client_details``, and never for an
    event of staff seen by a developer."""
    by_staff = getattr(event, "by_staff", False)
    row = [
        event.created_at.astimezone(UTC).isoformat(),
        event.action,
        getattr(event, "shown_actor", event.actor_label),
        event.team_label,
        event.target_type,
        event.target_id,
        event.target_label,
    ]
    if client_details:
        row += ["", ""] if by_staff else [event.ip or "", event.user_agent]
    row.append(json.dumps(event.data, sort_keys=True, ensure_ascii=False))
    return [csv_safe(cell) for cell in row]


def csv_rows(
    events: Iterable[AuditEvent], *, client_details: bool = True
) -> Iterator[list[str]]:
    """The header, then one row per event (read in chunks, not all at once)."""
    yield csv_header(client_details=client_details)
    if isinstance(events, QuerySet):
        events = events.iterator(chunk_size=2000)
    for event in events:
        yield csv_row(event, client_details=client_details)
