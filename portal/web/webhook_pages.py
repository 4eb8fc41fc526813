"""Portal pages for a team's webhook endpoints and event emails."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from portal.accounts.selectors import membership_get
from portal.errors import GatehouseError
from portal.web.forms import add_domain_error
from portal.webhooks import selectors, services
from portal.webhooks.forms import EmailPreferenceForm, EndpointEditForm, EndpointForm


def _manager(request, team_slug):
    membership = membership_get(user=request.user, team_slug=team_slug)
    if not membership.can_manage_members:
        raise Http404("Only the team's owners and admins manage its webhooks.")
    return membership


def _list_page(
    request,
    membership,
    *,
    form=None,
    email_form=None,
    secret=None,
    created=None,
    status=200,
):
    team = membership.team
    return render(
        request,
        "portal/webhooks.html",
        {
            "team": team,
            "membership": membership,
            "endpoints": selectors.endpoint_list(team=team),
            "form": form or EndpointForm(),
            "email_form": email_form
            or EmailPreferenceForm(
                initial={
                    "event_types": selectors.email_preference(membership=membership)
                }
            ),
            "secret": secret,
            "created": created,
        },
        status=status,
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def webhook_list(request: HttpRequest, team_slug: str) -> HttpResponse:
    """The team's endpoints; owners and admins register new ones here."""
    membership = membership_get(user=request.user, team_slug=team_slug)
    if request.method == "GET":
        return _list_page(request, membership)
    if not membership.can_manage_members:
        raise Http404("Only the team's owners and admins manage its webhooks.")
    form = EndpointForm(request.POST)
    if form.is_valid():
        try:
            endpoint, secret = services.endpoint_create(
                team=membership.team,
                url=form.cleaned_data["url"],
                event_types=form.cleaned_data["event_types"],
                description=form.cleaned_data["description"],
                actor=request.user,
                request=request,
            )
        except GatehouseError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Webhook endpoint registered.")
            return _list_page(request, membership, secret=secret, created=endpoint)
    return _list_page(request, membership, form=form, status=400)


@login_required
@require_POST
def webhook_email(request: HttpRequest, team_slug: str) -> HttpResponse:
    """The events this member wants by email (any member, for themselves)."""
    membership = membership_get(user=request.user, team_slug=team_slug)
    form = EmailPreferenceForm(request.POST)
    if not form.is_valid():
        return _list_page(request, membership, email_form=form, status=400)
    chosen = services.email_preference_set(
        membership=membership, event_types=form.cleaned_data["event_types"]
    )
    messages.success(
        request,
        f"You will be emailed about {len(chosen)} event type(s)."
        if chosen
        else "You will not be emailed about events.",
    )
    return redirect("portal:webhook-list", team_slug)


def _detail_page(request, membership, endpoint, *, form=None, secret=None, status=200):
    return render(
        request,
        "portal/webhook_detail.html",
        {
            "team": membership.team,
            "membership": membership,
            "endpoint": endpoint,
            "form": form
            or EndpointEditForm(
                initial={
                    "url": endpoint.url,
                    "description": endpoint.description,
                    "event_types": endpoint.event_types,
                    "is_active": endpoint.is_active,
                }
            ),
            "deliveries": selectors.delivery_log(endpoint=endpoint),
            "secret": secret,
        },
        status=status,
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def webhook_detail(request: HttpRequest, team_slug: str, endpoint_id: int):
    membership = membership_get(user=request.user, team_slug=team_slug)
    endpoint = selectors.endpoint_get(team=membership.team, endpoint_id=endpoint_id)
    if request.method == "GET":
        return _detail_page(request, membership, endpoint)
    if not membership.can_manage_members:
        raise Http404("Only the team's owners and admins manage its webhooks.")
    form = EndpointEditForm(request.POST)
    if form.is_valid():
        try:
            services.endpoint_update(
                endpoint=endpoint,
                url=form.cleaned_data["url"],
                description=form.cleaned_data["description"],
                event_types=form.cleaned_data["event_types"],
                is_active=form.cleaned_data["is_active"],
                actor=request.user,
                request=request,
            )
        except GatehouseError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Webhook endpoint saved.")
            return redirect("portal:webhook-detail", team_slug, endpoint.pk)
    endpoint.refresh_from_db()
    return _detail_page(request, membership, endpoint, form=form, status=400)


@never_cache
@login_required
@require_POST
def webhook_rotate_secret(request: HttpRequest, team_slug: str, endpoint_id: int):
    membership = _manager(request, team_slug)
    endpoint = selectors.endpoint_get(team=membership.team, endpoint_id=endpoint_id)
    secret = services.endpoint_rotate_secret(
        endpoint=endpoint, actor=request.user, request=request
    )
    messages.success(request, "New signing secret made; the old one is no longer used.")
    return _detail_page(request, membership, endpoint, secret=secret)


@login_required
@require_POST
def webhook_test(request: HttpRequest, team_slug: str, endpoint_id: int):
    membership = _manager(request, team_slug)
    endpoint = selectors.endpoint_get(team=membership.team, endpoint_id=endpoint_id)
    services.send_test_event(endpoint=endpoint, actor=request.user, request=request)
    messages.success(request, "Test event queued; its delivery appears below.")
    return redirect("portal:webhook-detail", team_slug, endpoint.pk)


@login_required
@require_POST
def webhook_delete(request: HttpRequest, team_slug: str, endpoint_id: int):
    membership = _manager(request, team_slug)
    endpoint = selectors.endpoint_get(team=membership.team, endpoint_id=endpoint_id)
    services.endpoint_delete(endpoint=endpoint, actor=request.user, request=request)
    messages.success(request, "Webhook endpoint deleted.")
    return redirect("portal:webhook-list", team_slug)


@login_required
@require_POST
def webhook_redeliver(
    request: HttpRequest, team_slug: str, endpoint_id: int, delivery_id: int
):
    membership = _manager(request, team_slug)
    endpoint = selectors.endpoint_get(team=membership.team, endpoint_id=endpoint_id)
    delivery = selectors.delivery_get(endpoint=endpoint, delivery_id=delivery_id)
    services.redeliver(delivery=delivery, actor=request.user, request=request)
    messages.success(request, "Redelivery queued.")
    return redirect("portal:webhook-detail", team_slug, endpoint.pk)
