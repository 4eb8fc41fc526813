"""Two-factor authentication: an authenticator app (TOTP) and recovery codes.

Built on django-otp. A user's authenticator app is a ``TOTPDevice``: created
unconfirmed when enrolment starts and confirmed by the first code it
produces. Their recovery codes are the tokens of one ``StaticDevice``; each
token holds a keyed hash of a code, never the code itself, so the codes are
shown once and a copy of the database does not let anyone log in with them.

Every verification goes through django-otp's device throttling (the wait
doubles after each wrong code); the portal pages add their per-account
attempt throttle on top.
"""

from __future__ import annotations

import base64
import math
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

import segno
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_otp import user_has_device
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.audit.services import record
from portal.errors import Forbidden, GatehouseError, InvalidInput

if TYPE_CHECKING:
    from django.http import HttpRequest
    from django_otp.models import Device

    from portal.accounts.models import User

TOTP_DEVICE_NAME = "Authenticator app"
RECOVERY_DEVICE_NAME = "Recovery codes"
RECOVERY_CODE_COUNT = 10
# Ten characters from an alphabet without look-alikes (0/o, 1/l/i): about 49
# bits each, far beyond what the throttled verify step lets anyone guess.
RECOVERY_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_CODE_LENGTH = 10
_RECOVERY_HASH_SALT = "gatehouse.accounts.twofactor.recovery-code"


class TooManyAttempts(GatehouseError):
    status = 429
    code = "too_many_attempts"
    title = "Too many wrong codes"

    def __init__(self, *, retry_after: int):
        self.retry_after = max(1, retry_after)
        super().__init__(
            f"Too many wrong codes. Wait {self.retry_after} s and try again.",
            field="code",
        )


@dataclass(frozen=True)
class TotpProvisioning:
    """What an authenticator app needs: a QR code, or the secret typed in."""

    secret: str
    uri: str
    qr_svg: str


# --- reads ------------------------------------------------------------------


def twofactor_enabled(*, user: User) -> bool:
    """Whether logging in as ``user`` needs a second factor.

    Any confirmed django-otp device counts, the rule ``staff_refusal`` uses.
    """
    return user_has_device(user, confirmed=True)


def totp_device_get(*, user: User) -> TOTPDevice | None:
    """The user's confirmed authenticator app, if any."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-id").first()


def recovery_codes_left(*, user: User) -> int:
    device = StaticDevice.objects.filter(user=user, confirmed=True).first()
    return device.token_set.count() if device is not None else 0


def totp_provisioning(*, device: TOTPDevice) -> TotpProvisioning:
    """The QR code (inline SVG markup) and the secret, for an enrolment page.

    Only for a device that is still being enrolled: once confirmed, its
    secret is never shown again.
    """
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    uri = device.config_url
    svg = segno.make(uri, error="m").svg_inline(
        scale=5,
        border=4,
        dark="#000",
        light="#fff",
        title="QR code for your authenticator app",
    )
    return TotpProvisioning(
        secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        uri=uri,
        qr_svg=svg.replace("<svg ", '<svg role="img" ', 1),
    )


# --- enrolment --------------------------------------------------------------


def totp_enrolment_get_or_start(*, user: User) -> TOTPDevice:
    """The authenticator app ``user`` is enrolling, started if there is none.

    The device is unconfirmed, so it does not count for login until
    ``totp_enrolment_confirm`` accepts a code from it.
    """
    device = (
        TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    )
    if device is None:
        device = TOTPDevice.objects.create(
            user=user, name=TOTP_DEVICE_NAME, confirmed=False
        )
    return device


def totp_enrolment_restart(*, user: User) -> TOTPDevice:
    """Drop an enrolment in progress and start one with a new secret."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        return TOTPDevice.objects.create(
            user=user, name=TOTP_DEVICE_NAME, confirmed=False
        )


