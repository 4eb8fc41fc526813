"""Two-factor authentication: enrolment, login with a code, recovery codes,
lockout, removal, and the audit events each writes."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.accounts import twofactor
from portal.audit.models import AuditEvent
from portal.errors import InvalidInput

UA = "pytest-browser/1.0"
CODE_RE = re.compile(r"<code>([a-z2-9]{5}-[a-z2-9]{5})</code>")


def code_for(device: TOTPDevice) -> str:
    """The code an authenticator app holding ``device``'s key shows now."""
    device.refresh_from_db()
    value = totp(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{value:0{device.digits}d}"


def wrong_code_for(device: TOTPDevice) -> str:
    return f"{(int(code_for(device)) + 500_000) % 1_000_000:06d}"


def log_in(client, user, password, **extra):
    return client.post(
        reverse("portal:login"),
        {"username": user.email, "password": password, **extra},
        HTTP_USER_AGENT=UA,
    )


def verify(client, code, **extra):
    return client.post(
        reverse("portal:twofactor-verify"), {"code": code, **extra}, HTTP_USER_AGENT=UA
    )


def logged_in_as(client) -> str | None:
    return client.session.get("_auth_user_id")


def events(action: str):
    return AuditEvent.objects.filter(action=action)


@pytest.fixture
def clock():
    """Frozen time, 5 s into a 30 s TOTP step; ``clock.shift(s)`` moves it."""
    now = timezone.now().replace(microsecond=0)
    start = now - dt.timedelta(seconds=now.timestamp() % 30) + dt.timedelta(seconds=5)
    with time_machine.travel(start, tick=False) as traveller:
        yield traveller


@pytest.fixture
def enrolled(user, password, clock):
    """``user`` with a confirmed authenticator app; returns (device, codes)."""
    pending = twofactor.totp_enrolment_get_or_start(user=user)
    device, codes = twofactor.totp_enrolment_confirm(
        user=user, code=code_for(pending), password=password
    )
    # The next code the app shows: the one just used cannot be used twice.
    clock.shift(30)
    return device, codes


@pytest.fixture
def verified_client(client, user, enrolled):
    """``user`` logged in with their second factor."""
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = enrolled[0].persistent_id
    session.save()
    return client


# --- enrolment --------------------------------------------------------------


def test_setup_page_shows_an_inline_qr_code_and_the_secret(
    logged_in_client, user, clock
):
    response = logged_in_client.get(reverse("portal:twofactor-setup"))

    assert response.status_code == 200
    device = TOTPDevice.objects.get(user=user)
    assert device.confirmed is False
    page = response.content.decode()
    # Inline SVG markup: no script, no data: URL for the CSP to refuse.
    assert '<svg role="img"' in page
    assert "data:image" not in page
    provisioning = twofactor.totp_provisioning(device=device)
    secret = provisioning.secret
    # The key typed by hand is the one in the QR code's otpauth:// URI.
    assert f"secret={secret.replace(' ', '')}" in provisioning.uri
    assert secret in page
    assert "no-store" in response["Cache-Control"]
    # Reloading shows the same key, not a new device each time.
    again = logged_in_client.get(reverse("portal:twofactor-setup"))
    assert secret in again.content.decode()
    assert TOTPDevice.objects.filter(user=user).count() == 1


def test_start_over_gives_a_new_key(logged_in_client, user, clock):
    logged_in_client.get(reverse("portal:twofactor-setup"))
    old_key = TOTPDevice.objects.get(user=user).key

    response = logged_in_client.post(
        reverse("portal:twofactor-setup"), {"restart": "1"}
    )

    assert response.status_code == 302
    device = TOTPDevice.objects.get(user=user)
    assert device.key != old_key
    assert device.confirmed is False


def test_a_wrong_code_or_password_does_not_confirm_the_app(
    logged_in_client, user, password, clock
):
    logged_in_client.get(reverse("portal:twofactor-setup"))
    device = TOTPDevice.objects.get(user=user)
    url = reverse("portal:twofactor-setup")

    response = logged_in_client.post(
        url, {"code": wrong_code_for(device), "password": password}
    )
    clock.shift(5)
    # A session alone (without the password) cannot enrol a phone either.
    no_password = logged_in_client.post(
        url, {"code": code_for(device), "password": "not-my-password"}
    )

    assert response.status_code == 200
    assert "is not the one your app shows" in response.content.decode()
    assert no_password.status_code == 200
    assert "That is not your password" in no_password.content.decode()
    device.refresh_from_db()
    assert device.confirmed is False
    assert not StaticDevice.objects.filter(user=user).exists()
    assert not events("user.2fa_enabled").exists()
    assert DEVICE_ID_SESSION_KEY not in logged_in_client.session


def test_the_current_code_confirms_the_app_and_shows_recovery_codes_once(
    logged_in_client, user, password, clock
):
    logged_in_client.get(reverse("portal:twofactor-setup"))
    device = TOTPDevice.objects.get(user=user)

    response = logged_in_client.post(
        reverse("portal:twofactor-setup"),
        {"code": code_for(device), "password": password},
        HTTP_USER_AGENT=UA,
    )

    assert response.status_code == 200
    device.refresh_from_db()
    assert device.confirmed is True
    codes = CODE_RE.findall(response.content.decode())
    assert len(codes) == 10 and len(set(codes)) == 10
    # Stored as keyed hashes: no code (in any spelling) is in the database.
    stored = set(StaticToken.objects.values_list("token", flat=True))
    assert len(stored) == 10
    assert not stored & {c for code in codes for c in (code, code.replace("-", ""))}
    # This session now counts as verified.
    assert logged_in_client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    event = events("user.2fa_enabled").get()
    assert event.actor == user and event.target_id == str(user.pk)
    assert event.ip == "127.0.0.1" and event.user_agent == UA
    # The overview never shows them again.
    overview = logged_in_client.get(reverse("portal:twofactor")).content.decode()
    assert "10</strong> unused recovery codes" in overview
    assert not any(code in overview for code in codes)


def test_replacing_the_app_needs_a_verified_session(client, user, enrolled):
    client.force_login(user)

    response = client.get(reverse("portal:twofactor-setup"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:twofactor-verify"))
    assert TOTPDevice.objects.filter(user=user).count() == 1


def test_a_new_app_replaces_the_old_one(
    verified_client, user, password, enrolled, clock
):
    old_device, old_codes = enrolled
    page = verified_client.get(reverse("portal:twofactor-setup"))
    assert "replaces the authenticator app you use now" in page.content.decode()
    new_device = TOTPDevice.objects.get(user=user, confirmed=False)

    response = verified_client.post(
        reverse("portal:twofactor-setup"),
        {"code": code_for(new_device), "password": password},
    )

    assert response.status_code == 200
    assert list(TOTPDevice.objects.filter(user=user)) == [new_device]
    assert events("user.2fa_enabled").latest("id").data == {"replaced": True}
    with pytest.raises(InvalidInput):
        twofactor.twofactor_verify(user=user, code=old_codes[0])


# --- login ------------------------------------------------------------------


def test_the_password_alone_does_not_log_in(client, user, password, enrolled):
    response = log_in(client, user, password)

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:twofactor-verify")
    assert logged_in_as(client) is None
    assert not events("user.login").exists()
    # The portal still treats the visitor as logged out.
    dashboard = client.get(reverse("portal:dashboard"))
    assert dashboard.status_code == 302
    assert dashboard["Location"].startswith(reverse("portal:login"))


def test_a_wrong_code_is_refused_and_audited(client, user, password, enrolled):
    device, _ = enrolled
    log_in(client, user, password)

    response = verify(client, wrong_code_for(device))

    assert response.status_code == 200
    assert "That code is not valid" in response.content.decode()
    assert logged_in_as(client) is None
    event = events("user.2fa_failed").get()
    assert event.target_id == str(user.pk)
    assert event.data["purpose"] == "login"
    assert event.ip == "127.0.0.1" and event.user_agent == UA
    assert not events("user.login").exists()


def test_the_current_code_completes_the_login(client, user, password, enrolled):
    device, _ = enrolled
    log_in(client, user, password)

    response = verify(client, code_for(device))

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:dashboard")
    assert logged_in_as(client) == str(user.pk)
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert events("user.login").count() == 1
    assert client.get(reverse("portal:dashboard")).status_code == 200


@pytest.mark.parametrize(
    ("asked", "landed"),
    [
        ("/teams/", "/teams/"),
        ("https://evil.example/steal", "/dashboard/"),
        ("//evil.example/", "/dashboard/"),
    ],
)
def test_next_is_kept_only_when_it_stays_on_the_portal(
    client, user, password, enrolled, asked, landed
):
    device, _ = enrolled
    log_in(client, user, password, next=asked)

    response = verify(client, code_for(device), next="https://evil.example/")

    assert response.status_code == 302
    assert response["Location"] == landed


def test_a_user_without_2fa_logs_in_with_the_password(client, user, password):
    response = log_in(client, user, password)

    assert response.status_code == 302
    assert logged_in_as(client) == str(user.pk)
    assert events("user.login").count() == 1


def test_the_verify_page_without_a_pending_login_sends_to_login(client, db):
    response = client.get(reverse("portal:twofactor-verify"))

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:login")


def test_a_pending_login_expires(client, user, password, enrolled, clock, settings):
    device, _ = enrolled
    log_in(client, user, password)
    clock.shift(settings.TWOFACTOR_LOGIN_TIMEOUT + 1)

    response = verify(client, code_for(device))

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:login")
    assert logged_in_as(client) is None


def test_a_password_change_voids_a_pending_login(client, user, password, enrolled):
    device, _ = enrolled
    log_in(client, user, password)
    user.set_password("an-entirely-new-passphrase-9")
    user.save()

    response = verify(client, code_for(device))

    assert response.status_code == 302
    assert logged_in_as(client) is None


# --- recovery codes ---------------------------------------------------------


def test_a_recovery_code_logs_in_once(client, user, password, enrolled):
    _, codes = enrolled
    log_in(client, user, password)

    # Typed in capitals with a space instead of the hyphen: still the code.
    response = verify(client, codes[0].upper().replace("-", " "))

    assert response.status_code == 302
    assert logged_in_as(client) == str(user.pk)
    used = events("user.2fa_recovery_code_used").get()
    assert used.data == {"codes_left": 9}
    assert used.ip == "127.0.0.1" and used.user_agent == UA
    assert StaticToken.objects.filter(device__user=user).count() == 9

    client.post(reverse("portal:logout"))
    log_in(client, user, password)
    again = verify(client, codes[0])

    assert again.status_code == 200
    assert logged_in_as(client) is None
    assert events("user.2fa_failed").get().data["kind"] == "recovery"


def test_new_recovery_codes_need_the_password_or_a_code(
    verified_client, user, enrolled, password, clock
):
    device, old_codes = enrolled
    url = reverse("portal:twofactor-recovery-codes")

    refused = verified_client.post(url, {"password": "not-my-password"})
    assert refused.status_code == 200
    assert "That is not your password" in refused.content.decode()
    empty = verified_client.post(url, {})
    assert "Enter your password or a code" in empty.content.decode()
    assert not events("user.2fa_recovery_codes_regenerated").exists()

    response = verified_client.post(url, {"password": password}, HTTP_USER_AGENT=UA)

    assert response.status_code == 200
    new_codes = CODE_RE.findall(response.content.decode())
    assert len(new_codes) == 10
    assert not set(new_codes) & set(old_codes)
    event = events("user.2fa_recovery_codes_regenerated").get()
    assert event.ip == "127.0.0.1" and event.user_agent == UA
    with pytest.raises(InvalidInput):
        twofactor.twofactor_verify(user=user, code=old_codes[1])
    clock.shift(5)
    assert twofactor.twofactor_verify(user=user, code=new_codes[0]).user == user

    # A current code from the app does as well as the password.
    by_code = verified_client.post(url, {"code": code_for(device)})
    assert len(CODE_RE.findall(by_code.content.decode())) == 10
    assert events("user.2fa_recovery_codes_regenerated").count() == 2


# --- lockout ----------------------------------------------------------------


def test_after_a_wrong_code_even_the_right_one_waits(client, user, password, enrolled):
    device, _ = enrolled
    log_in(client, user, password)
    verify(client, wrong_code_for(device))

    # django-otp's throttle: the device refuses to check codes for a while.
    response = verify(client, code_for(device))

    assert response.status_code == 429
    assert "Too many wrong codes. Wait" in response.content.decode()
    assert logged_in_as(client) is None


def test_the_throttle_lifts_after_the_wait(client, user, password, enrolled, clock):
    device, _ = enrolled
    log_in(client, user, password)
    verify(client, wrong_code_for(device))
    clock.shift(2)

    response = verify(client, code_for(device))

    assert response.status_code == 302
    assert logged_in_as(client) == str(user.pk)


def test_the_verify_step_is_throttled_per_account(
    client, user, password, enrolled, settings
):
    settings.ACCOUNT_RATES = {"ip": "100/m", "account": "3/m"}
    # Only the portal's attempt throttle here (the clock stands still, so its
    # one-minute window cannot roll over); django-otp's is tested above.
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    device, _ = enrolled
    log_in(client, user, password)
    for _ in range(3):
        assert verify(client, wrong_code_for(device)).status_code == 200

    response = verify(client, code_for(device))

    assert response.status_code == 429
    assert int(response["Retry-After"]) in range(1, 61)
    assert logged_in_as(client) is None


def test_five_wrong_codes_drop_the_pending_login(
    client, user, password, enrolled, clock
):
    device, _ = enrolled
    log_in(client, user, password)
    for attempt in range(5):
        clock.shift(20)
        response = verify(client, wrong_code_for(device))
        assert response.status_code == (302 if attempt == 4 else 200)

    assert response["Location"] == reverse("portal:login")
    assert events("user.2fa_failed").count() == 5
    # The right code no longer helps: the password has to be given again.
    clock.shift(20)
    late = verify(client, code_for(device))
    assert late.status_code == 302
    assert late["Location"] == reverse("portal:login")
    assert logged_in_as(client) is None


# --- a running session without the second factor ------------------------------


def test_a_session_from_before_2fa_is_verified_with_a_code(client, user, enrolled):
    device, _ = enrolled
    client.force_login(user)
    logins = events("user.login").count()

    page = client.get(reverse("portal:twofactor-verify"), {"next": "/teams/"})
    assert page.status_code == 200
    response = verify(client, code_for(device), next="/teams/")

    assert response.status_code == 302
    assert response["Location"] == "/teams/"
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert events("user.login").count() == logins


# --- turning it off -----------------------------------------------------------


def test_turning_off_needs_the_password_and_a_code(
    verified_client, client, user, password, enrolled, clock
):
    device, _ = enrolled
    url = reverse("portal:twofactor-disable")

    wrong_code = verified_client.post(
        url, {"password": password, "code": wrong_code_for(device)}
    )
    clock.shift(5)
    wrong_password = verified_client.post(
        url, {"password": "not-my-password", "code": code_for(device)}
    )

    assert wrong_code.status_code == 200 and wrong_password.status_code == 200
    assert "That is not your password" in wrong_password.content.decode()
    assert twofactor.twofactor_enabled(user=user)
    assert not events("user.2fa_disabled").exists()

    response = verified_client.post(
        url, {"password": password, "code": code_for(device)}, HTTP_USER_AGENT=UA
    )

    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not StaticDevice.objects.filter(user=user).exists()
    event = events("user.2fa_disabled").get()
    assert event.actor == user and event.user_agent == UA
    # The next login needs the password only.
    verified_client.post(reverse("portal:logout"))
    log_in(client, user, password)
    assert logged_in_as(client) == str(user.pk)


def test_staff_cannot_turn_2fa_off(verified_client, user, password, enrolled):
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    device, _ = enrolled

    response = verified_client.post(
        reverse("portal:twofactor-disable"),
        {"password": password, "code": code_for(device)},
    )

    assert response.status_code == 403
    assert "Staff accounts must keep two-factor authentication" in (
        response.content.decode()
    )
    assert TOTPDevice.objects.filter(user=user, confirmed=True).exists()
    assert StaticToken.objects.filter(device__user=user).count() == 10
    assert not events("user.2fa_disabled").exists()


def test_the_pages_need_a_login(client, db):
    for name in ("twofactor", "twofactor-setup", "twofactor-disable"):
        response = client.get(reverse(f"portal:{name}"))
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("portal:login"))
    assert not TOTPDevice.objects.exists()


def test_the_forms_need_a_csrf_token(user, enrolled):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(user)

    response = csrf_client.post(reverse("portal:twofactor-recovery-codes"), {})

    assert response.status_code == 403
