"""Emit ``key.expiring`` for keys that expire within 7 days or within 1 day."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from portal.webhooks.services import emit_expiring_keys


class Command(BaseCommand):
    help = (
        "Emit key.expiring events (7 days and 1 day before each key expires). "
        "Idempotent: run it hourly from cron."
    )

    def handle(self, *args, **options) -> None:
        count = emit_expiring_keys()
        self.stdout.write(f"{count} key.expiring event(s) emitted.")
