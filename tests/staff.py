"""Staff sessions for tests: a staff user with a confirmed TOTP device, logged
in and verified in the test client's session (as after a real 2FA login)."""

from __future__ import annotations

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice


def totp_device(user, *, name: str = "Authenticator") -> TOTPDevice:
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=name, confirmed=True)
    return device


def staff_login(client, user) -> TOTPDevice:
    """Log ``user`` into ``client`` with a verified second factor."""
    device = totp_device(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device
