"""Assertions shared by the served-API tests."""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from unittest import mock

from django.core.cache import cache

PROBLEM_JSON = "application/problem+json"

# Every way the key cache could be consulted or filled.
_CACHE_METHODS = ("get", "get_many", "set", "set_many", "add", "delete", "delete_many")


def assert_problem(response, status: int, code: str) -> dict:
    """Check an RFC 9457 error response and return its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM_JSON
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"].endswith(f"/{code}")
    assert body["title"]
    assert body["detail"]
    return body


@contextmanager
def no_cache_access():
    """Fail if the block reads or writes the cache.

    Spies only: every call still reaches the real cache.
    """
    with ExitStack() as stack:
        spies = {
            name: stack.enter_context(
                mock.patch.object(cache, name, wraps=getattr(cache, name))
            )
            for name in _CACHE_METHODS
        }
        yield spies
    used = {name: spy.call_args_list for name, spy in spies.items() if spy.called}
    assert not used, f"the cache was used: {used}"
