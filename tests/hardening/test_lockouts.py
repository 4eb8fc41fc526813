"""Login, password reset and the two-factor step lock out after repeated
failures, and answer an unknown address exactly as a known one.

"Exactly" is checked by running the same requests twice at the same frozen
instant, once while the account exists and once after it is deleted, and
comparing status, headers, cookies (all but their values) and body with the
CSRF token taken out. Nothing here measures time.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.accounts import twofactor
from portal.accounts.models import User
from portal.audit.models import AuditEvent

CSRF_FIELD = re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]*(")')


def account_limit() -> int:
    """The per-account count of ACCOUNT_RATES, as configured (10 by default)."""
    return int(settings.ACCOUNT_RATES["account"].split("/")[0])


@pytest.fixture
def clock():
    """Frozen time, 5 s into a 30 s TOTP step; ``clock.shift(s)`` moves it."""
    now = timezone.now().replace(microsecond=0)
    start = now - dt.timedelta(seconds=now.timestamp() % 30) + dt.timedelta(seconds=5)
    with time_machine.travel(start, tick=False) as traveller:
        yield traveller


def normalised(response) -> tuple:
    """What a client can observe of a response, minus the CSRF token."""
    body = CSRF_FIELD.sub(r"\1-\2", response.content.decode())
    cookies = {name: dict(morsel.items()) for name, morsel in response.cookies.items()}
    return response.status_code, dict(response.headers), cookies, body


def as_if_unknown(user: User, run):
    """``run()`` while ``user`` exists, then again once it does not."""
    known = run()
    User.objects.filter(pk=user.pk).delete()
    cache.clear()  # the throttles start from zero, as for the first run
    unknown = run()
    return known, unknown


def assert_throttled(response) -> None:
    assert response.status_code == 429
    wait = response["Retry-After"]
    assert wait.isdigit()
    assert int(wait) >= 1
    assert f"Too many attempts, try again in {wait} s." in response.content.decode()


def log_in(client, email, password, **extra):
    return client.post(
        reverse("portal:login"), {"username": email, "password": password}, **extra
    )


def is_logged_in(client) -> bool:
    return "_auth_user_id" in client.session


# --- login -------------------------------------------------------------------


def test_login_locks_an_account_out_even_for_the_right_password(user, password, clock):
    client = Client()
    for n in range(account_limit()):
        failed = log_in(client, user.email, f"guess-{n}")
        assert failed.status_code == 200
        assert "do not match an active account" in failed.content.decode()

    response = log_in(client, user.email, password)

    assert_throttled(response)
    assert not is_logged_in(client)
    # The lock is per account: another address from the same client still
    # gets its answer (the per-IP count is higher).
    assert log_in(client, "someone@example.com", "x").status_code == 200
    print(
        f"\nFIGURE login: {account_limit()} wrong passwords per account, then 429 "
        f"with Retry-After {response['Retry-After']} s, even for the right one "
        f"(ACCOUNT_RATE_PER_ACCOUNT={settings.ACCOUNT_RATES['account']})"
    )


def test_login_answers_an_unknown_address_exactly_as_a_known_one(user, password, clock):
    def run():
        client = Client()
        answers = [
            log_in(client, user.email, f"guess-{n}") for n in range(account_limit())
        ]
        answers.append(log_in(client, user.email, password))
        return [normalised(r) for r in answers]

    known, unknown = as_if_unknown(user, run)

    assert known == unknown
    assert [status for status, *_ in known] == [200] * account_limit() + [429]
    assert "Retry-After" in known[-1][1]


@pytest.mark.parametrize(
    "state",
    [
        {"is_active": False},  # suspended
        {"email_verified_at": None},  # address not confirmed yet
    ],
    ids=["suspended", "unconfirmed"],
)
def test_a_wrong_password_reveals_nothing_about_the_account(
    user, password, clock, state
):
    User.objects.filter(pk=user.pk).update(**state)

    def run():
        return normalised(log_in(Client(), user.email, "a-wrong-guess"))

    known, unknown = as_if_unknown(user, run)

    assert known == unknown


def test_a_suspended_account_with_the_right_password_looks_unknown(
    user, password, clock
):
    User.objects.filter(pk=user.pk).update(is_active=False)

    def run():
        return normalised(log_in(Client(), user.email, password))

    known, unknown = as_if_unknown(user, run)

    assert known == unknown


def test_only_the_right_password_learns_that_the_address_is_unconfirmed(
    user, password, clock
):
    # A deliberate exception: whoever knows the password is told to confirm
    # the address (and offered a new link); anyone else learns nothing.
    User.objects.filter(pk=user.pk).update(email_verified_at=None)

    response = log_in(Client(), user.email, password)

    assert response.status_code == 200
    assert "Please confirm your email address first" in response.content.decode()
    assert "do not match an active account" not in response.content.decode()


# --- password reset -------------------------------------------------------------


def reset(client, email):
    return client.post(reverse("portal:password-reset"), {"email": email})


def test_password_reset_answers_alike_mails_only_a_known_address_and_locks_out(
    user, clock, mailoutbox, django_capture_on_commit_callbacks
):
    sent = []

    def run():
        client = Client()
        mailoutbox.clear()
        with django_capture_on_commit_callbacks(execute=True):
            answers = [reset(client, user.email) for _ in range(account_limit() + 1)]
        sent.append([mail.to for mail in mailoutbox])
        return [normalised(r) for r in answers]

    known, unknown = as_if_unknown(user, run)

    assert known == unknown
    statuses = [status for status, *_ in known]
    assert statuses == [302] * account_limit() + [429]
    assert known[0][1]["Location"] == reverse("portal:password-reset-done")
    # Mail only for the account that exists, and none once refused.
    assert sent == [[[user.email]] * account_limit(), []]
    print(
        f"\nFIGURE password reset: identical answers for a known and an unknown "
        f"address; {account_limit()} requests per address, then 429"
    )


def test_a_throttled_password_reset_sends_nothing(
    user, clock, mailoutbox, django_capture_on_commit_callbacks
):
    client = Client()
    for _ in range(account_limit()):
        reset(client, user.email)
    mailoutbox.clear()

    with django_capture_on_commit_callbacks(execute=True):
        response = reset(client, user.email.upper())

    assert_throttled(response)
    assert mailoutbox == []


# --- the two-factor step ---------------------------------------------------------


def code_for(device: TOTPDevice) -> str:
    device.refresh_from_db()
    value = totp(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{value:0{device.digits}d}"


def wrong_code_for(device: TOTPDevice) -> str:
    return f"{(int(code_for(device)) + 500_000) % 1_000_000:06d}"


@pytest.fixture
def device(user, password, clock) -> TOTPDevice:
    """``user``'s confirmed authenticator app."""
    pending = twofactor.totp_enrolment_get_or_start(user=user)
    confirmed, _codes = twofactor.totp_enrolment_confirm(
        user=user, code=code_for(pending), password=password
    )
    clock.shift(30)  # the code just used cannot be used again
    return confirmed


