from __future__ import annotations

from django.core.mail import send_mail
from django_tasks import task


@task()
def email_send(*, subject: str, body: str, to: list[str]) -> None:
    """Deliver one plain-text email through the configured backend."""
    send_mail(subject, body, None, to)
