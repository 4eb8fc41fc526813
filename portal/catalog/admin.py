"""Staff side of the catalog: APIs, plans, and subscription decisions."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from portal.catalog import services
from portal.catalog.models import Api, Plan, Scope, Subscription, SubscriptionStatus
from portal.errors import GatehouseError


@admin.register(Api)
class ApiAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "version", "base_path", "status", "visibility"]
    list_filter = ["status", "visibility"]
    search_fields = ["name", "slug"]


@admin.register(Scope)
class ScopeAdmin(admin.ModelAdmin):
    list_display = ["name", "api", "description"]
    list_filter = ["api"]
    search_fields = ["name"]


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "api",
        "slug",
        "rate_tiers",
        "monthly_quota",
        "requires_approval",
        "is_public",
        "is_default",
    ]
    list_filter = ["api", "requires_approval", "is_public"]
    search_fields = ["name", "slug"]
    filter_horizontal = ["scopes"]


class DecisionForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Sent to the app's team owners. Required to reject.",
    )


class AwaitingDecision(admin.SimpleListFilter):
    title = "awaiting a decision"
    parameter_name = "awaiting"

    def lookups(self, request, model_admin):
        return [("yes", "Yes")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(status=SubscriptionStatus.PENDING) | queryset.filter(
                status=SubscriptionStatus.ACTIVE, requested_plan__isnull=False
            )
        return queryset


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    list_display = [
        "app",
        "api",
        "plan",
        "requested_plan",
        "status",
        "created_at",
        "decided_at",
    ]
    list_filter = [AwaitingDecision, "status", "api", "plan"]
    search_fields = ["app__slug", "app__name", "app__team__slug"]
    list_select_related = ["app__team", "api", "plan", "requested_plan"]
    readonly_fields = ["status", "decided_at", "reason", "created_at"]
    actions = ["approve", "reject"]

    def _decide(self, request, queryset, service, verb: str):
        if "apply" in request.POST:
            form = DecisionForm(request.POST)
            if form.is_valid():
                done = 0
                for sub in queryset.select_related("app__team"):
                    try:
                        service(
                            subscription=sub,
                            actor=request.user,
                            reason=form.cleaned_data["reason"],
                            request=request,
                        )
                        done += 1
                    except GatehouseError as error:
                        self.message_user(
                            request, f"{sub}: {error.message}", messages.ERROR
                        )
                self.message_user(request, f"{done} subscription(s) {verb}.")
                return None
        else:
            form = DecisionForm()
        return TemplateResponse(
            request,
            "admin/catalog/subscription_decide.html",
            {
                **self.admin_site.each_context(request),
                "title": f"{verb.capitalize()} subscriptions",
                "subscriptions": queryset,
                "form": form,
                "action": request.POST.get("action"),
                "verb": verb,
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Approve the selected subscriptions")
    def approve(self, request, queryset):
        return self._decide(
            request, queryset, services.subscription_approve, "approved"
        )

    @admin.action(description="Reject the selected subscriptions (with a reason)")
    def reject(self, request, queryset):
        return self._decide(request, queryset, services.subscription_reject, "rejected")
