"""Staff side of API keys: find them, see how they are used, revoke them.

A key is never edited or created here (scopes, ranges and rate overrides go
through the services' checks in the portal) and its secret hash is never
shown: only the lookup id, which is safe to display.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.db.models import Q
from django.utils import timezone

from portal.dashboard.confirmation import Confirmation, confirm_action
from portal.errors import Conflict
from portal.keys.models import ApiKey, KeyStatus
from portal.keys.services import api_key_revoke


class KeyStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return KeyStatus.choices

    def queryset(self, request, queryset):
        now = timezone.now()
        expired = Q(expires_at__isnull=False, expires_at__lte=now)
        if self.value() == KeyStatus.REVOKED:
            return queryset.filter(revoked_at__isnull=False)
        if self.value() == KeyStatus.EXPIRED:
            return queryset.filter(expired, revoked_at__isnull=True)
        if self.value() == KeyStatus.ACTIVE:
            return queryset.filter(revoked_at__isnull=True).exclude(expired)
        return queryset


REVOKE_KEYS = Confirmation(
    title="Revoke API keys",
    button="Revoke",
    done="revoked",
    consequences=[
        "The next call with each key is refused (401) on every server within a second.",
        "A revoked key cannot be restored: the team issues a new one.",
    ],
    reason_max_length=ApiKey._meta.get_field("revoked_reason").max_length,
    reason_help="Shown to the team with the revoked key, and kept in the audit trail.",
)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "lookup_id",
        "app",
        "status",
        "environment",
        "created_by",
        "created_at",
        "expires_at",
        "revoked_at",
        "last_used_at",
    ]
    list_select_related = ["app__team", "created_by"]
    list_filter = [KeyStatusFilter, "environment", "created_at", "last_used_at"]
    search_fields = [
        "name",
        "=lookup_id",
        "app__name",
        "app__slug",
        "app__team__slug",
        "created_by__email",
    ]
    date_hierarchy = "created_at"
    fields = [
        "name",
        "prefix",
        "app",
        "status",
        "scopes",
        "allowed_ips",
        "rate_override",
        "created_by",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoked_reason",
        "replaces",
    ]
    readonly_fields = fields
    actions = ["revoke"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("app__team", "created_by")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # revoke: the row stays for the audit trail and usage

    def has_revoke_permission(self, request) -> bool:
        codename = get_permission_codename("change", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    @admin.action(description="Revoke the selected keys…", permissions=["revoke"])
    def revoke(self, request, queryset):
        def revoke_one(key: ApiKey, reason: str) -> None:
            if key.revoked_at is not None:
                raise Conflict("Already revoked.")
            api_key_revoke(key=key, reason=reason, actor=request.user, request=request)

        return confirm_action(self, request, queryset, REVOKE_KEYS, revoke_one)
