"""What we may learn about the client from a request."""

from __future__ import annotations

import ipaddress

from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The client's IP address as Django received it (REMOTE_ADDR).

    A proxy in front should set REMOTE_ADDR itself (gunicorn's
    ``--forwarded-allow-ips``); trusting X-Forwarded-For blindly would let any
    client choose its own address for throttles and audit.
    """
    raw = request.META.get("REMOTE_ADDR", "")
    try:
        return str(ipaddress.ip_address(raw))
    except ValueError:
        return None


def user_agent(request: HttpRequest) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:512]
