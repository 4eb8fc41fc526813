"""Signed, expiring email-verification links."""

from __future__ import annotations

from django.conf import settings
from django.core import signing

from portal.accounts.models import User

_SALT = "gatehouse.accounts.email-verification"


def email_verification_token(user: User) -> str:
    # The address is signed too: a link sent before an email change cannot
    # verify the new address.
    return signing.dumps({"u": user.pk, "e": user.email.lower()}, salt=_SALT)


def email_verification_user(token: str) -> User | None:
    """The user a verification token names, or None if it is bad or expired."""
    try:
        payload = signing.loads(
            token, salt=_SALT, max_age=settings.EMAIL_VERIFICATION_TIMEOUT
        )
        user = User.objects.get(pk=int(payload["u"]))
    except (signing.BadSignature, KeyError, TypeError, ValueError, User.DoesNotExist):
        return None
    if user.email.lower() != payload["e"]:
        return None
    return user
