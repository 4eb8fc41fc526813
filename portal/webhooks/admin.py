"""Staff side of webhooks: endpoints (never their signing secret), events,
deliveries and their attempts, and members' email choices."""

from __future__ import annotations

from django.contrib import admin

from portal.webhooks.models import Attempt, Delivery, EmailPreference, Endpoint, Event


class LookOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ["url", "team", "is_active", "failing_since", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["url", "team__slug", "team__name"]
    list_select_related = ["team"]
    # The sealed secret is not a field of any form or page here.
    fields = [
        "team",
        "url",
        "description",
        "event_types",
        "is_active",
        "disabled_reason",
        "failing_since",
        "created_at",
        "created_by",
    ]
    readonly_fields = [
        "team",
        "url",
        "event_types",
        "failing_since",
        "created_at",
        "created_by",
    ]

    def has_add_permission(self, request):
        return False  # teams register endpoints (and get the secret) themselves


@admin.register(Event)
class EventAdmin(LookOnly):
    list_display = ["id", "type", "team", "created_at"]
    list_filter = ["type"]
    search_fields = ["id", "team__slug"]
    list_select_related = ["team"]
    date_hierarchy = "created_at"


class AttemptInline(admin.TabularInline):
    model = Attempt
    extra = 0
    fields = ["number", "at", "status_code", "latency_ms", "error", "response_excerpt"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(LookOnly):
    list_display = ["event", "endpoint", "status", "attempts", "next_attempt_at"]
    list_filter = ["status"]
    search_fields = ["event__id", "endpoint__url", "endpoint__team__slug"]
    list_select_related = ["event", "endpoint"]
    inlines = [AttemptInline]


@admin.register(Attempt)
class AttemptAdmin(LookOnly):
    list_display = ["delivery", "number", "at", "status_code", "latency_ms", "error"]
    list_filter = ["status_code"]
    list_select_related = ["delivery__event", "delivery__endpoint"]
    search_fields = ["delivery__event__id", "delivery__endpoint__url"]


@admin.register(EmailPreference)
class EmailPreferenceAdmin(LookOnly):
    list_display = ["membership", "event_types"]
    list_select_related = ["membership__user", "membership__team"]
    search_fields = ["membership__user__email", "membership__team__slug"]
