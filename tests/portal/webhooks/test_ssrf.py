"""Webhook URLs that reach inside the network are refused when registered and
again at delivery, on the address actually connected to."""

from __future__ import annotations

import socket

import pytest

from portal.errors import InvalidInput
from portal.webhooks import services
from portal.webhooks.models import Attempt, Endpoint

pytestmark = pytest.mark.django_db

FORBIDDEN = {
    "loopback": ["127.0.0.1", "127.8.9.10", "::1"],
    "private": ["10.0.0.7", "172.16.5.4", "192.168.1.1", "fd12:3456::1"],
    "link-local": ["169.254.10.20", "fe80::1"],
    "multicast": ["224.0.0.251", "239.1.2.3", "ff02::1"],
    "cloud metadata": [
        "169.254.169.254",
        "169.254.170.2",
        "fd00:ec2::254",
        "100.100.100.200",
        "192.0.0.192",
    ],
    "unspecified": ["0.0.0.0", "::"],  # noqa: S104 - refused, not bound
    "reserved": ["240.0.0.1", "100.64.0.1", "198.18.0.1"],
    "IPv4-mapped loopback": ["::ffff:127.0.0.1"],
}
CASES = [(kind, ip) for kind, ips in FORBIDDEN.items() for ip in ips]
PUBLIC = "93.184.216.34"


class FakeDns:
    """getaddrinfo answering from a table that a test can change."""

    def __init__(self, monkeypatch):
        self.table: dict[str, list[str]] = {}
        self.real = socket.getaddrinfo
        monkeypatch.setattr(socket, "getaddrinfo", self.lookup)

    def lookup(self, host, port, *args, **kwargs):
        if host not in self.table:
            return self.real(host, port, *args, **kwargs)
        return [
            (
                socket.AF_INET6 if ":" in ip else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (ip, port),
            )
            for ip in self.table[host]
        ]


@pytest.fixture
def dns(monkeypatch):
    return FakeDns(monkeypatch)


def register(team, url):
    return services.endpoint_create(team=team, url=url, event_types=["key.created"])


@pytest.mark.parametrize(("kind", "ip"), CASES)
def test_a_literal_forbidden_address_is_refused_at_registration(
    developer_team, kind, ip
):
    host = f"[{ip}]" if ":" in ip else ip
    with pytest.raises(InvalidInput) as refused:
        register(developer_team, f"https://{host}/hooks")
    assert refused.value.field == "url"
    assert "refused" in refused.value.message
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize(("kind", "ip"), CASES)
def test_a_name_resolving_to_a_forbidden_address_is_refused_at_registration(
    developer_team, dns, kind, ip
):
    dns.table["hooks.example.net"] = [PUBLIC, ip]  # any bad answer refuses
    with pytest.raises(InvalidInput) as refused:
        register(developer_team, "https://hooks.example.net/in")
    assert f"({ip})" in refused.value.message
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize(("kind", "ip"), CASES)
def test_a_dns_answer_changed_after_registration_is_refused_at_delivery(
    developer_team, dns, monkeypatch, django_capture_on_commit_callbacks, kind, ip
):
    dns.table["hooks.example.net"] = [PUBLIC]
    endpoint, _ = register(developer_team, "https://hooks.example.net/in")
    dns.table["hooks.example.net"] = [ip]  # rebinding
    connections = []
    monkeypatch.setattr(
        socket, "create_connection", lambda *a, **k: connections.append(a)
    )
    with django_capture_on_commit_callbacks(execute=True):
        services.send_test_event(endpoint=endpoint)
    attempt = Attempt.objects.get(delivery__endpoint=endpoint)
    assert attempt.error.startswith("Refused:")
    assert attempt.status_code is None
    assert connections == []  # no connection was even opened


def test_delivery_connects_to_the_address_that_was_checked(
    developer_team, dns, monkeypatch, django_capture_on_commit_callbacks
):
    dns.table["hooks.example.net"] = [PUBLIC]
    endpoint, _ = register(developer_team, "https://hooks.example.net/in")
    connected = []

    def connect(address, timeout=None, *args, **kwargs):
        connected.append(address)
        raise ConnectionRefusedError("test: no network")

    monkeypatch.setattr(socket, "create_connection", connect)
    with django_capture_on_commit_callbacks(execute=True):
        services.send_test_event(endpoint=endpoint)
    assert connected == [(PUBLIC, 443)]
    attempt = Attempt.objects.get(delivery__endpoint=endpoint)
    assert "ConnectionRefusedError" in attempt.error


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://hooks.example.net/in", "https://"),
        ("ftp://hooks.example.net/in", "https://"),
        ("https://user:pw@hooks.example.net/in", "user name or password"),
        ("https:///nohost", "no host"),
        ("https://hooks.example.net:99999/", "not a valid URL"),
        ("https://no-such-host.invalid/", "does not resolve"),
        ("", "Enter the URL"),
    ],
)
def test_malformed_or_plain_http_urls_are_refused(developer_team, dns, url, message):
    dns.table["hooks.example.net"] = [PUBLIC]
    with pytest.raises(InvalidInput) as refused:
        register(developer_team, url)
    assert message in refused.value.message


def test_loopback_is_allowed_only_when_the_setting_says_so(developer_team, settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    endpoint, _ = register(developer_team, "http://127.0.0.1:9/hooks")
    assert endpoint.pk
    # Even then, http to anything but loopback stays refused.
    with pytest.raises(InvalidInput):
        register(developer_team, "http://10.0.0.1/hooks")
