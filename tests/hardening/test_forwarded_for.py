"""Anonymous limits cannot be dodged by rotating X-Forwarded-For.

``TRUSTED_PROXY_COUNT`` says how many proxies in front of the app append to
X-Forwarded-For; only what they wrote is read (``portal.web.client``). These
tests send 50 attempts, each with a different random address in the header,
and find the per-IP throttle biting at its configured count all the same.
"""

from __future__ import annotations

import ipaddress
import random
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from portal.accounts.models import User
from portal.audit.models import AuditEvent
from portal.usage import recorder
from portal.web.client import client_ip

ROOT = Path(__file__).resolve().parents[2]
ATTEMPTS = 50
PASSPHRASE = "a-brand-new-passphrase-77"
LOAD_BALANCER = "10.0.0.2"
CLIENT = "203.0.113.7"
OTHER_CLIENT = "198.51.100.9"


def ip_limit() -> int:
    """The per-IP count of ACCOUNT_RATES, as configured (30 by default)."""
    return int(settings.ACCOUNT_RATES["ip"].split("/")[0])


def random_ip(rng: random.Random) -> str:
    if rng.random() < 0.2:
        return str(ipaddress.IPv6Address(rng.getrandbits(128)))
    return str(ipaddress.IPv4Address(rng.getrandbits(32)))


@pytest.fixture
def rng():
    return random.Random(20240610)  # noqa: S311 - addresses, not secrets


@pytest.fixture
def frozen():
    # The throttle's window cannot roll over between two attempts.
    with time_machine.travel(timezone.now(), tick=False):
        yield


def log_in(client: Client, n: int, **headers):
    # A different unknown account each time: only the per-IP count can bite.
    return client.post(
        reverse("portal:login"),
        {"username": f"nobody{n}@example.com", "password": "not-a-password"},
        **headers,
    )


def sign_up(client: Client, n: int, **headers):
    return client.post(
        reverse("portal:signup"),
        {
            "email": f"new{n}@example.com",
            "name": "",
            "password1": PASSPHRASE,
            "password2": PASSPHRASE,
        },
        **headers,
    )


LABELS = {log_in: "login", sign_up: "sign-up"}


def statuses(attempt, headers_for) -> list[int]:
    client = Client()
    return [attempt(client, n, **headers_for(n)).status_code for n in range(ATTEMPTS)]


def assert_refused_from(codes: list[int], limit: int) -> None:
    """The first ``limit`` attempts go through, every later one is a 429."""
    assert 429 not in codes[:limit]
    assert codes[limit:] == [429] * (len(codes) - limit)


# --- the client address itself ------------------------------------------------


@pytest.mark.parametrize(
    ("proxies", "forwarded", "remote", "expected"),
    [
        # No trusted proxy: the header is never read.
        (0, "198.51.100.1", "192.0.2.10", "192.0.2.10"),
        (0, "", "192.0.2.10", "192.0.2.10"),
        # One proxy: the address it appended, whatever the client wrote before.
        (1, "198.51.100.1", "10.0.0.2", "198.51.100.1"),
        (1, "6.6.6.6, 7.7.7.7, 198.51.100.1", "10.0.0.2", "198.51.100.1"),
        (1, " 6.6.6.6 ,198.51.100.1 ", "10.0.0.2", "198.51.100.1"),
        (1, "6.6.6.6, 2001:db8::1", "10.0.0.2", "2001:db8::1"),
        # Two proxies: the second from the right is what the outer one saw.
        (2, "6.6.6.6, 198.51.100.1, 10.0.0.3", "10.0.0.2", "198.51.100.1"),
        # Too few entries (did not pass every proxy), or malformed: REMOTE_ADDR.
        (2, "198.51.100.1", "10.0.0.2", "10.0.0.2"),
        (1, "", "10.0.0.2", "10.0.0.2"),
        (1, "6.6.6.6, not-an-address", "10.0.0.2", "10.0.0.2"),
        (1, "6.6.6.6, 198.51.100.1:4711", "10.0.0.2", "10.0.0.2"),
        (1, "6.6.6.6, unknown", "10.0.0.2", "10.0.0.2"),
        (1, "198.51.100.1", "garbage", "198.51.100.1"),
        (0, "198.51.100.1", "garbage", None),
    ],
)
def test_client_ip_reads_only_what_trusted_proxies_wrote(
    settings, proxies, forwarded, remote, expected
):
    settings.TRUSTED_PROXY_COUNT = proxies
    request = RequestFactory().get(
        "/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded
    )

    assert client_ip(request) == expected