def totp_enrolment_confirm(
    *, user: User, code: str, password: str, request: HttpRequest | None = None
) -> tuple[TOTPDevice, list[str]]:
    """Confirm the enrolling authenticator app with a code it shows now.

    The password is asked too: whoever holds only a session (a forgotten
    browser, a stolen cookie) must not be able to put their own phone
    between the owner and the account. Returns the confirmed device and a
    fresh set of recovery codes (shown once, by the caller). Any
    authenticator app confirmed before is replaced and earlier recovery codes
    stop working. Records ``user.2fa_enabled``. Raises ``InvalidInput``
    (``wrong_password``, ``no_enrolment``, ``wrong_code``) or
    ``TooManyAttempts`` while django-otp throttles the device.
    """
    _check_password(user, password)
    code = _normalise_totp(code)
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=False)
            .order_by("-id")
            .first()
        )
        if device is None:
            raise InvalidInput(
                "This set-up has expired. Scan the new QR code and try again.",
                code="no_enrolment",
                field="code",
            )
        _raise_if_throttled(device)
        verified = device.verify_token(code)
        if verified:
            replaced = TOTPDevice.objects.filter(user=user, confirmed=True)
            was_enabled = replaced.exists()
            replaced.delete()
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            codes = _recovery_codes_replace(user)
            record(
                action="user.2fa_enabled",
                actor=user,
                target=user,
                request=request,
                data={"replaced": was_enabled},
            )
    # Outside the block: a wrong code's throttle count must be kept.
    if not verified:
        raise InvalidInput(
            "That code is not the one your app shows. Check the time on your "
            "phone and try the newest code.",
            code="wrong_code",
            field="code",
        )
    return device, codes


# --- verification -----------------------------------------------------------


def twofactor_verify(
    *,
    user: User,
    code: str,
    request: HttpRequest | None = None,
    purpose: str = "login",
) -> Device:
    """Check a code from ``user``'s authenticator app or a recovery code.

    Returns the device that accepted it (pass it to ``django_otp.login``). A
    recovery code is used up and ``user.2fa_recovery_code_used`` recorded. A
    refused code records ``user.2fa_failed`` (with ``purpose``) and raises
    ``InvalidInput`` (``wrong_code``), or ``TooManyAttempts`` while every
    device that could check it is throttled after earlier wrong codes.
    """
    totp_code = _normalise_totp(code)
    if totp_code.isdigit() and len(totp_code) in (6, 8):
        kind, model, candidate = "totp", TOTPDevice, totp_code
    else:
        kind, model, candidate = "recovery", StaticDevice, _normalise_recovery(code)
    wait = 0
    checked = False
    for device_id in model.objects.filter(user=user, confirmed=True).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            # Locked, so two requests cannot both use the same code.
            device = model.objects.select_for_update().get(pk=device_id)
            allowed, details = device.verify_is_allowed()
            if not allowed:
                wait = max(wait, _seconds_until((details or {}).get("locked_until")))
                continue
            checked = True
            if kind == "totp":
                verified = device.verify_token(candidate)
            else:
                verified = _recovery_code_use(device, candidate)
                if verified:
                    record(
                        action="user.2fa_recovery_code_used",
                        actor=user,
                        target=user,
                        request=request,
                        data={"codes_left": device.token_set.count()},
                    )
        if verified:
            return device
    record(
        action="user.2fa_failed",
        actor=user,
        target=user,
        request=request,
        data={"purpose": purpose, "kind": kind, "throttled": not checked and wait > 0},
    )
    if not checked and wait:
        raise TooManyAttempts(retry_after=wait)
    raise InvalidInput(
        "That code is not valid. Enter the newest code from your authenticator "
        "app, or an unused recovery code.",
        code="wrong_code",
        field="code",
    )


# --- recovery codes and removal ---------------------------------------------


