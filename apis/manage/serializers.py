"""The management API's serializers.

Output serializers are explicit allow-lists: a key's hash and an OAuth
client's secret are never among their fields. A new key or client secret is
added to the one response that creates it (``KeyIssuedOutput``,
``OAuthClientSecretOutput``) from the serializer's context. Input serializers
are strict: an unknown field, such as ``team`` or ``status`` in a PATCH, is a
400 naming it.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apis.manage.selectors import plan_get_public
from apis.pagination import PAGE_NUMBER_MAX
from apis.serializers import StrictInputSerializer, StrictQuerySerializer
from portal.accounts.models import Membership, Role, Team
from portal.catalog.models import Api, Plan, Subscription, SubscriptionStatus
from portal.keys import conf as key_conf
from portal.keys.models import ApiKey
from portal.oauth.models import App
from portal.oauth.redirects import MAX_REDIRECT_URIS
from portal.oauth.services import (
    APP_DESCRIPTION_MAX_LENGTH,
    APP_NAME_MAX_LENGTH,
    GRANTS,
)
from portal.web.forms import SLUG_RE

# Largest id a client may send: anything above is not an id of ours (and
# would overflow a 64-bit column).
MAX_ID = 2**63 - 1
GRANT_NAMES = {value: name for name, value in GRANTS.items()}
CLIENT_TYPES = ("confidential", "public")
MAX_ROTATION_GRACE_SECONDS = int(key_conf.MAX_ROTATION_GRACE.total_seconds())
DEFAULT_ROTATION_GRACE_SECONDS = 86_400  # the portal's default: one day


def _id_field(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class NoInput(StrictInputSerializer):
    """The body of an action that takes no fields: any field is refused."""


class PageQuery(StrictQuerySerializer):
    """The query string of a list: ``?page=N&page_size=M`` and nothing else."""

    page = serializers.IntegerField(
        min_value=1,
        max_value=PAGE_NUMBER_MAX,
        required=False,
        help_text="The page, from 1.",
    )
    page_size = serializers.IntegerField(
        min_value=1,
        max_value=PAGE_NUMBER_MAX,
        required=False,
        help_text="Items per page: 20 unless given, at most 100.",
    )


# --- teams -------------------------------------------------------------------


class TeamRefOutput(serializers.ModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "slug", "name"]


class TeamOutput(serializers.ModelSerializer):
    role = serializers.ChoiceField(
        source="caller_role",
        choices=Role.choices,
        allow_null=True,
        read_only=True,
        help_text="Your role in the team; null for an OAuth token, which acts "
        "for its app's team.",
    )

    class Meta:
        model = Team
        fields = [
            "id",
            "slug",
            "name",
            "is_personal",
            "is_active",
            "created_at",
            "role",
        ]


class MemberOutput(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email", read_only=True)
    name = serializers.CharField(source="user.name", read_only=True)
    joined_at = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "email", "name", "role", "joined_at"]


class TeamDetailOutput(TeamOutput):
    members = MemberOutput(many=True, read_only=True, source="member_list")

    class Meta(TeamOutput.Meta):
        fields = [*TeamOutput.Meta.fields, "members"]


# --- apps --------------------------------------------------------------------


class AppOutput(serializers.ModelSerializer):
    team = TeamRefOutput(read_only=True)
    updated_at = serializers.DateTimeField(source="updated", read_only=True)

    class Meta:
        model = App
        fields = [
            "id",
            "slug",
            "name",
            "description",
            "status",
            "team",
            "oauth_enabled",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class AppQuery(PageQuery):
    team = _id_field(required=False, help_text="Only the apps of this team.")


class AppCreateInput(StrictInputSerializer):
    team = _id_field(
        required=False,
        help_text="The team that will own the app: one of yours. May be left "
        "out when you act for one team only (always, with a token).",
    )
    name = serializers.CharField(max_length=APP_NAME_MAX_LENGTH)
    slug = serializers.RegexField(
        rf"^{SLUG_RE}\Z",
        max_length=60,
        required=False,
        allow_blank=True,
        help_text="Lower-case letters, digits and single hyphens; made from "
        "the name if left out. Fixed once the app exists.",
        error_messages={
            "invalid": "Use lower-case letters, digits and single hyphens only."
        },
    )
    description = serializers.CharField(
        max_length=APP_DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True
    )


class AppUpdateInput(StrictInputSerializer):
    name = serializers.CharField(max_length=APP_NAME_MAX_LENGTH, required=False)
    description = serializers.CharField(
        max_length=APP_DESCRIPTION_MAX_LENGTH, required=False, allow_blank=True
    )


# --- API keys ----------------------------------------------------------------


def _scopes_field(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=80), max_length=100, **kwargs
    )


def _ips_field(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=64),
        max_length=key_conf.MAX_ALLOWED_IP_RANGES * 2,
        **kwargs,
    )


class KeyOutput(serializers.ModelSerializer):
    """A key as it may be shown again and again: never its hash or secret."""

    prefix = serializers.CharField(
        read_only=True, help_text="The part of the key that is safe to display."
    )
    status = serializers.ChoiceField(
        choices=["active", "expired", "revoked"], read_only=True
    )
    scopes = serializers.ListField(child=serializers.CharField(), read_only=True)
    allowed_ips = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="CIDR ranges the key is accepted from; empty: any address.",
    )
    rate_override = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="The key's own rate tiers (set by staff), replacing the plan's.",
    )
    replaces = serializers.SlugRelatedField(
        slug_field="lookup_id",
        read_only=True,
        allow_null=True,
        help_text="The lookup id of the key this one replaced in a rotation.",
    )

    class Meta:
        model = ApiKey
        fields = [
            "lookup_id",
            "prefix",
            "name",
            "status",
            "scopes",
            "expires_at",
            "allowed_ips",
            "rate_override",
            "created_at",
            "last_used_at",
            "revoked_at",
            "revoked_reason",
            "replaces",
        ]
        read_only_fields = fields


class KeyIssuedOutput(KeyOutput):
    """A key just issued (or rotated in), with its full value: this response
    is the only place it ever appears."""

    key = serializers.SerializerMethodField(
        help_text="The full API key. Shown in this response only: store it now."
    )

    class Meta(KeyOutput.Meta):
        fields = [*KeyOutput.Meta.fields, "key"]
        read_only_fields = fields

    def get_key(self, obj: ApiKey) -> str:
        return self.context["full_key"]


class KeyCreateInput(StrictInputSerializer):
    name = serializers.CharField(max_length=key_conf.MAX_NAME_LENGTH)
    scopes = _scopes_field(
        required=False,
        help_text="Within what the app's active subscriptions grant. Left out: "
        "all of them; an empty list: none.",
    )
    expires_at = serializers.DateTimeField(
        required=False, allow_null=True, help_text="In the future; null: never."
    )
    allowed_ips = _ips_field(
        required=False,
        help_text="IPv4/IPv6 addresses or CIDR ranges; empty: any address.",
    )


class KeyUpdateInput(StrictInputSerializer):
    """Each field given is changed by its own rule; all of them or none."""

    name = serializers.CharField(max_length=key_conf.MAX_NAME_LENGTH, required=False)
    scopes = _scopes_field(required=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    allowed_ips = _ips_field(required=False)


class KeyRevokeInput(StrictInputSerializer):
    reason = serializers.CharField(
        max_length=200, required=False, allow_blank=True, default=""
    )


class KeyRotateInput(StrictInputSerializer):
    grace_seconds = serializers.IntegerField(
        min_value=0,
        max_value=MAX_ROTATION_GRACE_SECONDS,
        default=DEFAULT_ROTATION_GRACE_SECONDS,
        help_text="How long the old key keeps working (0 to 7 days; default "
        "one day). 0 revokes it now.",
    )


# --- OAuth client ------------------------------------------------------------


def _redirect_uris_field(**kwargs) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.CharField(max_length=2000),
        max_length=MAX_REDIRECT_URIS * 2,
        help_text="https URIs (http only on 127.0.0.1, [::1] or localhost), "
        "matched exactly.",
        **kwargs,
    )


class OAuthClientOutput(serializers.ModelSerializer):
    """An app's OAuth client settings: never its secret."""

    app_id = serializers.IntegerField(source="pk", read_only=True)
    configured = serializers.BooleanField(
        source="oauth_enabled",
        read_only=True,
        help_text="False until the client is configured: no grant is accepted.",
    )
    grant = serializers.SerializerMethodField()
    client_type = serializers.SerializerMethodField()
    redirect_uris = serializers.SerializerMethodField()

    class Meta:
        model = App
        fields = [
            "app_id",
            "client_id",
            "configured",
            "grant",
            "client_type",
            "redirect_uris",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=list(GRANTS), allow_null=True))
    def get_grant(self, app: App) -> str | None:
        if not app.oauth_enabled:
            return None
        return GRANT_NAMES.get(app.authorization_grant_type)

    @extend_schema_field(serializers.ChoiceField(choices=CLIENT_TYPES))
    def get_client_type(self, app: App) -> str:
        return "public" if app.client_type == App.CLIENT_PUBLIC else "confidential"

    def get_redirect_uris(self, app: App) -> list[str]:
        return app.redirect_uris.split()


