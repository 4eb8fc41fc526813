"""Usage pages: a team's, an app's or a key's calls as charts and tables,
their CSV export, and an app's recent-calls log. Members of the team only.

Every number comes from ``portal.usage.queries.usage_report``, the function
the management API answers from, so the page, the CSV and the API agree.
"""

from __future__ import annotations

import csv
import re

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.core.validators import RegexValidator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_safe

from portal.accounts.selectors import membership_get
from portal.keys.selectors import api_key_get, api_key_list
from portal.oauth.selectors import app_get_for_user, app_list
from portal.usage.models import Granularity, RecentCall
from portal.usage.queries import (
    DEFAULT_RANGE,
    RANGES,
    UsageReport,
    csv_rows,
    usage_report,
)
from portal.usage.selectors import recent_call_list

RANGE_LABELS = {
    "1h": "Last hour",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
}
# Chart axis labels (short) and table labels (unambiguous), all UTC.
_AXIS_FORMATS = {"m": "%H:%M", "h": "%d %b %H:00", "d": "%d %b"}
_TABLE_FORMATS = {"m": "Y-m-d H:i", "h": "Y-m-d H:i", "d": "Y-m-d"}
RECENT_ON_USAGE_PAGE = 10
CALLS_PER_PAGE = 50


# --- query-string forms ------------------------------------------------------


class UsageQueryForm(forms.Form):
    range = forms.ChoiceField(
        required=False,
        choices=[(name, RANGE_LABELS.get(name, name)) for name in RANGES],
        error_messages={
            "invalid_choice": "“%(value)s” is not a range: choose "
            + ", ".join(RANGES)
            + "."
        },
    )
    format = forms.ChoiceField(
        required=False,
        choices=[("html", "Web page"), ("csv", "CSV")],
        error_messages={
            "invalid_choice": "“%(value)s” is not an export format: use csv."
        },
    )


_STATUS_CODE = re.compile(r"[1-5][0-9][0-9]")
_STATUS_CLASS = re.compile(r"[1-5]xx")
_REQUEST_ID_HELP = "The Request-Id header of the response: letters, digits and dashes."


