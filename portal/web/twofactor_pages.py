"""Portal pages for two-factor authentication, and the login's second step.

When a user with a second factor gives the right password, ``LoginView``
does not log them in: it notes a pending login in the session
(``pending_login_start``) and sends them to ``twofactor_verify``, where a
code completes the login. A staff member without a second factor is sent to
``twofactor_setup`` by the staff access rule; confirming the new app marks
their session verified.
"""

from __future__ import annotations

from urllib.parse import urlencode

import django_otp
from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_otp.plugins.otp_static.models import StaticDevice

from portal.accounts import twofactor
from portal.accounts.models import User
from portal.errors import Forbidden, GatehouseError
from portal.web.forms import (
    RecoveryCodesForm,
    TotpConfirmForm,
    TwoFactorDisableForm,
    TwoFactorVerifyForm,
    add_domain_error,
)
from portal.web.throttling import attempt_throttle, too_many_attempts

PENDING_LOGIN_KEY = "gatehouse_2fa_pending"
# Wrong codes one password entry may be followed by before the login has to
# start again from the password.
PENDING_LOGIN_MAX_FAILURES = 5


# --- the pending login ------------------------------------------------------


def pending_login_start(request: HttpRequest, user: User, next_url: str) -> None:
    """Remember that ``user`` gave the right password, for the verify step."""
    request.session[PENDING_LOGIN_KEY] = {
        "user": user.pk,
        "backend": user.backend,
        # A password change in between makes the pending login worthless.
        "auth_hash": user.get_session_auth_hash(),
        "at": int(timezone.now().timestamp()),
        "next": next_url,
        "failures": 0,
    }


def _pending_login(request: HttpRequest) -> tuple[User, dict] | None:
    state = request.session.get(PENDING_LOGIN_KEY)
    if not isinstance(state, dict):
        return None
    age = timezone.now().timestamp() - state.get("at", 0)
    user = User.objects.filter(pk=state.get("user"), is_active=True).first()
    if (
        age > settings.TWOFACTOR_LOGIN_TIMEOUT
        or user is None
        or not constant_time_compare(
            user.get_session_auth_hash(), state.get("auth_hash", "")
        )
    ):
        _pending_login_clear(request)
        return None
    user.backend = state["backend"]
    return user, state


def _pending_login_clear(request: HttpRequest) -> None:
    request.session.pop(PENDING_LOGIN_KEY, None)


