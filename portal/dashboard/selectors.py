"""Reads behind the staff overview: platform-wide lists, each one query.

The page must stay fast on a big platform, so every list here is a single
query of a fixed size (joins chosen, flags annotated), whatever the number of
users, apps or events.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.accounts.models import User
from portal.catalog.models import Subscription, SubscriptionStatus
from portal.oauth.models import App

# A new subscription waiting for staff, or a live one asking to change plan.
AWAITING_DECISION = Q(status=SubscriptionStatus.PENDING) | Q(
    status=SubscriptionStatus.ACTIVE, requested_plan__isnull=False
)


def subscription_awaiting_list() -> QuerySet[Subscription]:
    """Subscriptions awaiting a staff decision, oldest first (the queue)."""
    return (
        Subscription.objects.filter(AWAITING_DECISION)
        .select_related("app__team", "api", "plan", "requested_plan")
        .order_by("created_at", "pk")
    )


def user_newest_list() -> QuerySet[User]:
    """Users, newest sign-up first, each with ``has_2fa`` (a confirmed TOTP
    device) annotated, so the list costs one query."""
    confirmed = TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)
    return User.objects.annotate(has_2fa=Exists(confirmed)).order_by(
        "-date_joined", "-pk"
    )


def app_map(ids: list[int]) -> dict[int, App]:
    """The apps with these ids (and their teams), by id; a deleted app is
    simply missing."""
    if not ids:
        return {}
    return {
        app.pk: app for app in App.objects.filter(pk__in=ids).select_related("team")
    }
