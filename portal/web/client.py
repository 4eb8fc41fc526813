"""What we may learn about the client from a request."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def _ip_or_none(raw: str) -> str | None:
    try:
        return str(ipaddress.ip_address(raw.strip()))
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The client's IP address, for throttles, audit, usage and key allow-lists.

    With ``TRUSTED_PROXY_COUNT`` at 0 (the default) it is REMOTE_ADDR and
    X-Forwarded-For is ignored: anyone can write that header, so trusting it
    would let a client pick a fresh address for every attempt. Behind N
    proxies that each append the address they received the request from, the
    Nth entry from the right of X-Forwarded-For is the one the outermost
    proxy saw; entries further left were written by the client and are never
    read. A header with fewer than N entries (a request that did not pass
    through every proxy) or whose Nth entry is not an IP address falls back
    to REMOTE_ADDR. Returns None when no valid address is known.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        hops = [hop for hop in forwarded.split(",") if hop.strip()]
        if len(hops) >= proxies:
            address = _ip_or_none(hops[-proxies])
            if address is not None:
                return address
    return _ip_or_none(request.META.get("REMOTE_ADDR", ""))


def user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:512]