def recovery_codes_regenerate(
    *,
    user: User,
    password: str = "",
    code: str = "",
    request: HttpRequest | None = None,
) -> list[str]:
    """Replace ``user``'s recovery codes; returns the new ones (shown once).

    Needs the account password or a current code. Records
    ``user.2fa_recovery_codes_regenerated``. Raises ``InvalidInput``
    (``not_enabled``, ``wrong_password``, ``wrong_code``) or
    ``TooManyAttempts``.
    """
    if not twofactor_enabled(user=user):
        raise InvalidInput("Two-factor authentication is not on.", code="not_enabled")
    if password:
        _check_password(user, password)
    elif code:
        twofactor_verify(
            user=user, code=code, request=request, purpose="recovery_codes"
        )
    else:
        raise InvalidInput(
            "Enter your password or a code from your authenticator app.",
            code="required",
        )
    with transaction.atomic():
        codes = _recovery_codes_replace(user)
        record(
            action="user.2fa_recovery_codes_regenerated",
            actor=user,
            target=user,
            request=request,
        )
    return codes


def twofactor_disable(
    *, user: User, password: str, code: str, request: HttpRequest | None = None
) -> None:
    """Remove ``user``'s authenticator app and recovery codes.

    Needs the password and a current code (or a recovery code). Staff must
    keep a second factor (every staff page requires one), so they are refused
    with ``Forbidden`` (``staff_requires_2fa``); they replace their
    authenticator app by enrolling a new one instead. Records
    ``user.2fa_disabled``.
    """
    if user.is_staff:
        raise Forbidden(
            "Staff accounts must keep two-factor authentication. To move to a "
            "new phone, set up the new authenticator app: it replaces the old "
            "one.",
            code="staff_requires_2fa",
        )
    if not twofactor_enabled(user=user):
        raise InvalidInput("Two-factor authentication is not on.", code="not_enabled")
    _check_password(user, password)
    twofactor_verify(user=user, code=code, request=request, purpose="disable")
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        record(action="user.2fa_disabled", actor=user, target=user, request=request)


# --- internals --------------------------------------------------------------


def _normalise_totp(code: str) -> str:
    return "".join((code or "").split())


def _normalise_recovery(code: str) -> str:
    return "".join((code or "").split()).replace("-", "").lower()


def _recovery_hashes(code: str) -> list[str]:
    """The stored forms ``code`` may have: one per signing key in use.

    A keyed hash, cut to 80 bits so it fits django-otp's 16-character token
    column. The fallback keys keep codes working across a SECRET_KEY rotation.
    """
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return [
        base64.b32encode(
            salted_hmac(
                _RECOVERY_HASH_SALT, code, secret=key, algorithm="sha256"
            ).digest()[:10]
        )
        .decode()
        .lower()
        for key in keys
    ]


def _recovery_codes_replace(user: User) -> list[str]:
    device, _ = StaticDevice.objects.get_or_create(
        user=user, defaults={"name": RECOVERY_DEVICE_NAME, "confirmed": True}
    )
    device.token_set.all().delete()
    codes = [
        "".join(
            secrets.choice(RECOVERY_CODE_ALPHABET) for _ in range(RECOVERY_CODE_LENGTH)
        )
        for _ in range(RECOVERY_CODE_COUNT)
    ]
    device.token_set.bulk_create(
        [
            device.token_set.model(device=device, token=_recovery_hashes(c)[0])
            for c in codes
        ]
    )
    half = RECOVERY_CODE_LENGTH // 2
    return [f"{c[:half]}-{c[half:]}" for c in codes]


def _recovery_code_use(device: StaticDevice, code: str) -> bool:
    # StaticDevice.verify_token, but matching the code's hashes.
    match = device.token_set.filter(token__in=_recovery_hashes(code)).first()
    if match is None:
        device.throttle_increment()
        return False
    match.delete()
    device.throttle_reset(commit=False)
    device.set_last_used_timestamp(commit=False)
    device.save()
    return True


def _raise_if_throttled(device: Device) -> None:
    allowed, details = device.verify_is_allowed()
    if not allowed:
        raise TooManyAttempts(
            retry_after=_seconds_until((details or {}).get("locked_until"))
        )


def _seconds_until(moment) -> int:
    if moment is None:
        return 1
    return max(1, math.ceil((moment - timezone.now()).total_seconds()))


def _check_password(user: User, password: str) -> None:
    if not user.check_password(password or ""):
        raise InvalidInput(
            "That is not your password.", code="wrong_password", field="password"
        )
