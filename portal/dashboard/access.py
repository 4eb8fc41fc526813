"""Who may open a staff page: an active staff member who passed 2FA.

The Django admin and every staff page use the same rule, so a staff account
without a confirmed second factor reaches none of them. A visitor who is not
logged in is sent to the portal's login; a logged-in user who is not staff
gets a 404 (the staff side does not announce itself); a staff member who has
not verified a second factor in this session is sent to set one up or to
verify it.
"""

from __future__ import annotations

from functools import wraps
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import redirect
from django_otp import user_has_device

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse


def is_staff_verified(user) -> bool:
    return bool(
        user.is_authenticated
        and user.is_active
        and user.is_staff
        and getattr(user, "is_verified", lambda: False)()
    )


def staff_refusal(request: HttpRequest) -> HttpResponse | None:
    """The response that turns this request away from the staff side, if any."""
    user = request.user
    if not user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    if not (user.is_active and user.is_staff):
        raise Http404
    if not user.is_verified():
        name = (
            "portal:twofactor-verify"
            if user_has_device(user)
            else "portal:twofactor-setup"
        )
        response = redirect(name)
        response["Location"] += "?" + urlencode({"next": request.get_full_path()})
        return response
    return None


def staff_required(view):
    """Decorate a staff page's view with the rule above."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        refusal = staff_refusal(request)
        if refusal is not None:
            return refusal
        return view(request, *args, **kwargs)

    return wrapped
