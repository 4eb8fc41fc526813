"""Fill the benchmark database and print what the load run needs, as JSON.

``benchmarks/run.py`` runs this (``python -m benchmarks.prepare``) in the
benchmark's environment against a freshly created, empty database. It
migrates and seeds the demo data, lifts the demo plan's limits out of the
benchmark's way, and issues the credentials:

- a Gatehouse key for ``demo/demo-app`` through ``createapikey``, with its own
  ``100000000/s`` tier;
- an OAuth access token for the same app: ``createoauthclient --grant
  client-credentials``, then a client-credentials request (scope
  ``books:read``) to the real token endpoint;
- a djangorestframework-api-key key;
- a second Gatehouse key limited to ``50/m``, for the over-admission test.

Then it counts, in process, the database queries one call makes on every
set-up, cold (the first call) and warm (the third), and gives what the run
needs to follow usage recording: the Redis keys recorded calls wait under
until ``flush_usage`` folds them in, the roll-up table, and the load key's id
and route as the roll-ups record them. It prints one JSON object;
nothing else reaches stdout: the commands' own output (demo passwords and the
client secret included) is swallowed.
"""

from __future__ import annotations

import io
import json
from urllib.parse import urlencode

import django

# The demo plan's rate tiers would cap the Gatehouse key far below what the
# benchmark sends once limits are enforced; the key's own tier lifts them.
UNLIMITED_RATE = "100000000/s"
# An OAuth token has no tier of its own: the plan's tiers count per app. The
# plan gets the same unlimited tier and a quota no run reaches, so every call
# is still counted against a tier and the quota, and none is refused.
UNLIMITED_QUOTA = 10**15
# The over-admission test's key: 400 concurrent calls against this.
OVER_ADMISSION_RATE = "50/m"
HOST = "127.0.0.1"


def _oauth_token(app_slug: str) -> str:
    from django.core.management import call_command
    from django.test import Client

    configured = io.StringIO()
    call_command(
        "createoauthclient", app=app_slug, grant="client-credentials", stdout=configured
    )
    client = json.loads(configured.getvalue())
    response = Client(SERVER_NAME=HOST).post(
        "/o/token/",
        urlencode(
            {
                "grant_type": "client_credentials",
                "scope": "books:read",
                "client_id": client["client_id"],
                "client_secret": client["client_secret"],
            }
        ),
        content_type="application/x-www-form-urlencoded",
    )
    if response.status_code != 200:
        raise SystemExit(
            f"The token endpoint answered {response.status_code}: {response.content!r}"
        )
    return response.json()["access_token"]


def _queries(calls: dict[str, tuple[str, dict[str, str]]]) -> dict[str, dict]:
    """Queries per call on each set-up: the first call, and the third (warm:
    the credential is in this process's cache by then)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(SERVER_NAME=HOST)
    counts = {}
    for name, (path, headers) in calls.items():
        seen = []
        for _ in range(3):
            with CaptureQueriesContext(connection) as captured:
                response = client.get(path, headers=headers)
            if response.status_code != 200:
                raise SystemExit(f"{name}: GET {path} answered {response.status_code}")
            seen.append(captured.captured_queries)
        counts[name] = {
            "cold": len(seen[0]),
            "warm": len(seen[2]),
            "warm_sql": [q["sql"][:120] for q in seen[2]],
        }
    return counts


def main() -> None:
    django.setup()

    from django.conf import settings
    from django.core.management import call_command
    from django.urls import resolve
    from rest_framework_api_key.models import APIKey

    from apis.books.models import Book
    from portal.catalog.models import Plan
    from portal.keys import conf
    from portal.keys.keyformat import parse_key
    from portal.keys.models import ApiKey
    from portal.usage.models import UsageRollup

    quiet = io.StringIO()
    call_command("migrate", interactive=False, verbosity=0, stdout=quiet)
    call_command("seed_demo", stdout=quiet)
    lifted = Plan.objects.filter(
        subscriptions__app__team__slug="demo", subscriptions__app__slug="demo-app"
    ).update(rate_tiers=[UNLIMITED_RATE], monthly_quota=UNLIMITED_QUOTA)
    if not lifted:
        raise SystemExit("seed_demo subscribed demo/demo-app to no plan.")

    def issue(name: str, rate: str) -> str:
        issued = io.StringIO()
        call_command(
            "createapikey",
            app="demo/demo-app",
            name=name,
            scopes="books:read",
            rate=[rate],
            stdout=issued,
        )
        return issued.getvalue().strip()

    def key_id(key: str) -> int:
        parsed = parse_key(key, environment=conf.environment())
        return ApiKey.objects.get(lookup_id=parsed.lookup_id).pk

    gatehouse_key = issue("load benchmark", UNLIMITED_RATE)
    limited_key = issue("over-admission benchmark", OVER_ADMISSION_RATE)
    limited_key_id = key_id(limited_key)
    access_token = _oauth_token("demo/demo-app")
    _, drf_api_key = APIKey.objects.create_key(name="load benchmark")
    book_id = Book.objects.order_by("pk").values_list("pk", flat=True).first()
    if book_id is None:
        raise SystemExit("seed_demo created no books.")

    book = f"books/{book_id}/"
    bearer = {"Authorization": f"Bearer {access_token}"}
    queries = _queries(
        {
            "baseline": (f"/bench/baseline/{book}", {}),
            "gatehouse": (f"/api/books/v1/{book}", {"X-API-Key": gatehouse_key}),
            "gatehouse-per-call": (
                f"/bench/limits-per-call/{book}",
                {"X-API-Key": gatehouse_key},
            ),
            "gatehouse-get-usage": (
                f"/bench/ratelimit-get-usage/{book}",
                {"X-API-Key": gatehouse_key},
            ),
            "gatehouse-oauth": (f"/api/books/v1/{book}", bearer),
            "drf-api-key": (
                f"/bench/drf-api-key/{book}",
                {"Authorization": f"Api-Key {drf_api_key}"},
            ),
            "dot-oauth": (f"/bench/dot-oauth/{book}", bearer),
        }
    )
    # store.py's own key names, so that a rename there cannot leave the run
    # watching keys nobody writes.
    from portal.usage import store

    usage = {
        "pending_key": store._key("pending"),
        "claims_key": store._key("claims"),
        "ship_interval": settings.USAGE_SHIP_INTERVAL_SECONDS,
        "table": UsageRollup._meta.db_table,
        "key_id": key_id(gatehouse_key),
        # As portal/usage/served.py records it: the route pattern.
        "route": "/" + resolve(f"/api/books/v1/{book}").route,
    }
    print(
        json.dumps(
            {
                "book_id": book_id,
                "gatehouse_key": gatehouse_key,
                "access_token": access_token,
                "drf_api_key": drf_api_key,
                "limited_key": limited_key,
                "limited_key_id": limited_key_id,
                "queries": queries,
                "usage": usage,
            }
        )
    )


if __name__ == "__main__":
    main()
