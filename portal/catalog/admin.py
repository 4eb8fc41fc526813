"""Staff side of the catalog: APIs, plans, and subscription decisions."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from portal.audit.services import record
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
    list_select_related = ["api"]
    search_fields = ["name"]


# What a plan grants, as the audit trail records it (scopes by name). The
# description is long prose: only the fact that it changed is recorded.
PLAN_AUDITED_FIELDS = [
    "api",
    "name",
    "slug",
    "scopes",
    "rate_tiers",
    "monthly_quota",
    "requires_approval",
    "is_public",
    "is_default",
]


def _plan_terms(plan: Plan) -> dict:
    return {
        "api": plan.api.slug,
        "name": plan.name,
        "slug": plan.slug,
        "description": plan.description,
        "scopes": sorted(plan.scopes.values_list("name", flat=True)),
        "rate_tiers": list(plan.rate_tiers or []),
        "monthly_quota": plan.monthly_quota,
        "requires_approval": plan.requires_approval,
        "is_public": plan.is_public,
        "is_default": plan.is_default,
    }


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    """Plans and their limits. A saved change applies from the next request
    (``portal.keys.signals`` drops the cached credentials of every app on
    the plan) and is recorded as ``plan.created`` / ``plan.changed``."""

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
    list_select_related = ["api"]
    search_fields = ["name", "slug"]
    filter_horizontal = ["scopes"]
    readonly_fields = ["created_at"]

    def save_model(self, request, obj, form, change):
        # The changeform view runs in one transaction; the event is written
        # in save_related, once the scopes are saved too.
        if change:
            form.plan_terms_before = _plan_terms(Plan.objects.get(pk=obj.pk))
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        plan = form.instance
        after = _plan_terms(plan)
        before = getattr(form, "plan_terms_before", None)
        if before is None:
            action = "plan.created"
            data = {field: after[field] for field in PLAN_AUDITED_FIELDS}
        else:
            changed = {
                field: {"from": before[field], "to": after[field]}
                for field in PLAN_AUDITED_FIELDS
                if before[field] != after[field]
            }
            if before["description"] != after["description"]:
                changed["description"] = "changed"
            if not changed:
                return
            action, data = "plan.changed", {"changed": changed}
        record(
            action=action,
            actor=request.user,
            target=plan,
            request=request,
            data={"api": plan.api.slug, **data},
        )


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
    list_select_related = ["app__team", "api", "plan__api", "requested_plan__api"]
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
