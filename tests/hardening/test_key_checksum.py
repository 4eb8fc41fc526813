"""A mistyped, truncated or tampered key is refused by its checksum alone.

10,000 one-character mutations of real keys (a character replaced, inserted
or deleted at a random position, from a seeded generator) are each refused
with 401 ``invalid_token`` without a single database query or cache access:
the format and the CRC-32 checksum are checked before any lookup, so garbage
keys cost the portal nothing. A sample goes through the HTTP stack too.

Run with ``-s`` to see the ``FIGURE:`` lines SECURITY.md quotes.
"""

from __future__ import annotations

import random
import string

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIRequestFactory

from apis.exceptions import InvalidCredential
from portal.keys.authentication import ApiKeyAuthentication
from tests.apis.assertions import assert_problem, no_cache_access

pytestmark = pytest.mark.django_db

MUTATIONS = 10_000
HTTP_SAMPLE = 200
SEED = 20230601
# What a key is made of, plus look-alikes; no whitespace, which is trimmed
# from a header value and so is no mutation of the key.
ALPHABET = string.ascii_letters + string.digits + "_-.=+/~"


def mutate(key: str, rng: random.Random) -> tuple[str, str]:
    """One random one-character edit of ``key``, and its kind."""
    kind = rng.choice(("substitute", "insert", "delete"))
    at = rng.randrange(len(key) + (kind == "insert"))
    if kind == "substitute":
        char = rng.choice(ALPHABET.replace(key[at], ""))
        return key[:at] + char + key[at + 1 :], kind
    if kind == "insert":
        return key[:at] + rng.choice(ALPHABET) + key[at:], kind
    return key[:at] + key[at + 1 :], kind


@pytest.fixture
def valid_keys(books_app, issue_key) -> list[str]:
    """Ten real keys of one app, each checked to authenticate first."""
    keys = [books_app.full_key] + [
        issue_key(books_app.app, name=f"key {n}").full_key for n in range(9)
    ]
    factory = APIRequestFactory()
    for key in keys:
        assert ApiKeyAuthentication().authenticate(factory.get("/", HTTP_X_API_KEY=key))
    return keys


def mutations(keys: list[str], count: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    made = [mutate(rng.choice(keys), rng) for _ in range(count)]
    assert not {m for m, _ in made} & set(keys)
    return made


def test_ten_thousand_mutations_are_refused_without_a_query(valid_keys):
    authentication = ApiKeyAuthentication()
    factory = APIRequestFactory()
    requests = [
        (factory.get("/", HTTP_X_API_KEY=mutated), kind)
        for mutated, kind in mutations(valid_keys, MUTATIONS, SEED)
    ]
    refused: dict[str, int] = {}

    with CaptureQueriesContext(connection) as queries, no_cache_access():
        for request, kind in requests:
            with pytest.raises(InvalidCredential) as error:
                authentication.authenticate(request)
            assert error.value.status_code == 401
            assert error.value.problem_code == "invalid_token"
            refused[kind] = refused.get(kind, 0) + 1

    print(
        f"FIGURE: {sum(refused.values())} one-character mutations of "
        f"{len(valid_keys)} valid keys refused with 401 "
        f"({', '.join(f'{k} {n}' for k, n in sorted(refused.items()))}), "
        f"{len(queries)} database queries, 0 cache calls"
    )
    assert sum(refused.values()) == MUTATIONS
    assert len(queries) == 0


def test_a_sample_through_http_is_401_without_a_query(client, valid_keys):
    sample = mutations(valid_keys, HTTP_SAMPLE, SEED + 1)

    with CaptureQueriesContext(connection) as queries:
        for mutated, _kind in sample:
            response = client.get("/api/books/v1/books/", HTTP_X_API_KEY=mutated)
            assert_problem(response, 401, "invalid_token")
            assert 'error="invalid_token"' in response["WWW-Authenticate"]

    print(
        f"FIGURE: {len(sample)} mutated keys over HTTP: all 401 invalid_token, "
        f"{len(queries)} database queries"
    )
    assert len(queries) == 0
