"""Staff's view of the audit trail: read-only for everyone, superusers too.

No add, change or delete permission and no bulk actions, so the admin has
no way to alter an event (the model and, on PostgreSQL, a trigger refuse as
well). Staff with the ``audit.view_auditevent`` permission (superusers
have every permission) list, filter, search and open events, and download
the list they filtered as CSV.
"""

from __future__ import annotations

from datetime import UTC

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.urls import path

from portal.audit.exports import csv_response
from portal.audit.forms import DateRangeForm
from portal.audit.models import AuditEvent


class InputFilter(admin.ListFilter):
    """A sidebar filter with typed-in values (a small GET form) rather than
    a list of links: there are too many teams and actors to list."""

    template = "admin/audit/input_filter.html"
    # (parameter name, label, input type)
    inputs: list[tuple[str, str, str]] = []

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        for name, _label, _type in self.inputs:
            if name in params:
                value = params.pop(name)[-1].strip()
                if value:
                    self.used_parameters[name] = value
        self.errors = self.validate()
        for error in self.errors:
            messages.error(request, f"{self.title.capitalize()}: {error}")

    def validate(self) -> list[str]:
        """Messages about bad values; a filter with errors does not filter."""
        return []

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str]:
        return [name for name, _label, _type in self.inputs]

    def choices(self, changelist):
        own = set(self.expected_parameters())
        yield {
            "hidden": [(k, v) for k, v in changelist.params.items() if k not in own],
            "inputs": [
                {
                    "name": name,
                    "label": label,
                    "type": input_type,
                    "value": self.used_parameters.get(name, ""),
                    "id": f"filter-{name}",
                }
                for name, label, input_type in self.inputs
            ],
            "reset": changelist.get_query_string(remove=own)
            if self.used_parameters
            else "",
        }

    def queryset(self, request, queryset):
        if self.errors or not self.used_parameters:
            return queryset
        return self.narrow(queryset, self.used_parameters)

    def narrow(self, queryset, values: dict[str, str]):
        raise NotImplementedError


class TeamFilter(InputFilter):
    title = "team"
    inputs = [("team", "Team slug", "text")]

    def narrow(self, queryset, values):
        return queryset.filter(team_label=values["team"])


class ActorFilter(InputFilter):
    title = "actor"
    inputs = [("actor", "Email or app (part of it)", "text")]

    def narrow(self, queryset, values):
        return queryset.filter(actor_label__icontains=values["actor"])


class DateRangeFilter(InputFilter):
    title = "date range (UTC)"
    inputs = [("since", "From", "date"), ("until", "To (included)", "date")]

    def validate(self) -> list[str]:
        self.form = DateRangeForm(self.used_parameters)
        if self.form.is_valid():
            return []
        return [message for errors in self.form.errors.values() for message in errors]

    def narrow(self, queryset, values):
        from portal.audit.selectors import AuditFilters, filter_events

        return filter_events(
            queryset,
            AuditFilters(
                since=self.form.cleaned_data["since"],
                until=self.form.cleaned_data["until"],
            ),
        )


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["time_column", "action", "actor_column", "team_column"]
    list_display += ["target_column", "ip_column"]
    list_filter = ["action", TeamFilter, ActorFilter, DateRangeFilter]
    date_hierarchy = "created_at"
    search_fields = ["actor_label", "target_label", "=target_id", "team_label"]
    search_help_text = "Actor, target or team (part of the name or email)."
    ordering = ["-created_at", "-id"]
    list_per_page = 100
    # A COUNT(*) of the whole table on every filtered page is not worth it.
    show_full_result_count = False
    # Facet counts would run one aggregate per action over the whole table.
    show_facets = admin.ShowFacets.NEVER
    actions = None
    fields = [
        "created_at",
        "action",
        "actor",
        "actor_label",
        "team",
        "team_label",
        "target_type",
        "target_id",
        "target_label",
        "ip",
        "user_agent",
        "data",
    ]

    @admin.display(description="time (UTC)", ordering="created_at")
    def time_column(self, event: AuditEvent) -> str:
        return f"{event.created_at.astimezone(UTC):%Y-%m-%d %H:%M:%S}"

    @admin.display(description="actor", ordering="actor_label")
    def actor_column(self, event: AuditEvent) -> str:
        return event.actor_label or "—"

    @admin.display(description="team", ordering="team_label")
    def team_column(self, event: AuditEvent) -> str:
        return event.team_label or "—"

    @admin.display(description="target")
    def target_column(self, event: AuditEvent) -> str:
        if not event.target_type:
            return "—"
        return f"{event.target_label} ({event.target_type} {event.target_id})"

    @admin.display(description="IP", ordering="ip")
    def ip_column(self, event: AuditEvent) -> str:
        return event.ip or "—"

    # --- append-only: nobody adds, changes or deletes, whatever their perms

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_actions(self, request):
        return {}

    # --- CSV export of the filtered list -------------------------------------

    def get_urls(self):
        export = path(
            "export.csv",
            self.admin_site.admin_view(self.export_csv),
            name="audit_auditevent_export",
        )
        return [export, *super().get_urls()]

    def export_csv(self, request: HttpRequest) -> HttpResponse:
        """The changelist's current list (same filters, search, date and
        order, every page) as CSV. Bad filters send no file (400)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseBadRequest(
                "These filters are not valid.", content_type="text/plain"
            )
        if any(getattr(spec, "errors", None) for spec in changelist.filter_specs):
            return HttpResponseBadRequest(
                "These filters are not valid.", content_type="text/plain"
            )
        return csv_response(
            changelist.get_queryset(request), filename="audit-events.csv"
        )
