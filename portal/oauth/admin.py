"""Staff side of OAuth: apps (the swapped Application), and the tokens,
codes and device grants django-oauth-toolkit issues.

These replace the toolkit's own admin classes. Staff look and revoke; they
never edit or create a credential, and no page shows a client secret (or its
hash), a token, a code or a checksum of one, not even in part.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_permission_codename
from django.db import transaction
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_device_grant_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from portal.audit.services import record
from portal.catalog.models import Subscription
from portal.dashboard.confirmation import Confirmation, confirm_action
from portal.errors import Conflict
from portal.keys.models import ApiKey
from portal.oauth import services
from portal.oauth.models import App, UsedAuthorizationCode

AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()
Grant = get_grant_model()
IDToken = get_id_token_model()
DeviceGrant = get_device_grant_model()

for _model in (App, AccessToken, RefreshToken, Grant, IDToken, DeviceGrant):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


class IssuedCredentialAdmin(admin.ModelAdmin):
    """Issued by the OAuth flows: never added or edited here, and never
    deleted either (revoking keeps the tombstones reuse detection needs)."""

    list_select_related = ["application__team", "user"]
    search_fields = [
        "application__name",
        "application__slug",
        "application__client_id",
        "application__team__slug",
        "user__email",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_revoke_permission(self, request) -> bool:
        codename = get_permission_codename("change", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    @admin.display(description="team", ordering="application__team__slug")
    def team(self, obj):
        app = obj.application
        return app.team.slug if app is not None else None


class LiveFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("expired", "Expired")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "live":
            return queryset.filter(expires__gt=now)
        if self.value() == "expired":
            return queryset.filter(expires__lte=now)
        return queryset


REVOKE_TOKENS = Confirmation(
    title="Revoke OAuth tokens",
    button="Revoke",
    done="revoked",
    consequences=[
        "Each access token is deleted: its next API call is refused (401) on "
        "every server within a second.",
        "Each refresh token is revoked together with its access token, so the "
        "client cannot mint a new one. The client must ask for consent (or "
        "client credentials) again.",
    ],
    reason_help="Kept in the audit trail.",
)


class TokenAdmin(IssuedCredentialAdmin):
    actions = ["revoke"]

    @admin.action(description="Revoke the selected tokens…", permissions=["revoke"])
    def revoke(self, request, queryset):
        def revoke_one(token, reason):
            if not services.oauth_token_revoke(
                token=token, actor=request.user, reason=reason, request=request
            ):
                raise Conflict("Already revoked.")

        return confirm_action(self, request, queryset, REVOKE_TOKENS, revoke_one)


@admin.register(AccessToken)
class AccessTokenAdmin(TokenAdmin):
    list_display = ["__str__", "application", "team", "user", "scope", "expires"]
    list_filter = [LiveFilter, "created"]
    date_hierarchy = "created"
    fields = [
        "application",
        "user",
        "scope",
        "expires",
        "created",
        "updated",
        "source_refresh_token",
        "id_token",
    ]
    readonly_fields = fields


class RevokedFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("live", "Live"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() in ("live", "revoked"):
            return queryset.filter(revoked__isnull=self.value() == "live")
        return queryset


@admin.register(RefreshToken)
class RefreshTokenAdmin(TokenAdmin):
    list_display = ["__str__", "application", "team", "user", "created", "revoked"]
    list_filter = [RevokedFilter, "created"]
    date_hierarchy = "created"
    fields = ["application", "user", "access_token", "created", "updated", "revoked"]
    readonly_fields = fields


@admin.register(Grant)
class GrantAdmin(IssuedCredentialAdmin):
    """Authorization codes waiting to be exchanged (for seconds)."""

    list_display = ["__str__", "application", "team", "user", "scope", "expires"]
    list_filter = [LiveFilter]
    fields = ["application", "user", "redirect_uri", "scope", "expires", "created"]
    readonly_fields = fields


@admin.register(IDToken)
class IDTokenAdmin(IssuedCredentialAdmin):
    list_display = ["jti", "application", "team", "user", "scope", "expires"]
    list_filter = [LiveFilter, "created"]
    fields = ["jti", "application", "user", "scope", "expires", "created"]
    readonly_fields = fields


@admin.register(DeviceGrant)
class DeviceGrantAdmin(admin.ModelAdmin):
    """Device authorization requests; the device and user codes are hidden."""

    list_display = ["pk", "client_id", "user", "status", "scope", "expires"]
    list_filter = ["status"]
    list_select_related = ["user"]
    search_fields = ["client_id", "user__email"]
    fields = ["client_id", "user", "status", "scope", "expires", "last_checked"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(UsedAuthorizationCode)
class UsedAuthorizationCodeAdmin(admin.ModelAdmin):
    """Codes already exchanged, kept to detect a replay; only when and for
    which app (the checksums stay hidden)."""

    list_display = ["pk", "application", "created_at"]
    list_select_related = ["application__team"]
    search_fields = ["application__slug", "application__team__slug"]
    list_filter = ["created_at"]
    fields = ["application", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- apps ---------------------------------------------------------------------


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    fk_name = "app"
    fields = ["name", "prefix", "status", "expires_at", "revoked_at", "last_used_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SubscriptionInline(admin.TabularInline):
    model = Subscription
    fields = ["api", "plan", "requested_plan", "status", "created_at", "decided_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("app__team", "api", "plan__api", "requested_plan__api")
        )

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(App)
class AppAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "team",
        "status",
        "oauth_enabled",
        "client_type",
        "authorization_grant_type",
        "created_at",
    ]
    list_select_related = ["team"]
    list_filter = [
        "status",
        "oauth_enabled",
        "client_type",
        "authorization_grant_type",
        "team__is_active",
    ]
    search_fields = ["name", "slug", "team__slug", "team__name", "client_id"]
    date_hierarchy = "created_at"
    fieldsets = [
        (None, {"fields": ["name", "description", "status"]}),
        ("Owner", {"fields": ["team", "slug", "user", "created_at"]}),
        (
            "OAuth client",
            {
                "fields": [
                    "oauth_enabled",
                    "client_id",
                    "client_type",
                    "authorization_grant_type",
                    "redirect_uris",
                    "post_logout_redirect_uris",
                    "allowed_origins",
                    "skip_authorization",
                    "algorithm",
                    "updated",
                ],
                "description": "The client secret is stored hashed and never "
                "shown; the team rotates it in the portal.",
            },
        ),
    ]
    # Only the name, description, status and consent skipping are staff's to
    # edit; redirect URIs and the client set-up go through the portal's
    # checks, in the team's hands.
    readonly_fields = [
        "team",
        "slug",
        "user",
        "created_at",
        "oauth_enabled",
        "client_id",
        "client_type",
        "authorization_grant_type",
        "redirect_uris",
        "post_logout_redirect_uris",
        "allowed_origins",
        "algorithm",
        "updated",
    ]
    inlines = [ApiKeyInline, SubscriptionInline]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("team", "user")

    def has_add_permission(self, request):
        return False  # apps are created by their team

    def has_delete_permission(self, request, obj=None):
        return False  # suspend the app (status) or its team instead

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if change and form.changed_data:
                data: dict = {"changed": sorted(form.changed_data), "by_staff": True}
                if "status" in form.changed_data:
                    data["status"] = {
                        "from": form.initial.get("status"),
                        "to": obj.status,
                    }
                record(
                    action="app.update",
                    actor=request.user,
                    team=obj.team,
                    target=obj,
                    request=request,
                    data=data,
                )
