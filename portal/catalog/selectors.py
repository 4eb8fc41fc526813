from __future__ import annotations

from django.db.models import QuerySet

from portal.catalog.models import Scope, Subscription, SubscriptionStatus


def subscription_active_list(*, app) -> QuerySet[Subscription]:
    return Subscription.objects.filter(
        app=app, status=SubscriptionStatus.ACTIVE
    ).select_related("plan", "api")


def scopes_granted(*, app) -> QuerySet[Scope]:
    """The scopes the app's active subscriptions grant."""
    return Scope.objects.filter(
        plans__subscriptions__app=app,
        plans__subscriptions__status=SubscriptionStatus.ACTIVE,
    ).distinct()
