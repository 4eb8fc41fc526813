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


def api_list_public():
    """Public APIs, each with only its public plans prefetched (as ``plans``)."""
    from django.db.models import Prefetch

    from portal.catalog.models import Api, Plan, Visibility

    return Api.objects.filter(visibility=Visibility.PUBLIC).prefetch_related(
        Prefetch(
            "plans",
            queryset=Plan.objects.filter(is_public=True).prefetch_related("scopes"),
        )
    )


def api_get_public(*, slug: str):
    from django.http import Http404

    api = api_list_public().filter(slug=slug).first()
    if api is None:
        raise Http404("No such API.")
    return api


def subscription_live_list(*, app) -> QuerySet[Subscription]:
    return Subscription.objects.filter(
        app=app, status__in=[SubscriptionStatus.PENDING, SubscriptionStatus.ACTIVE]
    ).select_related("plan", "api", "requested_plan")


def subscription_get_for_app(*, app, subscription_id: int) -> Subscription:
    from django.http import Http404

    sub = subscription_live_list(app=app).filter(pk=subscription_id).first()
    if sub is None:
        raise Http404("No such subscription.")
    return sub


def quota_usage(*, subscription: Subscription) -> dict | None:
    """This month's calls against the plan's quota (None: no quota)."""
    from datetime import UTC, datetime

    from django.core.cache import cache

    quota = subscription.plan.monthly_quota
    if not quota:
        return None
    month = datetime.now(UTC).strftime("%Y%m")
    used = int(cache.get(f"gk:quota:sub:{subscription.pk}:{month}") or 0)
    percent = min(100, used * 100 // quota)
    return {"used": used, "quota": quota, "percent": percent}