def test_a_negative_proxy_count_refuses_to_start():
    result = subprocess.run(  # noqa: S603 - fixed argv, our own manage.py
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "TRUSTED_PROXY_COUNT": "-1"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "TRUSTED_PROXY_COUNT must be 0 or more" in result.stderr


# --- no trusted proxy: the header is ignored ----------------------------------


@pytest.mark.parametrize("attempt", [log_in, sign_up], ids=["login", "signup"])
def test_rotating_the_header_does_not_dodge_the_ip_limit(
    db, settings, rng, frozen, attempt
):
    settings.TRUSTED_PROXY_COUNT = 0

    codes = statuses(attempt, lambda n: {"HTTP_X_FORWARDED_FOR": random_ip(rng)})

    assert_refused_from(codes, ip_limit())
    print(
        f"\nFIGURE {LABELS[attempt]}, 0 trusted proxies: "
        f"{codes.count(429)} of {ATTEMPTS} attempts with a random "
        f"X-Forwarded-For refused (429 from attempt {ip_limit() + 1})"
    )
    # Another address is not refused: the limit is per client, not global.
    other = attempt(Client(), 999, REMOTE_ADDR=OTHER_CLIENT)
    assert other.status_code == 200


def test_sign_ups_beyond_the_ip_limit_create_no_account(db, settings, rng, frozen):
    settings.TRUSTED_PROXY_COUNT = 0

    statuses(sign_up, lambda n: {"HTTP_X_FORWARDED_FOR": random_ip(rng)})

    # Whichever bites first: the attempt throttle, or the cap on accounts
    # made from one address in a day (ACCOUNT_SIGNUPS_PER_IP_PER_DAY).
    cap = getattr(settings, "ACCOUNT_SIGNUPS_PER_IP_PER_DAY", ip_limit())
    assert User.objects.count() == min(ip_limit(), cap)
    print(
        f"\nFIGURE sign-up, 0 trusted proxies: {User.objects.count()} accounts "
        f"made by {ATTEMPTS} sign-ups with a random X-Forwarded-For"
    )


# --- one trusted proxy: the rightmost entry is the client --------------------


@pytest.mark.parametrize("attempt", [log_in, sign_up], ids=["login", "signup"])
def test_behind_one_proxy_the_rightmost_address_counts(
    db, settings, rng, frozen, attempt
):
    settings.TRUSTED_PROXY_COUNT = 1

    # The client writes anything it likes on the left; the load balancer
    # appends the address it saw, and is the only peer the app sees.
    codes = statuses(
        attempt,
        lambda n: {
            "REMOTE_ADDR": LOAD_BALANCER,
            "HTTP_X_FORWARDED_FOR": f"{random_ip(rng)}, {random_ip(rng)}, {CLIENT}",
        },
    )

    assert_refused_from(codes, ip_limit())
    print(
        f"\nFIGURE {LABELS[attempt]}, 1 trusted proxy: {codes.count(429)} of "
        f"{ATTEMPTS} attempts with a rotated left part refused "
        f"(429 from attempt {ip_limit() + 1})"
    )
    # Another client behind the same load balancer has its own count.
    other = attempt(
        Client(),
        999,
        REMOTE_ADDR=LOAD_BALANCER,
        HTTP_X_FORWARDED_FOR=f"{CLIENT}, {OTHER_CLIENT}",
    )
    assert other.status_code == 200


# --- every reader of the client address uses the same rule -------------------


def test_the_audit_trail_records_the_address_the_proxy_saw(
    client, user, password, settings
):
    settings.TRUSTED_PROXY_COUNT = 1

    client.post(
        reverse("portal:login"),
        {"username": user.email, "password": password},
        REMOTE_ADDR=LOAD_BALANCER,
        HTTP_X_FORWARDED_FOR=f"6.6.6.6, {CLIENT}",
    )

    assert AuditEvent.objects.get(action="user.login").ip == CLIENT


def test_the_audit_trail_ignores_the_header_without_a_trusted_proxy(
    client, user, password, settings
):
    settings.TRUSTED_PROXY_COUNT = 0

    client.post(
        reverse("portal:login"),
        {"username": user.email, "password": password},
        REMOTE_ADDR=OTHER_CLIENT,
        HTTP_X_FORWARDED_FOR=CLIENT,
    )

    assert AuditEvent.objects.get(action="user.login").ip == OTHER_CLIENT


BOOKS = "/api/books/v1/books/"


@pytest.mark.parametrize(
    ("proxies", "forwarded", "status"),
    [
        # The key may be used from 203.0.113.0/24 only.
        (1, f"6.6.6.6, {CLIENT}", 200),
        (1, f"{CLIENT}, {OTHER_CLIENT}", 403),  # spoofed on the left
        (0, CLIENT, 403),  # nobody trusted: the peer is the load balancer
    ],
)
def test_key_ip_allow_lists_read_the_same_address(
    api_client, books_app, issue_key, settings, proxies, forwarded, status
):
    settings.TRUSTED_PROXY_COUNT = proxies
    issued = issue_key(books_app.app, allowed_ips=["203.0.113.0/24"])

    response = api_client.get(
        BOOKS,
        HTTP_X_API_KEY=issued.full_key,
        REMOTE_ADDR=LOAD_BALANCER,
        HTTP_X_FORWARDED_FOR=forwarded,
    )

    assert response.status_code == status
    if status == 403:
        assert response.json()["code"] == "ip_not_allowed"


def test_usage_records_the_address_the_proxy_saw(api_client, books_app, settings):
    settings.TRUSTED_PROXY_COUNT = 1

    # Held, so the shipper thread of the Redis run leaves the buffer alone.
    with recorder._ship_lock:
        recorder.drain()
        response = api_client.get(
            BOOKS,
            HTTP_X_API_KEY=books_app.full_key,
            REMOTE_ADDR=LOAD_BALANCER,
            HTTP_X_FORWARDED_FOR=f"6.6.6.6, {CLIENT}",
        )
        calls = recorder.drain()

    assert response.status_code == 200
    assert [call.client_ip for call in calls] == [CLIENT]