def verify(client, code):
    return client.post(reverse("portal:twofactor-verify"), {"code": code})


def test_a_wrong_code_locks_the_device_for_a_while_with_retry_after(
    user, password, device
):
    client = Client()
    assert log_in(client, user.email, password)["Location"] == reverse(
        "portal:twofactor-verify"
    )
    assert verify(client, wrong_code_for(device)).status_code == 200

    response = verify(client, code_for(device))

    # django-otp's throttle: the device checks no code, right or wrong.
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert "Too many wrong codes" in response.content.decode()
    assert not is_logged_in(client)


def test_logging_in_again_does_not_reset_the_code_attempts(
    user, password, device, settings
):
    # The per-account attempt throttle alone (django-otp's is tested above):
    # five wrong codes drop a pending login, and giving the password again
    # starts a new pending login but not a new count.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    client = Client()
    tried = 0
    while tried < account_limit():
        assert log_in(client, user.email, password).status_code == 302
        for _ in range(5):
            response = verify(client, wrong_code_for(device))
            tried += 1
        assert response["Location"] == reverse("portal:login")
    assert log_in(client, user.email, password).status_code == 302

    response = verify(client, code_for(device))

    assert_throttled(response)
    assert not is_logged_in(client)


def test_codes_an_attacker_with_the_password_can_try_in_a_day(
    user, password, device, clock
):
    """Everything on at its defaults: every refusal waited out exactly."""
    client = Client()
    end = timezone.now() + dt.timedelta(days=1)
    pending = False
    requests = 0
    while timezone.now() < end:
        requests += 1
        assert requests < 2000
        if not pending:
            response = log_in(client, user.email, password)
            if response.status_code == 429:
                clock.shift(int(response["Retry-After"]))
                continue
            assert response["Location"] == reverse("portal:twofactor-verify")
            pending = True
        response = verify(client, wrong_code_for(device))
        if response.status_code == 429:
            clock.shift(int(response["Retry-After"]))
        elif response.status_code == 302:
            # Five wrong codes, or the pending login expired: password again.
            assert response["Location"] == reverse("portal:login")
            pending = False
    assert not is_logged_in(client)

    checked = AuditEvent.objects.filter(
        action="user.2fa_failed", data__throttled=False
    ).count()
    # django-otp doubles the wait after each wrong code: the codes checked
    # grow with the logarithm of the time spent.
    assert checked <= 20
    accepted = 2 * device.tolerance + 1
    print(
        f"\nFIGURE TOTP: {checked} codes checked in 24 h by an attacker who has "
        f"the password ({requests} requests); chance of a hit "
        f"<= {checked * accepted} in 1,000,000"
    )
