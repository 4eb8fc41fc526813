from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from portal.keys.keyformat import is_lookup_id
from portal.keys.models import ApiKey
from portal.keys.services import api_key_revoke


class Command(BaseCommand):
    help = "Revoke an API key by its lookup id; its next call is refused."

    def add_arguments(self, parser) -> None:
        parser.add_argument("lookup_id", help="The key's lookup id (12 characters).")
        parser.add_argument("--reason", default="revoked from the command line")

    def handle(self, *args, **options) -> None:
        lookup_id = options["lookup_id"].strip()
        key = (
            ApiKey.objects.select_related("app__team")
            .filter(lookup_id=lookup_id)
            .first()
            if is_lookup_id(lookup_id)
            else None
        )
        if key is None:
            raise CommandError(f"No API key with lookup id {lookup_id!r}.")
        if key.revoked_at is not None:
            raise CommandError(f"Key {lookup_id} was already revoked.")
        api_key_revoke(key=key, reason=options["reason"])
        self.stdout.write(f"Revoked {lookup_id}.")
