"""Staff side of usage: the roll-ups, recent calls and flushed batches, for
looking only. They are written by the flusher alone; nobody adds, edits or
deletes a row here (retention prunes them)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import CharField, OuterRef, Subquery, Value
from django.db.models.functions import Concat
from django.urls import reverse
from django.utils.html import format_html

from portal.oauth.models import App
from portal.usage.models import (
    AppUsageRollup,
    FlushedBatch,
    RecentCall,
    UsageRollup,
)


def _app_label():
    """``team/app`` of the row's ``app_id`` (a plain integer, no foreign key:
    usage outlives a deleted app), read in the change list's one query."""
    app = App.objects.filter(pk=OuterRef("app_id"))
    return Subquery(
        app.annotate(
            label=Concat("team__slug", Value("/"), "slug", output_field=CharField())
        ).values("label")[:1]
    )


class ReadOnlyAdmin(admin.ModelAdmin):
    show_full_result_count = False  # these tables are large: no second COUNT

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if any(f.name == "app_id" for f in self.model._meta.fields):
            queryset = queryset.annotate(app_label=_app_label())
        return queryset

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="app", ordering="app_id")
    def app(self, obj):
        if not obj.app_id:
            return "-"
        label = getattr(obj, "app_label", None)
        if label is None:
            return f"deleted app #{obj.app_id}"
        url = reverse("admin:oauth_app_change", args=[obj.app_id])
        return format_html('<a href="{}">{}</a>', url, label)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields] + ["app"]


class RollupAdmin(ReadOnlyAdmin):
    list_filter = ["granularity", "status"]
    date_hierarchy = "start"
    ordering = ["-start", "-id"]

    @admin.display(description="avg latency (ms)")
    def average_latency(self, obj) -> str:
        return f"{obj.latency_ms_sum / obj.calls:.1f}" if obj.calls else "-"


@admin.register(UsageRollup)
class UsageRollupAdmin(RollupAdmin):
    list_display = [
        "start",
        "granularity",
        "app",
        "key_id",
        "api",
        "method",
        "route",
        "status",
        "calls",
        "average_latency",
    ]
    list_filter = ["granularity", "api", "method", "status"]
    search_fields = ["route", "api"]


@admin.register(AppUsageRollup)
class AppUsageRollupAdmin(RollupAdmin):
    list_display = [
        "start",
        "granularity",
        "app",
        "status",
        "calls",
        "average_latency",
    ]


@admin.register(RecentCall)
class RecentCallAdmin(ReadOnlyAdmin):
    list_display = [
        "at",
        "app",
        "request_id",
        "method",
        "api",
        "route",
        "status",
        "latency_ms",
        "credential",
        "key_lookup_id",
        "client_ip",
    ]
    list_filter = ["credential", "method", "status", "api"]
    search_fields = ["=request_id", "=key_lookup_id", "route"]
    date_hierarchy = "at"
    ordering = ["-at", "-id"]


@admin.register(FlushedBatch)
class FlushedBatchAdmin(ReadOnlyAdmin):
    list_display = ["batch_id", "flushed_at", "calls"]
    search_fields = ["=batch_id"]
    date_hierarchy = "flushed_at"
    ordering = ["-flushed_at"]
