"""Portal pages for OAuth: client set-up, consent, authorized apps."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST
from oauth2_provider.oauth2_backends import _add_iss_to_redirect
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.views import AuthorizationView

from portal.audit.services import record
from portal.errors import GatehouseError
from portal.oauth import services
from portal.oauth.models import App
from portal.oauth.selectors import (
    app_get_for_user,
    authorized_app_get,
    authorized_app_list,
)
from portal.web.forms import OAuthClientForm, RedirectUrisForm, add_domain_error

GRANT_NAMES = {value: name for name, value in services.GRANTS.items()}


def _client_page(request, app, *, form=None, uris_form=None, secret=None):
    initial = {
        "grant": GRANT_NAMES.get(app.authorization_grant_type, "client-credentials"),
        "client_type": "public"
        if app.client_type == App.CLIENT_PUBLIC
        else "confidential",
        "redirect_uris": app.redirect_uris,
    }
    return render(
        request,
        "portal/oauth_client.html",
        {
            "app": app,
            "team": app.team,
            "form": form or OAuthClientForm(initial=initial),
            "uris_form": uris_form
            or RedirectUrisForm(initial={"redirect_uris": app.redirect_uris}),
            "grant_name": GRANT_NAMES.get(app.authorization_grant_type),
            "secret": secret,
        },
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def oauth_client(request: HttpRequest, team_slug: str, app_slug: str) -> HttpResponse:
    """Set the app up as an OAuth client; a new secret is shown once."""
    app = app_get_for_user(user=request.user, team_slug=team_slug, app_slug=app_slug)
    if request.method == "GET":
        return _client_page(request, app)
    form = OAuthClientForm(request.POST)
    if form.is_valid():
        try:
            secret = services.oauth_client_configure(
                app=app,
                grant=form.cleaned_data["grant"],
                public=form.cleaned_data["client_type"] == "public",
                redirect_uris=form.cleaned_data["redirect_uris"],
                actor=request.user,
                request=request,
            )
        except GatehouseError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "OAuth client saved.")
            return _client_page(request, app, secret=secret)
    return _client_page(request, app, form=form)


@never_cache
@login_required
@require_POST
def oauth_secret_rotate(
    request: HttpRequest, team_slug: str, app_slug: str
) -> HttpResponse:
    app = app_get_for_user(user=request.user, team_slug=team_slug, app_slug=app_slug)
    try:
        secret = services.oauth_client_secret_rotate(
            app=app, actor=request.user, request=request
        )
    except GatehouseError as error:
        messages.error(request, error.message)
        return redirect("portal:oauth-client", team_slug, app_slug)
    messages.success(request, "New client secret made; the old one no longer works.")
    return _client_page(request, app, secret=secret)


@login_required
@require_POST
def oauth_redirect_uris(
    request: HttpRequest, team_slug: str, app_slug: str
) -> HttpResponse:
    app = app_get_for_user(user=request.user, team_slug=team_slug, app_slug=app_slug)
    form = RedirectUrisForm(request.POST)
    if form.is_valid():
        try:
            services.oauth_client_set_redirect_uris(
                app=app,
                redirect_uris=form.cleaned_data["redirect_uris"],
                actor=request.user,
                request=request,
            )
        except GatehouseError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, "Redirect URIs saved.")
            return redirect("portal:oauth-client", team_slug, app_slug)
    return _client_page(request, app, uris_form=form)


class ConsentView(AuthorizationView):
    """django-oauth-toolkit's authorization endpoint with the portal's consent
    page, which also names the app's team and records the decision."""

    template_name = "portal/oauth_consent.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        application = context.get("application")
        if isinstance(application, App):
            context["team"] = application.team
            scopes = context.get("scopes") or []
            descriptions = context.get("scopes_descriptions") or []
            context["scope_items"] = list(zip(scopes, descriptions, strict=False))
        return context

    def error_response(self, error, application, **kwargs):
        # RFC 9207 §2: the `iss` parameter goes on error redirects too.
        response = super().error_response(error, application, **kwargs)
        location = response.get("Location") if response.status_code == 302 else None
        if location:
            issuer = oauth2_settings.oauth2_authorization_server_issuer(self.request)
            response["Location"] = _add_iss_to_redirect(location, issuer)
        return response

    def form_valid(self, form):
        response = super().form_valid(form)
        location = response.get("Location", "") if response.status_code == 302 else ""
        query = parse_qs(urlsplit(location).query)
        application = (
            App.objects.select_related("team")
            .filter(client_id=form.cleaned_data.get("client_id"))
            .first()
        )
        # Only a decision that reached the client is audited: a code issued,
        # or the user's explicit denial.
        decided = "code" in query or query.get("error") == ["access_denied"]
        if application is not None and decided:
            allowed = "code" in query
            record(
                action="oauth.consent" if allowed else "oauth.consent_denied",
                actor=self.request.user,
                team=application.team,
                target=application,
                request=self.request,
                data={"scopes": form.cleaned_data.get("scope", "").split()},
            )
        return response


@login_required
def authorized_apps(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "portal/authorized_apps.html",
        {"apps": authorized_app_list(user=request.user)},
    )


@login_required
@require_POST
def authorized_app_revoke(request: HttpRequest, app_id: int) -> HttpResponse:
    app = authorized_app_get(user=request.user, app_id=app_id)
    services.authorization_revoke(user=request.user, app=app, request=request)
    messages.success(request, f"{app.name} can no longer act for you.")
    return redirect("portal:authorized-apps")
