"""Portal pages: the API catalog's plans, and an app's subscriptions."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from portal.catalog import selectors, services
from portal.catalog.models import Plan
from portal.errors import GatehouseError
from portal.oauth.selectors import app_get_for_user, app_list


def api_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, "portal/api_list.html", {"apis": selectors.api_list_public()}
    )


def api_detail(request: HttpRequest, api_slug: str) -> HttpResponse:
    api = selectors.api_get_public(slug=api_slug)
    apps = app_list(user=request.user) if request.user.is_authenticated else []
    return render(
        request,
        "portal/api_detail.html",
        {
            "api": api,
            "plans": api.plans.filter(is_public=True).prefetch_related("scopes"),
            "apps": apps,
        },
    )


@login_required
@require_POST
def subscribe(request: HttpRequest, team_slug: str, app_slug: str) -> HttpResponse:
    app = app_get_for_user(user=request.user, team_slug=team_slug, app_slug=app_slug)
    raw = request.POST.get("plan", "")
    plan_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else 0
    plan = Plan.objects.select_related("api").filter(pk=plan_id, is_public=True).first()
    if plan is None:
        messages.error(request, "Choose one of the listed plans.")
        return redirect("portal:app-detail", team_slug, app_slug)
    try:
        sub = services.subscription_request(
            app=app, plan=plan, actor=request.user, request=request
        )
    except GatehouseError as error:
        messages.error(request, error.message)
    else:
        if sub.status == "pending" or sub.requested_plan_id:
            messages.info(
                request,
                f"{plan.name} needs approval; staff have been asked. You will get "
                "an email when they decide.",
            )
        else:
            messages.success(
                request, f"{app.name} is now on {plan.api.name} {plan.name}."
            )
    return redirect("portal:app-detail", team_slug, app_slug)


@login_required
@require_POST
def subscription_cancel(
    request: HttpRequest, team_slug: str, app_slug: str, subscription_id: int
) -> HttpResponse:
    app = app_get_for_user(user=request.user, team_slug=team_slug, app_slug=app_slug)
    sub = selectors.subscription_get_for_app(app=app, subscription_id=subscription_id)
    services.subscription_cancel(subscription=sub, actor=request.user, request=request)
    messages.success(request, f"Subscription to {sub.api.name} cancelled.")
    return redirect("portal:app-detail", team_slug, app_slug)