def _safe_next(request: HttpRequest, *candidates: str | None) -> str:
    for url in candidates:
        if url and url_has_allowed_host_and_scheme(
            url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            return url
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _with_next(name: str, next_url: str) -> str:
    return f"{reverse(name)}?{urlencode({'next': next_url})}"


def _requested_next(request: HttpRequest) -> str | None:
    return request.POST.get("next") or request.GET.get("next")


# --- pages ------------------------------------------------------------------


@never_cache
@login_required
def twofactor_manage(request: HttpRequest) -> HttpResponse:
    """The account's two-factor settings: status, recovery codes, removal."""
    user = request.user
    return render(
        request,
        "portal/twofactor_manage.html",
        {
            "enabled": twofactor.twofactor_enabled(user=user),
            "device": twofactor.totp_device_get(user=user),
            "codes_left": twofactor.recovery_codes_left(user=user),
            "codes_form": RecoveryCodesForm(),
        },
    )


@never_cache
@login_required
@sensitive_post_parameters("code", "password")
@require_http_methods(["GET", "POST"])
def twofactor_setup(request: HttpRequest) -> HttpResponse:
    """Enrol an authenticator app: QR code and secret, then one code from it.

    Works for a staff member the access rule sent here with no second factor
    yet; confirming marks the session verified. Replacing an app already in
    use needs this session to be verified first.
    """
    user = request.user
    next_url = _safe_next(
        request, _requested_next(request), reverse("portal:twofactor")
    )
    enabled = twofactor.twofactor_enabled(user=user)
    if enabled and not user.is_verified():
        return redirect(_with_next("portal:twofactor-verify", request.get_full_path()))
    if request.method == "POST" and "restart" in request.POST:
        twofactor.totp_enrolment_restart(user=user)
        return redirect(_with_next("portal:twofactor-setup", next_url))

    form = TotpConfirmForm(request.POST if request.method == "POST" else None)
    status, retry_after = 200, None
    if request.method == "POST":
        wait = attempt_throttle(request, group="2fa-setup", account=f"user:{user.pk}")
        if wait:
            return too_many_attempts(request, wait)
        if form.is_valid():
            try:
                device, codes = twofactor.totp_enrolment_confirm(
                    user=user,
                    code=form.cleaned_data["code"],
                    password=form.cleaned_data["password"],
                    request=request,
                )
            except twofactor.TooManyAttempts as error:
                add_domain_error(form, error)
                status, retry_after = 429, error.retry_after
            except GatehouseError as error:
                add_domain_error(form, error)
            else:
                # A new level of trust: a new session key, like a login.
                request.session.cycle_key()
                django_otp.login(request, device)
                return render(
                    request,
                    "portal/twofactor_recovery_codes.html",
                    {"codes": codes, "next": next_url, "just_enabled": True},
                )
    device = twofactor.totp_enrolment_get_or_start(user=user)
    response = render(
        request,
        "portal/twofactor_setup.html",
        {
            "form": form,
            "provisioning": twofactor.totp_provisioning(device=device),
            "replacing": enabled,
            "next": next_url,
        },
        status=status,
    )
    return _with_retry_after(response, retry_after)


@never_cache
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def twofactor_verify(request: HttpRequest) -> HttpResponse:
    """The second step of a login, or a second factor for a running session.

    Anonymous: completes the login that ``LoginView`` left pending. Logged
    in without a verified second factor (a session from before the user
    turned 2FA on, sent here by the staff access rule): verifies this session.
    """
    pending = None
    if request.user.is_authenticated:
        user = request.user
        next_url = _safe_next(request, _requested_next(request))
        if user.is_verified():
            return redirect(next_url)
        if not twofactor.twofactor_enabled(user=user):
            return redirect(_with_next("portal:twofactor-setup", next_url))
    else:
        pending = _pending_login(request)
        if pending is None:
            messages.info(request, "Log in to continue.")
            return redirect("portal:login")
        user, state = pending
        next_url = _safe_next(request, state.get("next"))

    form = TwoFactorVerifyForm(request.POST if request.method == "POST" else None)
    status, retry_after = 200, None
    if request.method == "POST":
        wait = attempt_throttle(request, group="2fa-verify", account=f"user:{user.pk}")
        if wait:
            return too_many_attempts(request, wait)
        if form.is_valid():
            try:
                device = twofactor.twofactor_verify(
                    user=user,
                    code=form.cleaned_data["code"],
                    request=request,
                    purpose="login" if pending else "session",
                )
            except twofactor.TooManyAttempts as error:
                add_domain_error(form, error)
                status, retry_after = 429, error.retry_after
            except GatehouseError as error:
                add_domain_error(form, error)
                if pending and _count_failure(request, state):
                    messages.error(
                        request, "Too many wrong codes. Log in again to retry."
                    )
                    return redirect("portal:login")
            else:
                return _verified(request, user, device, next_url, pending=pending)
    response = render(
        request,
        "portal/twofactor_verify.html",
        {"form": form, "next": next_url, "pending": pending is not None},
        status=status,
    )
    return _with_retry_after(response, retry_after)


def _with_retry_after(response: HttpResponse, seconds: int | None) -> HttpResponse:
    # A code refused because django-otp throttles the device is a 429 like
    # the attempt throttle's page, and says when to try again the same way.
    if seconds:
        response["Retry-After"] = str(seconds)
    return response


def _count_failure(request: HttpRequest, state: dict) -> bool:
    """Count a wrong code against the pending login; True when it is dropped."""
    state["failures"] = state.get("failures", 0) + 1
    if state["failures"] >= PENDING_LOGIN_MAX_FAILURES:
        _pending_login_clear(request)
        return True
    request.session[PENDING_LOGIN_KEY] = state
    return False


def _verified(request, user, device, next_url, *, pending) -> HttpResponse:
    if pending:
        _pending_login_clear(request)
        # Only now is the user logged in (and `user.login` audited).
        auth.login(request, user, backend=user.backend)
    else:
        request.session.cycle_key()
    django_otp.login(request, device)
    if isinstance(device, StaticDevice):
        left = device.token_set.count()
        messages.warning(
            request,
            f"You used a recovery code; {left} left. If your phone is lost, set "
            "up a new authenticator app and make new recovery codes.",
        )
    return redirect(next_url)


@never_cache
@login_required
@sensitive_post_parameters("password", "code")
@require_POST
def twofactor_recovery_codes(request: HttpRequest) -> HttpResponse:
    """New recovery codes (the old ones stop working), shown once."""
    form = RecoveryCodesForm(request.POST)
    wait = attempt_throttle(
        request, group="2fa-manage", account=f"user:{request.user.pk}"
    )
    if wait:
        return too_many_attempts(request, wait)
    if form.is_valid():
        try:
            codes = twofactor.recovery_codes_regenerate(
                user=request.user,
                password=form.cleaned_data["password"],
                code=form.cleaned_data["code"],
                request=request,
            )
        except GatehouseError as error:
            add_domain_error(form, error)
        else:
            return render(
                request,
                "portal/twofactor_recovery_codes.html",
                {"codes": codes, "next": reverse("portal:twofactor")},
            )
    user = request.user
    return render(
        request,
        "portal/twofactor_manage.html",
        {
            "enabled": twofactor.twofactor_enabled(user=user),
            "device": twofactor.totp_device_get(user=user),
            "codes_left": twofactor.recovery_codes_left(user=user),
            "codes_form": form,
        },
    )


@never_cache
@login_required
@sensitive_post_parameters("password", "code")
@require_http_methods(["GET", "POST"])
def twofactor_disable(request: HttpRequest) -> HttpResponse:
    """Turn two-factor authentication off (password and a code; not for staff)."""
    user = request.user
    if not twofactor.twofactor_enabled(user=user):
        return redirect("portal:twofactor")
    form = TwoFactorDisableForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        wait = attempt_throttle(request, group="2fa-manage", account=f"user:{user.pk}")
        if wait:
            return too_many_attempts(request, wait)
        if form.is_valid():
            try:
                twofactor.twofactor_disable(
                    user=user,
                    password=form.cleaned_data["password"],
                    code=form.cleaned_data["code"],
                    request=request,
                )
            except Forbidden as error:
                add_domain_error(form, error)
                status = 403
            except GatehouseError as error:
                add_domain_error(form, error)
            else:
                messages.success(request, "Two-factor authentication is off.")
                return redirect("portal:twofactor")
    return render(
        request,
        "portal/twofactor_disable.html",
        {"form": form, "is_staff": user.is_staff},
        status=status,
    )
