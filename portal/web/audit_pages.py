"""A team's audit trail for its members: filters, pages and a CSV export.

Any member sees the team's events; owners and admins also see the IP
address and user agent of each one (members' whereabouts are not every
member's business). Staff actions are shown as Gatehouse staff's, without
client details (see ``portal.audit.selectors``).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from portal.accounts.selectors import membership_get
from portal.audit.exports import csv_response
from portal.audit.forms import TeamAuditForm
from portal.audit.models import AuditEvent
from portal.audit.selectors import (
    event_details,
    events_for_team,
    team_event_actions,
)

EVENTS_PER_PAGE = 50


def _page_of(events, number: int | None) -> tuple[Page, str]:
    """The page asked for, or the last one with a notice if it is past the end."""
    paginator = Paginator(events, EVENTS_PER_PAGE)
    if number is not None and number > paginator.num_pages:
        last = paginator.num_pages
        return paginator.page(last), f"There is no page {number}; showing page {last}."
    return paginator.page(number or 1), ""


def _rows(events: list[AuditEvent]) -> list[dict]:
    return [{"event": event, "details": event_details(event)} for event in events]


@login_required
@require_safe
def team_audit(request: HttpRequest, team_slug: str) -> HttpResponse:
    """The team's events, newest first; ``?format=csv`` exports the filtered
    list. Bad filters are shown on the form (400), and no CSV is sent."""
    membership = membership_get(user=request.user, team_slug=team_slug)
    team = membership.team
    client_details = membership.can_manage_members
    form = TeamAuditForm(request.GET, actions=team_event_actions(team))
    valid = form.is_valid()
    wants_csv = valid and form.cleaned_data["format"] == "csv"
    if wants_csv:
        return csv_response(
            events_for_team(team, form.filters()),
            filename=f"audit-{team.slug}.csv",
            client_details=client_details,
        )
    page, notice = None, ""
    if valid:
        page, notice = _page_of(
            events_for_team(team, form.filters()), form.cleaned_data["page"]
        )
    return render(
        request,
        "portal/team_audit.html",
        {
            "team": team,
            "membership": membership,
            "form": form,
            "page": page,
            "rows": _rows(list(page.object_list)) if page is not None else [],
            "notice": notice,
            "client_details": client_details,
            "filtered": valid and form.filtered,
        },
        status=200 if valid else 400,
    )
