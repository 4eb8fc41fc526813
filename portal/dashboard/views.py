"""The staff overview: the platform's traffic, what waits for staff, and what
happened lately, each linking into the admin.

Verified staff only (``staff_required``). The usage numbers come from
``portal.usage.queries``, the functions behind every usage page and the
management API, so the overview and a team's own pages agree. The page costs
a fixed number of queries, however many apps, users or events there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django import forms
from django.db import models
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from portal.accounts.models import Team, User
from portal.audit.models import AuditEvent
from portal.audit.selectors import recent_events
from portal.catalog.models import Subscription
from portal.dashboard import selectors
from portal.dashboard.access import staff_required
from portal.oauth.models import App
from portal.usage.models import Granularity
from portal.usage.queries import (
    DEFAULT_RANGE,
    RANGES,
    Point,
    UsageReport,
    top_apps,
    usage_report,
)
from portal.web.usage_pages import RANGE_LABELS

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

LIST_SIZE = 10  # rows in each list: top apps, requests, sign-ups, events
# Chart axis labels (short) and table labels (unambiguous), all UTC: the
# usage pages' formats.
_AXIS_FORMATS = {"m": "%H:%M", "h": "%d %b %H:00", "d": "%d %b"}
_TABLE_FORMATS = {"m": "Y-m-d H:i", "h": "Y-m-d H:i", "d": "Y-m-d"}


class OverviewQueryForm(forms.Form):
    range = forms.ChoiceField(
        required=False,
        choices=[(name, RANGE_LABELS.get(name, name)) for name in RANGES],
        error_messages={
            "invalid_choice": "“%(value)s” is not a range: choose "
            + ", ".join(RANGES)
            + "."
        },
    )


# --- links into the admin -------------------------------------------------------


class AdminLinks:
    """URLs of admin pages this staff member may open, or None.

    None when the model is not registered with the admin (no such URL) or
    the user may neither view nor change it (the admin would refuse), so the
    page shows plain text instead of a dead link. Permissions are read once
    per request (Django caches them on the user).
    """

    def __init__(self, user: User):
        self.user = user
        self._allowed: dict[type[models.Model], bool] = {}

    def _may_view(self, model: type[models.Model]) -> bool:
        if model not in self._allowed:
            opts = model._meta
            self._allowed[model] = any(
                self.user.has_perm(f"{opts.app_label}.{action}_{opts.model_name}")
                for action in ("view", "change")
            )
        return self._allowed[model]

    def _url(self, model: type[models.Model], view: str, *args: Any) -> str | None:
        if not self._may_view(model):
            return None
        opts = model._meta
        try:
            return reverse(
                f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args
            )
        except NoReverseMatch:
            return None

    def change(self, model: type[models.Model], pk: Any) -> str | None:
        return self._url(model, "change", pk)

    def changelist(self, model: type[models.Model], query: str = "") -> str | None:
        url = self._url(model, "changelist")
        return f"{url}?{query}" if url and query else url


# --- rows for the template ---------------------------------------------------


@dataclass
class Period:
    """One row of the time tables: a report point and its error rate."""

    point: Point

    @property
    def errors(self) -> int:
        return self.point.errors_4xx + self.point.errors_5xx

    @property
    def error_rate_pct(self) -> float | None:
        return _pct(self.errors, self.point.calls)


@dataclass
class TopApp:
    app_id: int
    app: App | None  # None: the app has been deleted since
    calls: int
    errors: int
    url: str | None
    team_url: str | None

    @property
    def error_rate_pct(self) -> float | None:
        return _pct(self.errors, self.calls)


@dataclass
class Linked:
    """An object of one of the lists and its admin page (or None)."""

    obj: Any
    url: str | None


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


def _series(report: UsageReport, periods: list[Period]) -> dict:
    """The numbers for the charts (handed over with ``json_script``)."""
    axis = _AXIS_FORMATS[report.granularity]
    return {
        "period": Granularity(report.granularity).label,
        "labels": [p.point.start.strftime(axis) for p in periods],
        "calls": [p.point.calls for p in periods],
        "errors_4xx": [p.point.errors_4xx for p in periods],
        "errors_5xx": [p.point.errors_5xx for p in periods],
        "throttled": [p.point.throttled for p in periods],
        "error_rate_pct": [p.error_rate_pct for p in periods],
    }


def _top_apps(range_name: str, links: AdminLinks) -> dict[str, list[TopApp]]:
    top = top_apps(range_name, limit=LIST_SIZE)
    apps = selectors.app_map(
        sorted({entry["app_id"] for entries in top.values() for entry in entries})
    )

    def row(entry: dict) -> TopApp:
        app = apps.get(entry["app_id"])
        return TopApp(
            app_id=entry["app_id"],
            app=app,
            calls=entry["calls"],
            errors=entry["errors"],
            url=links.change(App, app.pk) if app else None,
            team_url=links.change(Team, app.team_id) if app else None,
        )

    return {name: [row(entry) for entry in entries] for name, entries in top.items()}


# The access rule first: to anyone but verified staff the page does not
# exist, whatever the method.
@never_cache
@staff_required
@require_safe
def overview(request: HttpRequest) -> HttpResponse:
    query = OverviewQueryForm(request.GET)
    query.is_valid()
    range_name = query.cleaned_data.get("range") or DEFAULT_RANGE
    links = AdminLinks(request.user)

    report = usage_report(range_name)
    periods = [Period(point) for point in report.points]
    awaiting = selectors.subscription_awaiting_list()
    audit_events = recent_events(LIST_SIZE)
    return render(
        request,
        "dashboard/overview.html",
        {
            "report": report,
            "totals": Period(report.totals),
            "periods": periods,
            "series": _series(report, periods),
            "range_label": RANGE_LABELS.get(range_name, range_name),
            "ranges": [(name, RANGE_LABELS.get(name, name)) for name in RANGES],
            "query_errors": [m for errors in query.errors.values() for m in errors],
            "table_format": _TABLE_FORMATS[report.granularity],
            "period": Granularity(report.granularity).label,
            "top": _top_apps(range_name, links),
            "awaiting": [
                Linked(sub, links.change(Subscription, sub.pk))
                for sub in awaiting[:LIST_SIZE]
            ],
            "awaiting_count": awaiting.count(),
            "signups": [
                Linked(user, links.change(User, user.pk))
                for user in selectors.user_newest_list()[:LIST_SIZE]
            ],
            "events": [
                Linked(event, links.change(AuditEvent, event.pk))
                for event in audit_events
            ],
            "admin": {
                "index": reverse("admin:index"),
                "awaiting": links.changelist(Subscription, "awaiting=yes"),
                "apps": links.changelist(App),
                "teams": links.changelist(Team),
                "users": links.changelist(User),
                "audit": links.changelist(AuditEvent),
            },
        },
    )
