"""How long the API-key check takes for an unknown key, a known lookup id
with a wrong secret, and a valid key: reported, never asserted.

Each case is 2,000 calls of the authentication class on a warm cache (every
key checked once first). All three carry a valid checksum, so each reaches
the lookup: the unknown id is answered from the short-lived "no such key"
cache entry, the wrong secret is compared with the stored keyed hash
(``hmac.compare_digest``, constant time), and the valid key is served from
the cache. Only the outcomes are asserted; the medians and 90th percentiles
are printed for SECURITY.md (run with ``-s``). Timings depend on the machine
and its load, so no test may fail on them.
"""

from __future__ import annotations

import statistics
import time

import pytest
from rest_framework.test import APIRequestFactory

from apis.exceptions import InvalidCredential
from portal.keys import conf
from portal.keys.authentication import ApiKeyAuthentication
from portal.keys.keyformat import build_key, new_lookup_id, parse_key

pytestmark = pytest.mark.django_db

CALLS = 2_000


def timed(request, calls: int) -> tuple[list[float], set[int]]:
    """Microseconds per call, and the statuses the calls ended with."""
    authentication = ApiKeyAuthentication()
    durations, statuses = [], set()
    for _ in range(calls):
        start = time.perf_counter()
        try:
            authentication.authenticate(request)
            status = 200
        except InvalidCredential as error:
            status = error.status_code
        durations.append((time.perf_counter() - start) * 1e6)
        statuses.add(status)
    return durations, statuses


def test_key_check_latency_is_reported(books_app):
    factory = APIRequestFactory()
    environment = conf.environment()
    known = books_app.key.lookup_id
    unknown = new_lookup_id()
    while unknown == known:
        unknown = new_lookup_id()
    cases = {
        "unknown lookup id": build_key(environment, unknown),
        "known lookup id, wrong secret": build_key(environment, known),
        "valid key": books_app.full_key,
    }
    for key in cases.values():
        assert parse_key(key, environment=environment) is not None  # checksum ok
    expected = {
        "unknown lookup id": {401},
        "known lookup id, wrong secret": {401},
        "valid key": {200},
    }

    results = {}
    for label, key in cases.items():
        request = factory.get("/", HTTP_X_API_KEY=key)
        timed(request, 20)  # warm: the cache entry (or "no such key") is there
        durations, statuses = timed(request, CALLS)
        assert statuses == expected[label], (label, statuses)
        results[label] = durations

    for label, durations in results.items():
        deciles = statistics.quantiles(durations, n=10)
        print(
            f"FIGURE: key check, {label}: median "
            f"{statistics.median(durations):.1f} µs, p90 {deciles[8]:.1f} µs "
            f"over {len(durations)} calls"
        )