class CallSearchForm(forms.Form):
    """Filters of an app's recent-calls log; ``status`` cleans to a
    half-open range of codes, ``(low, high)``, or None."""

    status = forms.CharField(
        required=False,
        label="Status",
        help_text="An exact code such as 429, or a class such as 4xx.",
        widget=forms.TextInput(attrs={"inputmode": "text", "size": 5}),
    )
    request_id = forms.CharField(
        required=False,
        label="Request id",
        max_length=64,
        help_text=_REQUEST_ID_HELP,
        validators=[
            RegexValidator(
                r"\A[0-9A-Za-z_-]+\Z", f"Not a request id. {_REQUEST_ID_HELP}"
            )
        ],
        error_messages={"max_length": "Not a request id: at most 64 characters."},
    )
    key = forms.ChoiceField(required=False, label="Key")

    def __init__(self, *args, key_choices: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["key"].choices = [("", "Any key or token"), *key_choices]

    def clean_status(self) -> tuple[int, int] | None:
        value = self.cleaned_data["status"].lower()
        if not value:
            return None
        if _STATUS_CLASS.fullmatch(value):
            low = int(value[0]) * 100
            return (low, low + 100)
        if _STATUS_CODE.fullmatch(value):
            return (int(value), int(value) + 1)
        raise forms.ValidationError(
            "Enter an HTTP status code (100 to 599) such as 429, "
            "or a class such as 4xx.",
            code="invalid",
        )


class PageForm(forms.Form):
    page = forms.IntegerField(
        required=False,
        min_value=1,
        error_messages={
            "invalid": "Page numbers are whole numbers from 1.",
            "min_value": "Page numbers are whole numbers from 1.",
        },
    )


def _query_errors(form: forms.Form) -> list[str]:
    return [message for errors in form.errors.values() for message in errors]


# --- reads that belong in portal.usage.selectors (owned by the usage package)


# --- the usage pages ---------------------------------------------------------


def _series(report: UsageReport) -> dict:
    """The report's numbers for the charts (handed over with ``json_script``)."""
    axis = _AXIS_FORMATS[report.granularity]
    return {
        "period": Granularity(report.granularity).label,
        "labels": [point.start.strftime(axis) for point in report.points],
        "calls": [point.calls for point in report.points],
        "errors_4xx": [point.errors_4xx for point in report.points],
        "errors_5xx": [point.errors_5xx for point in report.points],
        "throttled": [point.throttled for point in report.points],
        "p50_ms": [point.p50_ms for point in report.points],
        "p95_ms": [point.p95_ms for point in report.points],
    }


def _csv_response(report: UsageReport, name_parts: list[str]) -> HttpResponse:
    filename = "-".join(["usage", *name_parts, report.range]) + ".csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, filename)
    csv.writer(response).writerows(csv_rows(report))
    return response


def _usage_page(
    request: HttpRequest, *, scope: dict[str, int], name_parts: list[str], **context
) -> HttpResponse:
    """Render the report for ``scope`` (team_id, app_id or key_id), or its CSV.

    An unknown range or format is reported on the page, which falls back to
    the last 24 hours; a CSV asked for with bad input is not sent (400), so
    nobody downloads numbers for a range they did not choose.
    """
    query = UsageQueryForm(request.GET)
    valid = query.is_valid()
    range_name = query.cleaned_data.get("range") or DEFAULT_RANGE
    wants_csv = query.cleaned_data.get("format") == "csv"
    report = usage_report(range_name, **scope)
    if valid and wants_csv:
        return _csv_response(report, name_parts)
    return render(
        request,
        "portal/usage_report.html",
        {
            **context,
            "report": report,
            "series": _series(report),
            "range_label": RANGE_LABELS.get(range_name, range_name),
            "ranges": [(name, RANGE_LABELS.get(name, name)) for name in RANGES],
            "query_errors": _query_errors(query),
            "range_fell_back": "range" in query.errors,
            "table_format": _TABLE_FORMATS[report.granularity],
            "period": Granularity(report.granularity).label,
        },
        status=400 if wants_csv and not valid else 200,
    )


@login_required
@require_safe
def team_usage(request: HttpRequest, team_slug: str) -> HttpResponse:
    team = membership_get(user=request.user, team_slug=team_slug).team
    return _usage_page(
        request,
        scope={"team_id": team.pk},
        name_parts=[team.slug],
        team=team,
        subject="team",
        apps=app_list(user=request.user).filter(team=team).order_by("name"),
    )


@login_required
@require_safe
def app_usage(request: HttpRequest, team_slug: str, app_slug: str) -> HttpResponse:
    app = app_get_for_user(user=request.user, team_slug=team_slug, app_slug=app_slug)
    return _usage_page(
        request,
        scope={"app_id": app.pk},
        name_parts=[app.team.slug, app.slug],
        team=app.team,
        app=app,
        subject="app",
        keys=api_key_list(app=app).order_by("name", "lookup_id"),
        recent_calls=recent_call_list(app=app)[:RECENT_ON_USAGE_PAGE],
    )


@login_required
@require_safe
def key_usage(
    request: HttpRequest, team_slug: str, app_slug: str, lookup_id: str
) -> HttpResponse:
    app = app_get_for_user(user=request.user, team_slug=team_slug, app_slug=app_slug)
    key = api_key_get(app=app, lookup_id=lookup_id)
    return _usage_page(
        request,
        scope={"key_id": key.pk},
        name_parts=[app.team.slug, app.slug, key.lookup_id],
        team=app.team,
        app=app,
        key=key,
        subject="key",
        recent_calls=recent_call_list(app=app, key_lookup_id=key.lookup_id)[
            :RECENT_ON_USAGE_PAGE
        ],
    )


# --- the recent-calls log ----------------------------------------------------


def _page_of(calls: QuerySet[RecentCall], number: int | None) -> tuple[Page, str]:
    """The page asked for, or the last one with a notice if it is past the end."""
    paginator = Paginator(calls, CALLS_PER_PAGE)
    if number is not None and number > paginator.num_pages:
        last = paginator.num_pages
        return paginator.page(last), f"There is no page {number}; showing page {last}."
    return paginator.page(number or 1), ""


@login_required
@require_safe
def app_calls(request: HttpRequest, team_slug: str, app_slug: str) -> HttpResponse:
    """The app's recent calls, searchable by status, request id and key."""
    app = app_get_for_user(user=request.user, team_slug=team_slug, app_slug=app_slug)
    keys = api_key_list(app=app).order_by("name", "lookup_id")
    form = CallSearchForm(
        request.GET,
        key_choices=[(k.lookup_id, f"{k.name} ({k.lookup_id})") for k in keys],
    )
    page_form = PageForm(request.GET)
    # Both validated (no short-circuit), so every bad value is reported.
    valid = [form.is_valid(), page_form.is_valid()]
    page, notice = None, ""
    if all(valid):
        calls = recent_call_list(
            app=app,
            status=form.cleaned_data["status"],
            request_id=form.cleaned_data["request_id"],
            key_lookup_id=form.cleaned_data["key"],
        )
        page, notice = _page_of(calls, page_form.cleaned_data["page"])
    return render(
        request,
        "portal/usage_calls.html",
        {
            "app": app,
            "team": app.team,
            "form": form,
            "page_errors": _query_errors(page_form),
            "page": page,
            "notice": notice,
            "kept": settings.USAGE_RECENT_CALLS,
            "filtered": any(form.cleaned_data.get(name) for name in form.fields),
        },
        status=200 if all(valid) else 400,
    )
