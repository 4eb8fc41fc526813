"""Portal pages for apps and their API keys. Members of the app's team only."""

from __future__ import annotations

from datetime import UTC, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from portal.accounts.selectors import membership_get
from portal.catalog.selectors import (
    api_list_public,
    quota_usage,
    scopes_granted,
    subscription_live_list,
)
from portal.errors import GatehouseError
from portal.keys import services as key_services
from portal.keys.selectors import api_key_get, api_key_list
from portal.oauth.selectors import app_get_for_user
from portal.oauth.services import app_create as app_create_service
from portal.web.forms import (
    AppCreateForm,
    KeyCreateForm,
    KeyExpiryForm,
    KeyIpsForm,
    KeyRenameForm,
    KeyRevokeForm,
    KeyRotateForm,
    KeyScopesForm,
    add_domain_error,
)


def _scope_choices(app) -> list[tuple[str, str]]:
    return [
        (scope.name, f"{scope.name} — {scope.description}")
        for scope in scopes_granted(app=app).order_by("name")
    ]


@login_required
def app_create(request: HttpRequest, team_slug: str) -> HttpResponse:
    membership = membership_get(user=request.user, team_slug=team_slug)
    form = AppCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            app = app_create_service(
                actor_membership=membership,
                name=form.cleaned_data["name"],
                slug=form.cleaned_data["slug"],
                description=form.cleaned_data["description"],
                request=request,
            )
        except GatehouseError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"App “{app.name}” created.")
            return redirect("portal:app-detail", team_slug, app.slug)
    return render(
        request, "portal/app_create.html", {"form": form, "team": membership.team}
    )


def _app_page(request, app, *, key_form=None, status=200) -> HttpResponse:
    return render(
        request,
        "portal/app_detail.html",
        {
            "app": app,
            "team": app.team,
            "keys": api_key_list(app=app),
            "subscriptions": [
                (sub, quota_usage(subscription=sub))
                for sub in subscription_live_list(app=app)
            ],
            "apis": api_list_public(),
            "key_form": key_form or KeyCreateForm(scope_choices=_scope_choices(app)),
            "now": timezone.now(),
        },
        status=status,
    )


@login_required
def app_detail(request: HttpRequest, team_slug: str, app_slug: str) -> HttpResponse:
    app = app_get_for_user(user=request.user, team_slug=team_slug, app_slug=app_slug)
    return _app_page(request, app)


def _key_created(request, app, issued, *, rotated_from=None) -> HttpResponse:
    return render(
        request,
        "portal/key_created.html",
        {"app": app, "team": app.team, "issued": issued, "rotated_from": rotated_from},
    )


@never_cache
@login_required
@require_POST
def key_create(request: HttpRequest, team_slug: str, app_slug: str) -> HttpResponse:
    app = app_get_for_user(user=request.user, team_slug=team_slug, app_slug=app_slug)
    form = KeyCreateForm(request.POST, scope_choices=_scope_choices(app))
    if form.is_valid():
        days = form.cleaned_data["expires_in_days"]
        try:
            issued = key_services.api_key_issue(
                app=app,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=timezone.now() + timedelta(days=days) if days else None,
                allowed_ips=form.cleaned_data["allowed_ips"],
                actor=request.user,
                request=request,
            )
        except GatehouseError as error:
            add_domain_error(form, error)
        else:
            return _key_created(request, app, issued)
    return _app_page(request, app, key_form=form)


def _key_forms(key, app, data=None, which=None) -> dict:
    def bound(name):
        return data if which == name else None

    return {
        "rename_form": KeyRenameForm(bound("rename"), initial={"name": key.name}),
        "scopes_form": KeyScopesForm(
            bound("scopes"),
            scope_choices=_scope_choices(app),
            initial={"scopes": key.scopes},
        ),
        "expiry_form": KeyExpiryForm(
            bound("expiry"),
            initial={
                "expires_at": key.expires_at.strftime("%Y-%m-%dT%H:%M")
                if key.expires_at
                else ""
            },
        ),
        "ips_form": KeyIpsForm(
            bound("ips"), initial={"allowed_ips": "\n".join(key.allowed_ips)}
        ),
    }


@login_required
@require_http_methods(["GET", "POST"])
def key_detail(
    request: HttpRequest, team_slug: str, app_slug: str, lookup_id: str
) -> HttpResponse:
    """The key's settings; each POST carries ``action`` naming one form."""
    app = app_get_for_user(user=request.user, team_slug=team_slug, app_slug=app_slug)
    key = api_key_get(app=app, lookup_id=lookup_id)
    action = request.POST.get("action") if request.method == "POST" else None
    forms = _key_forms(key, app, request.POST, action)
    if action in ("rename", "scopes", "expiry", "ips"):
        form = forms[f"{action}_form"]
        if form.is_valid():
            try:
                _apply_key_change(request, key, action, form.cleaned_data)
            except GatehouseError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, "Key updated.")
                return redirect("portal:key-detail", team_slug, app_slug, lookup_id)
    elif action is not None:
        messages.error(request, "Unknown action.")
    return render(
        request,
        "portal/key_detail.html",
        {"app": app, "team": app.team, "key": key, **forms},
        status=200,
    )


def _apply_key_change(request, key, action: str, data: dict) -> None:
    common = {"key": key, "actor": request.user, "request": request}
    if action == "rename":
        key_services.api_key_rename(name=data["name"], **common)
    elif action == "scopes":
        key_services.api_key_set_scopes(scopes=data["scopes"], **common)
    elif action == "expiry":
        expires_at = data["expires_at"]
        if expires_at is not None and timezone.is_naive(expires_at):
            expires_at = timezone.make_aware(expires_at, UTC)
        key_services.api_key_set_expiry(expires_at=expires_at, **common)
    elif action == "ips":
        key_services.api_key_set_allowed_ips(allowed_ips=data["allowed_ips"], **common)


@login_required
@require_http_methods(["GET", "POST"])
def key_revoke(
    request: HttpRequest, team_slug: str, app_slug: str, lookup_id: str
) -> HttpResponse:
    app = app_get_for_user(user=request.user, team_slug=team_slug, app_slug=app_slug)
    key = api_key_get(app=app, lookup_id=lookup_id)
    form = KeyRevokeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        key_services.api_key_revoke(
            key=key,
            reason=form.cleaned_data["reason"],
            actor=request.user,
            request=request,
        )
        messages.success(request, f"Key {key.name} ({key.lookup_id}) revoked.")
        return redirect("portal:app-detail", team_slug, app_slug)
    return render(
        request,
        "portal/key_revoke.html",
        {"app": app, "team": app.team, "key": key, "form": form},
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def key_rotate(
    request: HttpRequest, team_slug: str, app_slug: str, lookup_id: str
) -> HttpResponse:
    app = app_get_for_user(user=request.user, team_slug=team_slug, app_slug=app_slug)
    key = api_key_get(app=app, lookup_id=lookup_id)
    form = KeyRotateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            issued = key_services.api_key_rotate(
                key=key,
                grace=timedelta(seconds=form.cleaned_data["grace"]),
                actor=request.user,
                request=request,
            )
        except GatehouseError as error:
            add_domain_error(form, error)
        else:
            return _key_created(request, app, issued, rotated_from=key)
    return render(
        request,
        "portal/key_rotate.html",
        {"app": app, "team": app.team, "key": key, "form": form},
    )
