from django.core.management.base import BaseCommand

from apis.registry import SERVED_APIS
from portal.catalog.services import catalog_sync


class Command(BaseCommand):
    help = "Bring the API catalog (APIs, scopes, default plans) in line with the code."

    def handle(self, *args, **options) -> None:
        report = catalog_sync(specs=SERVED_APIS)
        self.stdout.write(
            f"Catalog synced: {len(SERVED_APIS)} API(s); "
            f"{report.apis_created} API(s), {report.scopes_created} scope(s), "
            f"{report.plans_created} plan(s) created; "
            f"{report.scopes_removed} scope(s) removed."
        )
