"""Refuse webhook URLs that point inside the network.

A URL is checked when it is registered and again at every delivery, on the
addresses its host resolves to at that moment; the delivery then connects to
the very address that was checked, so a DNS answer that changed in between
(DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

# Cloud instance-metadata services, named in errors for what they are. Every
# one of them is also outside the global address space.
METADATA = {
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack...
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("fd00:ec2::254"),  # AWS over IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("192.0.0.192"),  # Oracle Cloud
}


class UnsafeUrl(ValueError):
    """The URL may not receive webhooks; the message says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str  # the checked IP address to connect to


def address_class(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why this address may not be called, or None when it may."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA:
        return "a cloud metadata address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a reserved address"
    return None


def _loopback_allowed() -> bool:
    return bool(getattr(settings, "WEBHOOKS_ALLOW_LOOPBACK", False))


def _resolve(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise UnsafeUrl(f"The host {host!r} does not resolve.") from error
    return list(dict.fromkeys(info[4][0] for info in infos))


def check_url(url: str) -> Target:
    """Parse, resolve and check ``url``; the Target says where to connect.

    https only, except http to a loopback address when the
    WEBHOOKS_ALLOW_LOOPBACK setting allows it (development and tests).
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeUrl("This is not a valid URL.") from error
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in ("https", "http"):
        raise UnsafeUrl("The URL must start with https://.")
    if not host:
        raise UnsafeUrl("The URL has no host.")
    if parts.username or parts.password:
        raise UnsafeUrl("The URL may not hold a user name or password.")
    port = port or (443 if scheme == "https" else 80)
    addresses = _resolve(host, port)
    if not addresses:
        raise UnsafeUrl(f"The host {host!r} does not resolve.")
    loopback_ok = _loopback_allowed()
    checked = []
    for text in addresses:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
        reason = address_class(ip)
        if reason == "a loopback address" and loopback_ok:
            checked.append((text, True))
            continue
        if reason is not None:
            raise UnsafeUrl(f"{host} resolves to {reason} ({text}), which is refused.")
        checked.append((text, False))
    address, is_loopback = checked[0]
    if scheme == "http" and not (loopback_ok and all(lb for _, lb in checked)):
        raise UnsafeUrl("The URL must start with https://.")
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    return Target(scheme=scheme, host=host, port=port, path=path, address=address)
