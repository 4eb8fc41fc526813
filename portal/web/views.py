"""Developer portal pages: accounts, dashboard and teams.

Views stay thin: they check access through a selector, call a service and
render. Services raise ``GatehouseError``; its message goes onto the form.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import PasswordResetForm
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views import defaults
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from apis.problems import problem_response
from portal.accounts import selectors as account_selectors
from portal.accounts import services as account_services
from portal.accounts import twofactor
from portal.accounts.mail import email_schedule
from portal.accounts.models import User
from portal.accounts.tokens import email_verification_user
from portal.audit.services import record
from portal.errors import Forbidden, GatehouseError
from portal.oauth.selectors import app_list
from portal.web.forms import (
    LoginForm,
    MemberAddForm,
    MemberRoleForm,
    ResendVerificationForm,
    SignupForm,
    TeamCreateForm,
    add_domain_error,
)
from portal.web.throttling import attempt_throttle, too_many_attempts
from portal.web.twofactor_pages import pending_login_start

# --- home and dashboard ----------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("portal:dashboard")
    return render(request, "portal/home.html")


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "portal/dashboard.html",
        {
            "teams": account_selectors.team_list(user=request.user),
            "apps": app_list(user=request.user),
        },
    )


# --- sign-up, verification, login --------------------------------------------


@sensitive_post_parameters("password1", "password2")
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("portal:dashboard")
    form = SignupForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        wait = attempt_throttle(
            request, group="signup", account=request.POST.get("email", "")
        )
        if wait:
            return too_many_attempts(request, wait)
        if form.is_valid():
            try:
                account_services.user_signup(
                    email=form.cleaned_data["email"],
                    password=form.cleaned_data["password1"],
                    name=form.cleaned_data["name"],
                    request=request,
                )
            except GatehouseError as error:
                add_domain_error(form, error)
            else:
                return render(
                    request,
                    "portal/signup_done.html",
                    {"email": form.cleaned_data["email"]},
                )
    return render(request, "portal/signup.html", {"form": form})


def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    user = email_verification_user(token)
    if user is None:
        return render(
            request,
            "portal/verify_invalid.html",
            {"form": ResendVerificationForm()},
            status=400,
        )
    account_services.email_verify(user=user, request=request)
    messages.success(request, "Your email address is confirmed. You can log in now.")
    return redirect(
        "portal:login" if not request.user.is_authenticated else "portal:dashboard"
    )


@require_POST
def resend_verification(request: HttpRequest) -> HttpResponse:
    form = ResendVerificationForm(request.POST)
    wait = attempt_throttle(
        request, group="verify-resend", account=request.POST.get("email", "")
    )
    if wait:
        return too_many_attempts(request, wait)
    if not form.is_valid():
        return render(request, "portal/verify_invalid.html", {"form": form}, status=400)
    user = User.objects.filter(
        email__iexact=form.cleaned_data["email"],
        email_verified_at__isnull=True,
        is_active=True,
    ).first()
    if user is not None:
        account_services.email_verification_send(user=user, request=request)
    # The same answer either way: this form must not reveal who has an account.
    messages.info(
        request,
        "If that address has an unconfirmed account, a new link is on its way.",
    )
    return redirect("portal:login")


class LoginView(auth_views.LoginView):
    """Email and password, throttled per client IP and per submitted address.

    An unknown address, a wrong password and a suspended account get the one
    same answer, throttle included. Only the right password of an account
    whose address is unconfirmed is told so (with a new link offered): whoever
    knows the password learns nothing they could not learn by signing in.
    """

    form_class = LoginForm
    template_name = "portal/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        wait = attempt_throttle(
            request, group="login", account=request.POST.get("username", "")
        )
        if wait:
            return too_many_attempts(request, wait)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        user = form.get_user()
        if twofactor.twofactor_enabled(user=user):
            # The password alone does not log this user in: the code does.
            pending_login_start(self.request, user, self.get_redirect_url())
            return redirect("portal:twofactor-verify")
        return super().form_valid(form)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["resend_form"] = ResendVerificationForm()
        return context


class LogoutView(auth_views.LogoutView):
    pass


# --- passwords ------------------------------------------------------------


class QueuedPasswordResetForm(PasswordResetForm):
    """Django's reset form, delivering through our mail task."""

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        email_schedule(template="password_reset", to=to_email, context=context)
        record(
            action="user.password_reset_request",
            target=context["user"],
            request=getattr(self, "_request", None),
        )


class PasswordResetView(auth_views.PasswordResetView):
    form_class = QueuedPasswordResetForm
    template_name = "portal/password_reset.html"
    success_url = reverse_lazy("portal:password-reset-done")

    def post(self, request, *args, **kwargs):
        wait = attempt_throttle(
            request, group="password-reset", account=request.POST.get("email", "")
        )
        if wait:
            return too_many_attempts(request, wait)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        form._request = self.request
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "portal/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "portal/password_reset_confirm.html"
    success_url = reverse_lazy("portal:password-reset-complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        record(
            action="user.password_reset",
            actor=form.user,
            target=form.user,
            request=self.request,
        )
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "portal/password_reset_complete.html"


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "portal/password_change.html"
    success_url = reverse_lazy("portal:dashboard")

    def form_valid(self, form):
        response = super().form_valid(form)
        record(
            action="user.password_change",
            actor=self.request.user,
            target=self.request.user,
            request=self.request,
        )
        messages.success(self.request, "Your password has been changed.")
        return response


