"""Issue an API key from the command line; the full key is all stdout gets."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from portal.errors import GatehouseError
from portal.keys.services import api_key_issue
from portal.oauth.selectors import app_get_by_qualified_slug


class Command(BaseCommand):
    help = (
        "Issue an API key for an app and print the full key (shown only once) "
        "on stdout. Errors go to stderr with a non-zero exit status."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--app", required=True, help="The app as <team slug>/<app slug>."
        )
        parser.add_argument("--name", default="CLI key", help="A name for the key.")
        parser.add_argument(
            "--scopes",
            help="Comma-separated scopes, e.g. books:read,books:write "
            "(default: every scope the app's subscriptions grant).",
        )
        parser.add_argument(
            "--expires-in-days", type=int, help="Expire the key after D days."
        )
        parser.add_argument(
            "--rate",
            action="append",
            default=[],
            help="The key's own rate tier, e.g. 50/m; repeat for several.",
        )

    def handle(self, *args, **options) -> None:
        app = app_get_by_qualified_slug(options["app"])
        if app is None:
            raise CommandError(
                f"No app {options['app']!r}: name it as <team slug>/<app slug>."
            )
        scopes = None
        if options["scopes"] is not None:
            scopes = [s for s in options["scopes"].split(",") if s.strip()]
        expires_at = None
        days = options["expires_in_days"]
        if days is not None:
            if not 1 <= days <= 3650:
                raise CommandError("--expires-in-days must be between 1 and 3650.")
            expires_at = timezone.now() + timedelta(days=days)
        try:
            issued = api_key_issue(
                app=app,
                name=options["name"],
                scopes=scopes,
                expires_at=expires_at,
                rate_override=options["rate"],
            )
        except GatehouseError as error:
            raise CommandError(error.message) from error
        self.stdout.write(issued.full_key)
