"""Staff side of accounts: users, teams, memberships, second factors, and the
background tasks that carry account mail.

Suspending and reactivating go through ``portal.accounts.services`` (from an
action on the change list or a button on the change page), never through a
plain edit of ``is_active``: a suspension also revokes every credential, and
an edit would not. Nothing here displays a password hash, a TOTP key, a
recovery code or a task's arguments (a password-reset mail is one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import (
    AdminUserCreationForm,
    ReadOnlyPasswordHashField,
    ReadOnlyPasswordHashWidget,
    UserChangeForm,
)
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX, identify_hasher
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Exists, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.urls import path, reverse
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_tasks_db.admin import DBTaskResultAdmin
from django_tasks_db.models import DBTaskResult

from portal.accounts import services
from portal.accounts.models import Membership, Role, Team, User
from portal.audit.services import record
from portal.dashboard.confirmation import Confirmation, confirm_action, confirm_object
from portal.oauth.models import App

if TYPE_CHECKING:
    from django.http import HttpRequest


def _count_of(model, field: str):
    """Rows of ``model`` pointing at the outer row through ``field``: a
    subquery, so a change list counts without a join per row."""
    rows = (
        model.objects.filter(**{field: OuterRef("pk")})
        .order_by()
        .values(field)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows[:1], output_field=IntegerField()), 0)


def _suspension_detail(result: services.Suspension) -> str:
    parts = [
        f"{result.keys_revoked} API key(s) and {result.tokens_revoked} OAuth "
        "token(s) revoked"
    ]
    if result.sessions_ended:
        parts.append(f"{result.sessions_ended} session(s) ended")
    return "suspended; " + ", ".join(parts) + "."


REACTIVATION_NOTE = (
    "Credentials revoked by the suspension stay revoked: API keys and OAuth "
    "tokens are not restored. The team issues new ones."
)


class SuspendableAdmin(admin.ModelAdmin):
    """Suspend and reactivate actions, and the same as buttons on the change
    page (``<pk>/suspend/``, ``<pk>/reactivate/``)."""

    change_form_template = "admin/gatehouse/suspendable_change_form.html"
    suspension: Confirmation
    reactivation: Confirmation

    def suspend_one(self, obj, reason: str, request: HttpRequest) -> str | None:
        raise NotImplementedError

    def reactivate_one(self, obj, reason: str, request: HttpRequest) -> str | None:
        raise NotImplementedError

    @admin.action(
        description="Suspend (revokes every credential)…", permissions=["change"]
    )
    def suspend(self, request, queryset):
        return confirm_action(
            self,
            request,
            queryset,
            self.suspension,
            lambda obj, reason: self.suspend_one(obj, reason, request),
        )

    @admin.action(description="Reactivate…", permissions=["change"])
    def reactivate(self, request, queryset):
        return confirm_action(
            self,
            request,
            queryset,
            self.reactivation,
            lambda obj, reason: self.reactivate_one(obj, reason, request),
        )

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        view = self.admin_site.admin_view
        return [
            path(
                "<path:object_id>/suspend/",
                view(self.suspend_view),
                name="{}_{}_suspend".format(*info),
            ),
            path(
                "<path:object_id>/reactivate/",
                view(self.reactivate_view),
                name="{}_{}_reactivate".format(*info),
            ),
            *super().get_urls(),
        ]

    def may_suspend(self, request, obj) -> bool:
        return self.has_change_permission(request, obj)

    def render_change_form(self, request, context, add=False, change=False, **kw):
        obj = kw.get("obj")
        if obj is not None and self.may_suspend(request, obj):
            info = self.admin_site.name, self.opts.app_label, self.opts.model_name
            verb = "suspend" if obj.is_active else "reactivate"
            context[f"{verb}_url"] = reverse(
                "{}:{}_{}_".format(*info) + verb, args=[obj.pk]
            )
        return super().render_change_form(request, context, add, change, **kw)

    def _object_for_change(self, request, object_id):
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        return obj

    def suspend_view(self, request, object_id):
        obj = self._object_for_change(request, object_id)
        return confirm_object(
            self,
            request,
            obj,
            self.suspension,
            lambda obj, reason: self.suspend_one(obj, reason, request),
        )

    def reactivate_view(self, request, object_id):
        obj = self._object_for_change(request, object_id)
        return confirm_object(
            self,
            request,
            obj,
            self.reactivation,
            lambda obj, reason: self.reactivate_one(obj, reason, request),
        )


# --- users --------------------------------------------------------------------


class PasswordStatusWidget(ReadOnlyPasswordHashWidget):
    """Whether a password is set, and the algorithm: nothing of the hash.

    Django's own widget lists the first characters of the salt and the hash;
    this one keeps only its "Reset password" button.
    """

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        context["widget"]["value"] = None
        if value and not value.startswith(UNUSABLE_PASSWORD_PREFIX):
            try:
                algorithm = identify_hasher(value).algorithm
            except ValueError:
                algorithm = "an unknown algorithm"
            context["summary"] = [
                {"label": "Password set", "value": f"stored hashed ({algorithm})"}
            ]
        return context


class UserChangeAdminForm(UserChangeForm):
    password = ReadOnlyPasswordHashField(
        label="Password",
        widget=PasswordStatusWidget,
        help_text="Raw passwords are not stored, so no one can see a user's password.",
    )

    class Meta(UserChangeForm.Meta):
        model = User
        fields = "__all__"
        field_classes: dict = {}


class UserCreationAdminForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = User
        fields = ("email", "name")
        field_classes: dict = {}

    def clean_email(self) -> str:
        return User.objects.normalize_email(self.cleaned_data["email"].strip())


class UserMembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "user"
    fields = ["team", "role", "created_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    verbose_name_plural = "teams"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "team")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class EmailVerifiedFilter(admin.SimpleListFilter):
    title = "email verified"
    parameter_name = "verified"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(email_verified_at__isnull=self.value() == "no")
        return queryset


class TwoFactorFilter(admin.SimpleListFilter):
    title = "two-factor authentication"
    parameter_name = "2fa"

    def lookups(self, request, model_admin):
        return [("on", "On"), ("off", "Off")]

    def queryset(self, request, queryset):
        if self.value() in ("on", "off"):
            return queryset.filter(has_2fa=self.value() == "on")
        return queryset


STAFF_ROLE_FIELDS = ["is_staff", "is_superuser", "groups", "user_permissions"]


@admin.register(User)
class UserAdmin(SuspendableAdmin, DjangoUserAdmin):
    form = UserChangeAdminForm
    add_form = UserCreationAdminForm
    list_display = [
        "email",
        "name",
        "is_active",
        "is_staff",
        "is_superuser",
        "email_verified",
        "two_factor",
        "date_joined",
        "last_login",
    ]
    list_filter = [
        "is_active",
        "is_staff",
        "is_superuser",
        EmailVerifiedFilter,
        TwoFactorFilter,
    ]
    search_fields = ["email", "name"]
    ordering = ["-date_joined", "-pk"]
    date_hierarchy = "date_joined"
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["name", "email_verified_at"]}),
        (
            "Status",
            {
                "fields": ["is_active"],
                "description": "Suspend or reactivate with the buttons above or "
                "the actions of the user list: suspending also revokes the "
                "user's keys, tokens and sessions.",
            },
        ),
        ("Staff access", {"fields": STAFF_ROLE_FIELDS}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": [
                    "email",
                    "name",
                    "usable_password",
                    "password1",
                    "password2",
                ],
            },
        )
    ]
    filter_horizontal = ["groups", "user_permissions"]
    inlines = [UserMembershipInline]
    actions = ["suspend", "reactivate"]

    suspension = Confirmation(
        title="Suspend users",
        button="Suspend",
        done="suspended",
        consequences=[
            "They can no longer log in, and every session of theirs ends now.",
            "Every API key they created is revoked, with your reason.",
            "Every OAuth token issued to them is revoked.",
            "The next API call with any of these credentials is refused (401).",
        ],
        reason_required=True,
        reason_max_length=services.SUSPENSION_REASON_MAX_LENGTH,
        reason_help="Kept in the audit trail and on each revoked key.",
    )
    reactivation = Confirmation(
        title="Reactivate users",
        button="Reactivate",
        done="reactivated",
        consequences=["They can log in again.", REACTIVATION_NOTE],
        reason_max_length=services.SUSPENSION_REASON_MAX_LENGTH,
    )

    def get_queryset(self, request):
        confirmed = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
        return super().get_queryset(request).annotate(has_2fa=Exists(confirmed))

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def get_readonly_fields(self, request, obj=None):
        readonly = ["is_active", "last_login", "date_joined"]
        if not request.user.is_superuser:
            # Only a superuser hands out staff access or permissions: a staff
            # member allowed to edit users must not be able to promote anyone,
            # themselves included.
            readonly += STAFF_ROLE_FIELDS
        return readonly

    def may_suspend(self, request, obj) -> bool:
        return obj.pk != request.user.pk and super().may_suspend(request, obj)

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        # Accounts are suspended, not deleted: their audit trail, keys and
        # usage keep pointing at them.
        return False

    @admin.display(boolean=True, description="verified", ordering="email_verified_at")
    def email_verified(self, obj: User) -> bool:
        return obj.email_verified_at is not None

    @admin.display(boolean=True, description="2FA", ordering="has_2fa")
    def two_factor(self, obj: User) -> bool:
        return obj.has_2fa

    def suspend_one(self, obj, reason, request):
        result = services.user_suspend(
            user=obj, actor=request.user, reason=reason, request=request
        )
        return _suspension_detail(result)

    def reactivate_one(self, obj, reason, request):
        services.user_reactivate(
            user=obj, actor=request.user, reason=reason, request=request
        )
        return None

    def save_model(self, request, obj, form, change):
        if change:
            form.staff_roles_before = services.staff_roles(User.objects.get(pk=obj.pk))
        super().save_model(request, obj, form, change)
        if not change:
            record(
                action="user.create",
                actor=request.user,
                target=obj,
                request=request,
                data={"by_staff": True},
            )

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        before = getattr(form, "staff_roles_before", None)
        if before is not None:
            services.user_staff_roles_record(
                user=form.instance, before=before, actor=request.user, request=request
            )

    def user_change_password(self, request, id, form_url=""):
        with transaction.atomic():
            request.password_set_by_staff = True
            return super().user_change_password(request, id, form_url)

    def log_change(self, request, obj, message):
        entry = super().log_change(request, obj, message)
        if getattr(request, "password_set_by_staff", False):
            # Called by Django's password view once the new password is saved.
            record(
                action="user.password_change",
                actor=request.user,
                target=obj,
                request=request,
                data={"by_staff": True},
            )
        return entry


if admin.site.is_registered(Group):
    admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(DjangoGroupAdmin):
    """Django's group admin, where only a superuser changes what a group may
    do: a staff member allowed to edit groups must not be able to grant
    their own group more. Changes are recorded as ``group.permissions_changed``."""

    list_display = ["name", "member_count"]

    def get_queryset(self, request):
        members = _count_of(User.groups.through, "group")
        return super().get_queryset(request).annotate(member_count=members)

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj) -> int:
        return obj.member_count

    def get_readonly_fields(self, request, obj=None):
        return [] if request.user.is_superuser else ["permissions"]

    def save_model(self, request, obj, form, change):
        if change:
            form.permissions_before = _group_permissions(obj)
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        before = getattr(form, "permissions_before", [])
        after = _group_permissions(form.instance)
        if before != after:
            record(
                action="group.permissions_changed",
                actor=request.user,
                target=form.instance,
                request=request,
                data={"from": before, "to": after},
            )


def _group_permissions(group) -> list[str]:
    return sorted(
        f"{app_label}.{codename}"
        for app_label, codename in group.permissions.values_list(
            "content_type__app_label", "codename"
        )
    )


# --- teams and memberships ----------------------------------------------------


class TeamMembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "team"
    fields = ["user", "role", "created_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    verbose_name_plural = "members"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user", "team")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TeamAppInline(admin.TabularInline):
    model = App
    fields = ["name", "slug", "status", "oauth_enabled", "created_at"]
    readonly_fields = fields
    extra = 0
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("team")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Team)
class TeamAdmin(SuspendableAdmin):
    list_display = [
        "name",
        "slug",
        "is_personal",
        "is_active",
        "member_count",
        "app_count",
        "created_at",
    ]
    list_filter = ["is_active", "is_personal", "created_at"]
    search_fields = ["name", "slug", "memberships__user__email"]
    date_hierarchy = "created_at"
    fields = ["name", "slug", "is_personal", "is_active", "created_at"]
    readonly_fields = ["is_active", "created_at"]
    inlines = [TeamMembershipInline, TeamAppInline]
    actions = ["suspend", "reactivate"]

    suspension = Confirmation(
        title="Suspend teams",
        button="Suspend",
        done="suspended",
        consequences=[
            "Every API key of the team's apps is revoked, with your reason.",
            "Every OAuth token of the team's apps is revoked, and their "
            "unused authorization codes dropped.",
            "The next API call with any of these credentials is refused (401).",
            "Members keep their accounts (suspend a user for that).",
        ],
        reason_required=True,
        reason_max_length=services.SUSPENSION_REASON_MAX_LENGTH,
        reason_help="Kept in the audit trail and on each revoked key.",
    )
    reactivation = Confirmation(
        title="Reactivate teams",
        button="Reactivate",
        done="reactivated",
        consequences=[
            "The team's apps can be used again with new credentials.",
            REACTIVATION_NOTE,
        ],
        reason_max_length=services.SUSPENSION_REASON_MAX_LENGTH,
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                member_count=_count_of(Membership, "team"),
                app_count=_count_of(App, "team"),
            )
        )

    def has_delete_permission(self, request, obj=None):
        # Deleting a team would delete its apps, keys and usage links; a
        # suspension stops it without losing the record.
        return False

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj: Team) -> int:
        return obj.member_count

    @admin.display(description="apps", ordering="app_count")
    def app_count(self, obj: Team) -> int:
        return obj.app_count

    def suspend_one(self, obj, reason, request):
        result = services.team_suspend(
            team=obj, actor=request.user, reason=reason, request=request
        )
        return _suspension_detail(result)

    def reactivate_one(self, obj, reason, request):
        services.team_reactivate(
            team=obj, actor=request.user, reason=reason, request=request
        )
        return None


class MembershipAdminForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["user", "team", "role"]

    def clean_role(self) -> str:
        role = self.cleaned_data["role"]
        member = self.instance
        if member.pk and member.role == Role.OWNER and role != Role.OWNER:
            others = Membership.objects.filter(team=member.team_id, role=Role.OWNER)
            if not others.exclude(pk=member.pk).exists():
                raise ValidationError(
                    "A team must keep at least one owner. Make someone else an "
                    "owner first."
                )
        return role


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    form = MembershipAdminForm
    list_display = ["user", "team", "role", "created_at"]
    list_filter = ["role", "team__is_personal", "created_at"]
    search_fields = ["user__email", "user__name", "team__name", "team__slug"]
    list_select_related = ["user", "team"]
    autocomplete_fields = ["user", "team"]

    def get_readonly_fields(self, request, obj=None):
        # An existing membership only changes role; moving it to another user
        # or team would be a removal and an addition in disguise.
        return ["user", "team", "created_at"] if obj is not None else ["created_at"]

    def get_actions(self, request):
        actions = super().get_actions(request)
        # One at a time from the change page, where the last-owner rule is
        # checked for the membership at hand.
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.role == Role.OWNER:
            owners = Membership.objects.filter(team=obj.team_id, role=Role.OWNER)
            if not owners.exclude(pk=obj.pk).exists():
                return False  # a team never loses its last owner
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        old_role = form.initial.get("role") if change else None
        super().save_model(request, obj, form, change)
        if not change:
            record(
                action="team.member_add",
                actor=request.user,
                team=obj.team,
                target=obj.user,
                request=request,
                data={"role": obj.role, "by_staff": True},
            )
        elif old_role != obj.role:
            record(
                action="team.member_role_change",
                actor=request.user,
                team=obj.team,
                target=obj.user,
                request=request,
                data={"from": old_role, "to": obj.role, "by_staff": True},
            )

    def delete_model(self, request, obj):
        with transaction.atomic():
            super().delete_model(request, obj)
            record(
                action="team.member_remove",
                actor=request.user,
                team=obj.team,
                target=obj.user,
                request=request,
                data={"role": obj.role, "by_staff": True},
            )


# --- second factors (django-otp) ---------------------------------------------
# django-otp's own admin shows a TOTP device's key and QR code and lists
# recovery codes in an inline; these replace it. Adding happens only through
# the user's own enrolment; staff may remove a lost device, which is audited.

for _model in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


class DeviceAdmin(admin.ModelAdmin):
    list_select_related = ["user"]
    search_fields = ["user__email", "name"]
    list_filter = ["confirmed", "created_at", "last_used_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def _record_removal(self, request, device) -> None:
        record(
            action="user.2fa_disabled",
            actor=request.user,
            target=device.user,
            request=request,
            data={"device": self.opts.model_name, "by_staff": True},
        )

    def delete_model(self, request, obj):
        with transaction.atomic():
            self._record_removal(request, obj)
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for device in queryset.select_related("user"):
                self._record_removal(request, device)
            super().delete_queryset(request, queryset)


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(DeviceAdmin):
    list_display = ["user", "name", "confirmed", "created_at", "last_used_at"]
    fields = [
        "user",
        "name",
        "confirmed",
        "created_at",
        "last_used_at",
        "throttling_failure_count",
        "throttling_failure_timestamp",
    ]
    readonly_fields = fields


@admin.register(StaticDevice)
class RecoveryCodesAdmin(DeviceAdmin):
    list_display = [
        "user",
        "name",
        "codes_left",
        "confirmed",
        "created_at",
        "last_used_at",
    ]
    fields = ["user", "name", "confirmed", "codes_left", "created_at", "last_used_at"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(codes=Count("token_set"))

    @admin.display(description="codes left", ordering="codes")
    def codes_left(self, obj) -> int:
        return obj.codes


# --- background tasks (django-tasks-db) ---------------------------------------

if admin.site.is_registered(DBTaskResult):
    admin.site.unregister(DBTaskResult)


@admin.register(DBTaskResult)
class TaskResultAdmin(DBTaskResultAdmin):
    """django-tasks-db's read-only admin without the arguments and return
    value: a queued mail's body holds password-reset and verification links."""

    search_fields = ["task_path"]

    def get_readonly_fields(self, request, obj=None):
        hidden = {"args_kwargs", "return_value"}
        fields = super().get_readonly_fields(request, obj)
        return [f for f in fields if f not in hidden] + ["argument_names"]

    @admin.display(description="arguments")
    def argument_names(self, obj: DBTaskResult) -> str:
        call = obj.args_kwargs if isinstance(obj.args_kwargs, dict) else {}
        args = call.get("args") or []
        names = sorted(call.get("kwargs") or {})
        shown = [f"{len(args)} positional"] if args else []
        return ", ".join(shown + names) + " (values hidden)" if shown or names else "-"
