"""Fill the benchmark database and print what the load run needs, as JSON.

``benchmarks/run.py`` runs this (``python -m benchmarks.prepare``) in the
benchmark's environment against a freshly created, empty database. It
migrates, seeds the demo data, issues a Gatehouse key for ``demo/demo-app``
through ``createapikey`` and a djangorestframework-api-key key, then prints
``{"book_id": ..., "gatehouse_key": ..., "drf_api_key": ...}``. Nothing else
reaches stdout: the commands' own output (demo passwords included) is
swallowed.
"""

from __future__ import annotations

import io
import json

import django

# The demo plan's rate tiers would cap the Gatehouse key far below what the
# benchmark sends once limits are enforced; the key's own tier lifts them.
UNLIMITED_RATE = "100000000/s"


def main() -> None:
    django.setup()

    from django.core.management import call_command
    from rest_framework_api_key.models import APIKey

    from apis.books.models import Book

    quiet = io.StringIO()
    call_command("migrate", interactive=False, verbosity=0, stdout=quiet)
    call_command("seed_demo", stdout=quiet)
    issued = io.StringIO()
    call_command(
        "createapikey",
        app="demo/demo-app",
        name="load benchmark",
        scopes="books:read",
        rate=[UNLIMITED_RATE],
        stdout=issued,
    )
    _, drf_api_key = APIKey.objects.create_key(name="load benchmark")
    book_id = Book.objects.order_by("pk").values_list("pk", flat=True).first()
    if book_id is None:
        raise SystemExit("seed_demo created no books.")
    print(
        json.dumps(
            {
                "book_id": book_id,
                "gatehouse_key": issued.getvalue().strip(),
                "drf_api_key": drf_api_key,
            }
        )
    )


if __name__ == "__main__":
    main()
