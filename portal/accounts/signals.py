"""Login successes and failures go to the audit trail."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.dispatch import receiver

from portal.accounts.models import User
from portal.audit.services import record


@receiver(user_logged_in, dispatch_uid="gatehouse.audit.login")
def audit_login(sender, request, user, **kwargs) -> None:
    record(action="user.login", actor=user, target=user, request=request)


@receiver(user_login_failed, dispatch_uid="gatehouse.audit.login_failed")
def audit_login_failed(sender, credentials, request=None, **kwargs) -> None:
    # Only the submitted login name is kept; Django has already replaced the
    # password in `credentials` with a placeholder, and we drop it anyway.
    # The account it names, if any, is the target: its owner sees the attempt.
    email = str(credentials.get("username", ""))[:254]
    record(
        action="user.login_failed",
        target=User.objects.filter(email__iexact=email).first() if email else None,
        request=request,
        data={"email": email},
    )
