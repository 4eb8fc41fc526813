"""Attempt throttles for the account forms (sign-up, login, password reset)."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django_ratelimit.core import get_usage

from portal.web.client import client_ip


def attempt_throttle(request: HttpRequest, *, group: str, account: str = "") -> int:
    """Count one attempt at ``group`` by this client IP and for ``account``.

    Returns 0 when the attempt may go ahead, otherwise the number of seconds
    until it may be tried again.
    """
    keys = [("ip", client_ip(request) or "unknown")]
    if account:
        # Hashed so the cache never holds the address in clear.
        digest = hashlib.sha256(account.strip().lower().encode()).hexdigest()
        keys.append(("account", digest))
    wait = 0
    for scope, value in keys:
        usage = get_usage(
            request,
            group=f"gatehouse.{group}.{scope}",
            key=lambda _group, _request, value=value: value,
            rate=settings.ACCOUNT_RATES[scope],
            method="POST",
            increment=True,
        )
        if usage and usage["should_limit"]:
            wait = max(wait, usage["time_left"], 1)
    return wait


def too_many_attempts(request: HttpRequest, wait: int) -> HttpResponse:
    response = render(request, "429.html", {"retry_after": wait}, status=429)
    response["Retry-After"] = str(wait)
    return response