class OAuthClientSecretOutput(OAuthClientOutput):
    """The client's settings with the secret just made: shown in this
    response only."""

    client_secret = serializers.SerializerMethodField(
        help_text="The new client secret (null for a public client). Shown in "
        "this response only: store it now."
    )

    class Meta(OAuthClientOutput.Meta):
        fields = [*OAuthClientOutput.Meta.fields, "client_secret"]
        read_only_fields = fields

    def get_client_secret(self, app: App) -> str | None:
        return self.context["client_secret"]


class OAuthClientConfigureInput(StrictInputSerializer):
    grant = serializers.ChoiceField(choices=list(GRANTS))
    client_type = serializers.ChoiceField(
        choices=CLIENT_TYPES,
        default="confidential",
        help_text="confidential: a server that keeps a secret; public: a native, "
        "mobile or browser app (no secret).",
    )
    redirect_uris = _redirect_uris_field(required=False, default=list)


class OAuthRedirectUrisInput(StrictInputSerializer):
    whole_on_patch = True

    redirect_uris = _redirect_uris_field()


# --- subscriptions -----------------------------------------------------------


class ApiRefOutput(serializers.ModelSerializer):
    class Meta:
        model = Api
        fields = ["id", "slug", "name", "version"]


class PlanRefOutput(serializers.ModelSerializer):
    class Meta:
        model = Plan
        fields = ["id", "slug", "name", "requires_approval"]


