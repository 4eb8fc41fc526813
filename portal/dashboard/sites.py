"""The Django admin as Gatehouse runs it: every view behind the staff rule.

``GatehouseAdminSite`` is the default admin site (see ``apps.py``), so the
model admins registered with ``@admin.register`` land here. Each URL it
serves, the model pages and any custom view a ``ModelAdmin`` adds included,
first passes ``staff_refusal``: anonymous visitors go to the portal's login
(the admin's own login form is never shown), logged-in users who are not
staff get a 404, staff without a verified second factor go to set one up or
verify it. What a staff member may do inside stays Django's permissions
(staff vs. superuser).
"""

from __future__ import annotations

from functools import update_wrapper
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.views import LogoutView, redirect_to_login
from django.urls import URLPattern, URLResolver, reverse
from django.utils.cache import add_never_cache_headers

from portal.dashboard.access import is_staff_verified, staff_refusal

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse


def _gated(view):
    def gated(request, *args, **kwargs):
        refusal = staff_refusal(request)
        if refusal is not None:
            add_never_cache_headers(refusal)
            return refusal
        return view(request, *args, **kwargs)

    return update_wrapper(gated, view)


def _gate_patterns(patterns: list) -> list:
    gated = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            gated.append(
                URLResolver(
                    pattern.pattern,
                    _gate_patterns(pattern.url_patterns),
                    pattern.default_kwargs,
                    pattern.app_name,
                    pattern.namespace,
                )
            )
        elif pattern.name == "login":
            gated.append(pattern)
        else:
            gated.append(
                URLPattern(
                    pattern.pattern,
                    _gated(pattern.callback),
                    pattern.default_args,
                    pattern.name,
                )
            )
    return gated


class GatehouseAdminSite(admin.AdminSite):
    site_header = "Gatehouse staff"
    site_title = "Gatehouse staff"
    index_title = "Administration"

    def has_permission(self, request: HttpRequest) -> bool:
        return is_staff_verified(request.user)

    def get_urls(self) -> list:
        return _gate_patterns(super().get_urls())

    def login(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        """Staff log in through the portal (password, then the second factor)."""
        next_url = request.GET.get("next") or reverse(
            "admin:index", current_app=self.name
        )
        return redirect_to_login(next_url)

    def logout(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        return LogoutView.as_view(next_page=settings.LOGOUT_REDIRECT_URL)(request)