# --- teams ------------------------------------------------------------------


@login_required
def team_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "portal/team_list.html",
        {"teams": account_selectors.team_list(user=request.user)},
    )


@login_required
def team_create(request: HttpRequest) -> HttpResponse:
    form = TeamCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            team = account_services.team_create(
                actor=request.user,
                name=form.cleaned_data["name"],
                slug=form.cleaned_data["slug"],
                request=request,
            )
        except GatehouseError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"Team “{team.name}” created.")
            return redirect("portal:team-detail", team_slug=team.slug)
    return render(request, "portal/team_create.html", {"form": form})


def _team_page(request, membership, *, add_form=None, status=200) -> HttpResponse:
    team = membership.team
    return render(
        request,
        "portal/team_detail.html",
        {
            "team": team,
            "membership": membership,
            "members": account_selectors.team_members(team=team),
            "apps": team.apps.all(),
            "add_form": add_form or MemberAddForm(),
            "role_choices": MemberRoleForm.base_fields["role"].choices,
        },
        status=status,
    )


@login_required
def team_detail(request: HttpRequest, team_slug: str) -> HttpResponse:
    membership = account_selectors.membership_get(
        user=request.user, team_slug=team_slug
    )
    return _team_page(request, membership)


@login_required
@require_POST
def member_add(request: HttpRequest, team_slug: str) -> HttpResponse:
    membership = account_selectors.membership_get(
        user=request.user, team_slug=team_slug
    )
    if not membership.can_manage_members:
        raise PermissionDenied("Only owners and admins can add members.")
    form = MemberAddForm(request.POST)
    if form.is_valid():
        try:
            added = account_services.membership_add(
                actor_membership=membership,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                request=request,
            )
        except Forbidden as error:
            raise PermissionDenied(error.message) from error
        except GatehouseError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"{added.user.email} added as {added.role}.")
            return redirect("portal:team-detail", team_slug=team_slug)
    return _team_page(request, membership, add_form=form)


def _membership_action(request, team_slug, membership_id, action) -> HttpResponse:
    actor = account_selectors.membership_get(user=request.user, team_slug=team_slug)
    target = account_selectors.team_membership_get(
        team=actor.team, membership_id=membership_id
    )
    try:
        action(actor, target)
    except Forbidden as error:
        raise PermissionDenied(error.message) from error
    except GatehouseError as error:
        messages.error(request, error.message)
    return redirect("portal:team-detail", team_slug=team_slug)


@login_required
@require_POST
def member_role(
    request: HttpRequest, team_slug: str, membership_id: int
) -> HttpResponse:
    form = MemberRoleForm(request.POST)

    def change(actor, target):
        if not actor.can_manage_members:
            raise Forbidden("Only owners and admins can change roles.")
        if not form.is_valid():
            messages.error(request, "Choose a valid role.")
            return
        account_services.membership_change_role(
            actor_membership=actor,
            membership=target,
            role=form.cleaned_data["role"],
            request=request,
        )
        messages.success(request, f"{target.user.email} is now {target.role}.")

    return _membership_action(request, team_slug, membership_id, change)


@login_required
@require_POST
def member_remove(
    request: HttpRequest, team_slug: str, membership_id: int
) -> HttpResponse:
    def remove(actor, target):
        account_services.membership_remove(
            actor_membership=actor, membership=target, request=request
        )
        messages.success(request, f"{target.user.email} removed from the team.")

    return _membership_action(request, team_slug, membership_id, remove)


@login_required
@require_POST
def team_leave(request: HttpRequest, team_slug: str) -> HttpResponse:
    membership = account_selectors.membership_get(
        user=request.user, team_slug=team_slug
    )
    try:
        account_services.membership_remove(
            actor_membership=membership, membership=membership, request=request
        )
    except GatehouseError as error:
        messages.error(request, error.message)
        return redirect("portal:team-detail", team_slug=team_slug)
    messages.success(request, f"You left “{membership.team.name}”.")
    return redirect("portal:dashboard")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return render(
        request,
        "403.html",
        {
            "exception": "Your form expired or was sent from elsewhere. "
            "Reload the page and try again."
        },
        status=403,
    )


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 answer (``handler500``): problem+json under /api/, else a page.

    Neither says what failed: the exception, its traceback and the settings
    go to the log (``django.request``) only, whatever DEBUG is.
    """
    if request.path.startswith("/api/"):
        return problem_response(request, 500, "error", "A server error occurred.")
    # Django's own view renders 500.html without a request context, so the
    # page cannot fail again on whatever broke the request (a database
    # outage: no session, no user, no navigation queries).
    return defaults.server_error(request)
