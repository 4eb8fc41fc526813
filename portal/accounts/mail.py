"""Account emails: rendered in the request, delivered by a background task."""

from __future__ import annotations

from django.db import transaction
from django.template.loader import render_to_string

from portal.accounts.tasks import email_send


def email_schedule(*, template: str, to: str, context: dict) -> None:
    """Send ``templates/emails/<template>.txt`` once the transaction commits.

    The first line of the rendered template is the subject.
    """
    subject, _, body = render_to_string(f"emails/{template}.txt", context).partition(
        "\n"
    )
    transaction.on_commit(
        lambda: email_send.enqueue(subject=subject.strip(), body=body.lstrip(), to=[to])
    )