class SubscriptionOutput(serializers.ModelSerializer):
    api = ApiRefOutput(read_only=True)
    plan = PlanRefOutput(read_only=True)
    requested_plan = PlanRefOutput(
        read_only=True,
        allow_null=True,
        help_text="A change of plan waiting for staff approval; the current "
        "plan stays in force until then.",
    )

    class Meta:
        model = Subscription
        fields = [
            "id",
            "status",
            "api",
            "plan",
            "requested_plan",
            "reason",
            "created_at",
            "decided_at",
        ]
        read_only_fields = fields


class SubscriptionQuery(PageQuery):
    status = serializers.ChoiceField(choices=SubscriptionStatus.values, required=False)


class SubscriptionPlanInput(StrictInputSerializer):
    """The plan to subscribe to, or to move to: the id of a public plan (of
    the subscription's API, when the context names it as ``api_id``).
    Validated into the ``Plan``."""

    whole_on_patch = True

    plan = _id_field(help_text="The id of a public plan.")

    def validate_plan(self, value: int) -> Plan:
        plan = plan_get_public(plan_id=value)
        if plan is None:
            raise serializers.ValidationError("No plan with this id is open.")
        api_id = self.context.get("api_id")
        if api_id is not None and plan.api_id != api_id:
            raise serializers.ValidationError(
                "Choose a plan of this subscription's API."
            )
        return plan
