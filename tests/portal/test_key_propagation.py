"""Key changes reach every server process within a second (PostgreSQL + Redis).

Two gunicorn processes share this test's PostgreSQL database and Redis, as
two nodes behind a load balancer would. Each has warmed its per-process cache
with the key before the change is made here, in a third process.
"""

from __future__ import annotations

import time

import pytest

from apis.registry import SERVED_APIS
from portal.catalog.models import Plan
from portal.catalog.services import catalog_sync, subscription_create_active
from portal.keys.services import api_key_issue, api_key_revoke, api_key_set_scopes
from tests.factories import AppFactory
from tests.servers import call, gunicorn

pytestmark = pytest.mark.postgres

# The promise is "within one second"; the margin covers HTTP round trips on a
# loaded two-core machine, not a slower propagation.
DEADLINE = 1.5


def _call(base, key, **kwargs):
    status, body, _ = call(base, key, **kwargs)
    return status, body


@pytest.fixture
def servers(transactional_db):
    with gunicorn(2) as bases:
        yield bases


def _seconds_until(base: str, key: str, status: int, **call) -> float:
    start = time.monotonic()
    while time.monotonic() - start < DEADLINE + 1:
        if _call(base, key, **call)[0] == status:
            return time.monotonic() - start
        time.sleep(0.02)
    return float("inf")


@pytest.fixture
def issued():
    catalog_sync(specs=SERVED_APIS)
    app = AppFactory()
    subscription_create_active(
        app=app, plan=Plan.objects.get(api__slug="books", slug="starter")
    )
    return api_key_issue(app=app, name="node test")


def test_revocation_reaches_every_process_within_a_second(servers, issued):
    for base in servers:
        assert _call(base, issued.full_key)[0] == 200  # warm both caches
        assert _call(base, issued.full_key)[0] == 200

    api_key_revoke(key=issued.key, reason="propagation test")

    delays = [_seconds_until(base, issued.full_key, 401) for base in servers]
    print(f"revocation seen after {delays} s")
    assert all(delay <= DEADLINE for delay in delays), delays
    status, body = _call(servers[0], issued.full_key)
    assert (status, body["code"]) == (401, "key_revoked")


def test_team_suspension_and_scope_change_reach_every_process(servers, issued):
    book = {"title": "T", "author_id": 1, "year": 2000}
    for base in servers:
        assert _call(base, issued.full_key)[0] == 200
        # A POST passes the scope check (and fails later only on the body).
        assert _call(base, issued.full_key, method="POST", body=book)[0] == 400

    api_key_set_scopes(key=issued.key, scopes=["books:read"])
    delays = [
        _seconds_until(base, issued.full_key, 403, method="POST", body=book)
        for base in servers
    ]
    assert all(delay <= DEADLINE for delay in delays), delays

    team = issued.key.app.team
    team.is_active = False
    team.save(update_fields=["is_active"])
    delays = [_seconds_until(base, issued.full_key, 401) for base in servers]
    print(f"suspension seen after {delays} s")
    assert all(delay <= DEADLINE for delay in delays), delays
