"""Set an app up as an OAuth client from the command line; prints JSON."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from portal.errors import GatehouseError
from portal.oauth.selectors import app_get_by_qualified_slug
from portal.oauth.services import GRANTS, oauth_client_configure


class Command(BaseCommand):
    help = (
        "Make an app an OAuth client and print one JSON object with its "
        "client_id and, for a confidential client, its client_secret (shown "
        "only now). Errors go to stderr with a non-zero exit status."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--app", required=True, help="<team slug>/<app slug>")
        parser.add_argument("--grant", required=True, choices=sorted(GRANTS))
        parser.add_argument(
            "--redirect-uri",
            action="append",
            default=[],
            dest="redirect_uris",
            help="A redirect URI (repeat for several): https, or http on loopback.",
        )
        parser.add_argument(
            "--public", action="store_true", help="A public client (no secret)."
        )

    def handle(self, *args, **options) -> None:
        app = app_get_by_qualified_slug(options["app"])
        if app is None:
            raise CommandError(
                f"No app {options['app']!r}: name it as <team slug>/<app slug>."
            )
        try:
            secret = oauth_client_configure(
                app=app,
                grant=options["grant"],
                public=options["public"],
                redirect_uris=options["redirect_uris"],
            )
        except GatehouseError as error:
            raise CommandError(error.message) from error
        out = {"client_id": app.client_id}
        if secret is not None:
            out["client_secret"] = secret
        self.stdout.write(json.dumps(out))
