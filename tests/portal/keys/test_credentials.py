"""The two-layer key cache behind a served call.

A change is seen by the process that made it on its very next lookup, and by
every other process within a second (their own layer lives that long).
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIRequestFactory

from portal.keys import credentials, services
from portal.keys.authentication import ApiKeyAuthentication, CredentialUser
from portal.keys.credentials import key_entry_get


class MonotonicClock:
    """Stands in for the ``time`` module in ``portal.keys.credentials``.

    time-machine moves ``time.time()`` but not ``time.monotonic()``, which
    bounds the per-process layer; this one is moved by hand.
    """

    def __init__(self):
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return time.time()


@pytest.fixture
def clock(monkeypatch):
    clock = MonotonicClock()
    monkeypatch.setattr(credentials, "time", clock)
    return clock


@pytest.fixture
def warm(books_app, clock, time_machine):
    """The books_app key, looked up once a while after it was issued."""
    time_machine.move_to(timezone.now() + timedelta(seconds=5))
    entry = key_entry_get(books_app.key.lookup_id)
    assert entry is not None
    return books_app


def as_another_process(lookup_id: str, change) -> None:
    """Run ``change`` the way another worker would: our layer keeps its entry."""
    mine = credentials._local[f"key:{lookup_id}"]
    change()
    credentials._local[f"key:{lookup_id}"] = mine


def test_a_warm_lookup_makes_no_query(warm, django_assert_num_queries):
    with django_assert_num_queries(0):
        entry = key_entry_get(warm.key.lookup_id)

    assert entry.credential.app_id == warm.app.pk
    assert entry.credential.scopes == frozenset({"books:read", "books:write"})
    assert entry.credential.subscription_for("books").plan_slug == "starter"


def test_after_a_second_the_shared_cache_answers_without_a_query(
    warm, clock, django_assert_num_queries
):
    clock.now += 1.01

    with django_assert_num_queries(0):
        entry = key_entry_get(warm.key.lookup_id)

    assert entry is not None


def test_a_change_in_another_process_is_seen_within_a_second(warm, clock):
    lookup_id = warm.key.lookup_id
    as_another_process(
        lookup_id, lambda: services.api_key_revoke(key=warm.key, reason="leaked")
    )

    clock.now += 0.5
    assert key_entry_get(lookup_id).revoked is False  # this process's second
    clock.now += 0.51
    assert key_entry_get(lookup_id).revoked is True


def test_a_change_in_this_process_is_seen_at_once(warm):
    services.api_key_set_scopes(key=warm.key, scopes=["books:read"])

    assert key_entry_get(warm.key.lookup_id).credential.scopes == {"books:read"}


def test_the_authenticator_verifies_a_warm_key_without_a_query(
    warm, clock, django_assert_num_queries
):
    request = APIRequestFactory().get("/", HTTP_X_API_KEY=warm.full_key)
    authenticator = ApiKeyAuthentication()
    authenticator.authenticate(request)  # the first call writes last_used_at

    with django_assert_num_queries(0):
        user, credential = authenticator.authenticate(request)

    assert isinstance(user, CredentialUser)
    assert credential.key_id == warm.key.pk
    assert str(user) == f"app:{warm.app.qualified_slug}"
