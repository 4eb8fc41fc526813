"""Calling the Books API with an API key, end to end through the test client.

Every way a key is accepted or refused, and how soon a change to the key, its
app, team, owner or subscription is seen: on the very next call, in the
process that made the change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.core.cache import cache

from apis.books.models import Book
from portal.audit.models import AuditEvent
from portal.catalog.models import SubscriptionStatus
from portal.catalog.services import subscription_create_active
from portal.keys import services
from portal.keys.keyformat import build_key
from portal.keys.models import ApiKey
from portal.oauth.models import AppStatus
from tests.apis.assertions import assert_problem, no_cache_access

BOOKS = "/api/books/v1/books/"
START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
CHALLENGE = 'Bearer realm="api"'
INVALID_TOKEN = 'Bearer realm="api", error="invalid_token"'


def get_books(client, full_key: str, **extra):
    return client.get(BOOKS, HTTP_X_API_KEY=full_key, **extra)


def post_book(client, full_key: str, author_id: int):
    return client.post(
        BOOKS,
        {"title": "New", "author_id": author_id, "year": 2001},
        format="json",
        HTTP_X_API_KEY=full_key,
    )


def assert_refused(response, status: int, code: str, challenge: str | None) -> dict:
    body = assert_problem(response, status, code)
    assert response.get("WWW-Authenticate") == challenge
    return body


@pytest.fixture
def author(author_factory):
    return author_factory()


@pytest.fixture
def frozen(time_machine):
    """The clock stopped at START; move it with ``frozen.move_to(...)``."""
    time_machine.move_to(START, tick=False)
    return time_machine


# --- presenting a key ---------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(lambda key: {"HTTP_X_API_KEY": key}, id="x-api-key"),
        pytest.param(
            lambda key: {"HTTP_AUTHORIZATION": f"Bearer {key}"}, id="authorization"
        ),
        pytest.param(
            lambda key: {"HTTP_AUTHORIZATION": f"bearer  {key} "}, id="lower-case"
        ),
    ],
)
def test_a_key_is_accepted_in_either_header(api_client, books_app, header):
    response = api_client.get(BOOKS, **header(books_app.full_key))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert books_app.full_key.startswith("gk_test_")


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="none"),
        pytest.param({"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"}, id="basic"),
        pytest.param({"HTTP_AUTHORIZATION": "Bearer"}, id="empty-bearer"),
    ],
)
def test_a_call_without_a_key_is_401_not_authenticated(api_client, catalog, headers):
    response = api_client.get(BOOKS, **headers)

    assert_refused(response, 401, "not_authenticated", CHALLENGE)


# --- malformed keys: refused before any lookup --------------------------------

MALFORMED = [
    pytest.param(lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"), id="checksum"),
    pytest.param(lambda k: k[:20] + k[21:] + "0", id="char-dropped-and-padded"),
    pytest.param(lambda k: k[:-1], id="truncated"),
    pytest.param(lambda k: k + "0", id="one-char-too-long"),
    pytest.param(lambda k: k.replace("gk_test_", "gk_live_", 1), id="live-prefix"),
    pytest.param(lambda k: build_key("live", k[8:20]), id="valid-live-key"),
    pytest.param(lambda k: k.upper(), id="upper-case"),
    pytest.param(lambda k: "not-a-key", id="garbage"),
    pytest.param(lambda k: "' OR 1=1 --", id="sql"),
    pytest.param(lambda k: "", id="empty"),
    pytest.param(lambda k: k[:-1] + "é", id="non-ascii"),
    pytest.param(lambda k: k[:30] + "\x00" + k[31:], id="nul"),
    pytest.param(lambda k: "gk_" * 10_000, id="huge"),
]


@pytest.mark.parametrize("mangle", MALFORMED)
def test_a_malformed_key_is_refused_without_database_or_cache(
    api_client, books_app, mangle, django_assert_num_queries
):
    with django_assert_num_queries(0), no_cache_access():
        response = get_books(api_client, mangle(books_app.full_key))

    assert_refused(response, 401, "invalid_token", INVALID_TOKEN)
    books_app.key.refresh_from_db()
    assert books_app.key.last_used_at is None


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda k: k[:-1] + ("A" if k[-1] != "A" else "B"), id="checksum"),
        pytest.param(lambda k: k.replace("gk_test_", "gk_live_", 1), id="live"),
        pytest.param(lambda k: k[:-6], id="truncated"),
    ],
)
def test_a_malformed_bearer_key_is_refused_without_database_or_cache(
    api_client, books_app, mangle, django_assert_num_queries
):
    with django_assert_num_queries(0), no_cache_access():
        response = api_client.get(
            BOOKS, HTTP_AUTHORIZATION=f"Bearer {mangle(books_app.full_key)}"
        )

    assert_refused(response, 401, "invalid_token", INVALID_TOKEN)


def test_a_well_formed_key_with_the_wrong_secret_is_refused(api_client, books_app):
    # Same lookup id, a fresh secret and a correct checksum: only the hash
    # comparison can tell.
    forged = build_key("test", books_app.key.lookup_id)

    response = get_books(api_client, forged)

    assert_refused(response, 401, "invalid_token", INVALID_TOKEN)


def test_an_unknown_key_is_looked_up_once_then_remembered(
    api_client, catalog, django_assert_num_queries
):
    from portal.keys.credentials import local_cache_clear

    unknown = build_key("test", "abcdefghjkmn")
    with django_assert_num_queries(1):
        first = get_books(api_client, unknown)
    local_cache_clear()  # as if the next call reached another worker
    with django_assert_num_queries(0):
        second = get_books(api_client, unknown)

    assert_refused(first, 401, "invalid_token", INVALID_TOKEN)
    assert_refused(second, 401, "invalid_token", INVALID_TOKEN)


# --- revocation, rotation, expiry ---------------------------------------------


def test_a_revoked_key_is_refused_on_the_very_next_call(
    api_client, books_app, developer
):
    assert get_books(api_client, books_app.full_key).status_code == 200

    services.api_key_revoke(key=books_app.key, reason="leaked", actor=developer)
    response = get_books(api_client, books_app.full_key)

    assert_refused(response, 401, "key_revoked", INVALID_TOKEN)
    key = ApiKey.objects.get(pk=books_app.key.pk)
    assert key.revoked_at is not None
    assert key.revoked_reason == "leaked"
    event = AuditEvent.objects.get(action="api_key.revoke")
    assert event.actor == developer
    assert event.data["reason"] == "leaked"


def test_after_a_rotation_both_keys_work_until_the_grace_period_ends(
    api_client, books_app, frozen
):
    old = books_app.full_key
    assert get_books(api_client, old).status_code == 200

    new = services.api_key_rotate(key=books_app.key, grace=timedelta(hours=1))

    assert get_books(api_client, old).status_code == 200
    assert get_books(api_client, new.full_key).status_code == 200
    assert ApiKey.objects.get(pk=books_app.key.pk).expires_at == START + timedelta(
        hours=1
    )
    assert new.key.replaces_id == books_app.key.pk

    frozen.move_to(START + timedelta(hours=1, seconds=1), tick=False)

    assert_refused(get_books(api_client, old), 401, "key_expired", INVALID_TOKEN)
    assert get_books(api_client, new.full_key).status_code == 200


def test_a_rotation_without_grace_refuses_the_old_key_at_once(api_client, books_app):
    assert get_books(api_client, books_app.full_key).status_code == 200

    new = services.api_key_rotate(key=books_app.key, grace=timedelta(0))

    response = get_books(api_client, books_app.full_key)
    assert_refused(response, 401, "key_revoked", INVALID_TOKEN)
    assert get_books(api_client, new.full_key).status_code == 200
    assert ApiKey.objects.get(pk=books_app.key.pk).revoked_reason == "rotated"


def test_a_key_is_refused_from_the_moment_it_expires(
    api_client, books_app, issue_key, frozen
):
    issued = issue_key(books_app.app, expires_at=START + timedelta(hours=1))
    assert get_books(api_client, issued.full_key).status_code == 200

    frozen.move_to(START + timedelta(minutes=59, seconds=59), tick=False)
    assert get_books(api_client, issued.full_key).status_code == 200

    frozen.move_to(START + timedelta(hours=1), tick=False)
    response = get_books(api_client, issued.full_key)

    assert_refused(response, 401, "key_expired", INVALID_TOKEN)


def test_a_shortened_expiry_takes_effect_on_the_next_call(
    api_client, books_app, frozen
):
    assert get_books(api_client, books_app.full_key).status_code == 200

    services.api_key_set_expiry(
        key=books_app.key, expires_at=START + timedelta(minutes=5)
    )
    frozen.move_to(START + timedelta(minutes=5), tick=False)

    response = get_books(api_client, books_app.full_key)
    assert_refused(response, 401, "key_expired", INVALID_TOKEN)


# --- allowed IP ranges --------------------------------------------------------


@pytest.mark.parametrize(
    ("ranges", "address", "status"),
    [
        pytest.param(["10.0.0.0/8"], "10.20.30.40", 200, id="v4-inside"),
        pytest.param(["10.0.0.0/8"], "192.168.1.10", 403, id="v4-outside"),
        pytest.param(["203.0.113.7"], "203.0.113.7", 200, id="v4-single"),
        pytest.param(["203.0.113.7"], "203.0.113.8", 403, id="v4-single-other"),
        pytest.param(["2001:db8::/32"], "2001:db8:1::5", 200, id="v6-inside"),
        pytest.param(["2001:db8::/32"], "2001:db9::5", 403, id="v6-outside"),
        pytest.param(["10.0.0.0/8", "2001:db8::/32"], "2001:db8::1", 200, id="mixed"),
        pytest.param(["2001:db8::/32"], "10.0.0.1", 403, id="v4-caller-v6-range"),
        pytest.param(["10.0.0.0/8"], "not-an-ip", 403, id="unparseable-addr"),
    ],
)
def test_a_key_with_allowed_ranges_serves_only_callers_inside_them(
    api_client, books_app, issue_key, ranges, address, status
):
    issued = issue_key(books_app.app, allowed_ips=ranges)

    response = get_books(api_client, issued.full_key, REMOTE_ADDR=address)

    if status == 200:
        assert response.status_code == 200
        return
    assert_refused(response, 403, "ip_not_allowed", None)
    issued.key.refresh_from_db()
    assert issued.key.last_used_at is None


def test_changed_allowed_ranges_apply_on_the_next_call(api_client, books_app):
    inside = {"REMOTE_ADDR": "10.1.1.1"}
    assert get_books(api_client, books_app.full_key, **inside).status_code == 200

    services.api_key_set_allowed_ips(key=books_app.key, allowed_ips=["192.0.2.0/24"])

    response = get_books(api_client, books_app.full_key, **inside)
    assert_refused(response, 403, "ip_not_allowed", None)


# --- scopes and subscriptions -------------------------------------------------


def test_a_key_without_the_scope_is_403_insufficient_scope(
    api_client, books_app, issue_key, author
):
    issued = issue_key(books_app.app, scopes=["books:read"])
    assert get_books(api_client, issued.full_key).status_code == 200

    response = post_book(api_client, issued.full_key, author.pk)

    body = assert_refused(
        response,
        403,
        "insufficient_scope",
        'Bearer realm="api", error="insufficient_scope", scope="books:write"',
    )
    assert body["missing_scopes"] == ["books:write"]
    assert not Book.objects.exists()


def test_a_scope_the_plan_lacks_is_refused_even_if_the_key_lists_it(
    api_client, developer_team, app_factory, read_only_plan, issue_key, author
):
    app = app_factory(team=developer_team)
    subscription_create_active(app=app, plan=read_only_plan)
    issued = issue_key(app)
    assert issued.key.scopes == ["books:read"]
    # As if set behind the services' back (admin, data fix): the plan still wins.
    issued.key.scopes = ["books:read", "books:write"]
    issued.key.save(update_fields=["scopes"])

    response = post_book(api_client, issued.full_key, author.pk)

    body = assert_problem(response, 403, "insufficient_scope")
    assert body["missing_scopes"] == ["books:write"]
    assert 'error="insufficient_scope"' in response["WWW-Authenticate"]
    assert not Book.objects.exists()
    assert get_books(api_client, issued.full_key).status_code == 200


def test_a_scope_change_applies_on_the_next_call(api_client, books_app, author):
    assert post_book(api_client, books_app.full_key, author.pk).status_code == 201

    services.api_key_set_scopes(key=books_app.key, scopes=["books:read"])
    refused = post_book(api_client, books_app.full_key, author.pk)

    assert_problem(refused, 403, "insufficient_scope")
    assert Book.objects.count() == 1

    services.api_key_set_scopes(key=books_app.key, scopes=["books:read", "books:write"])
    assert post_book(api_client, books_app.full_key, author.pk).status_code == 201


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (SubscriptionStatus.CANCELLED, "no_subscription"),
        (SubscriptionStatus.REJECTED, "no_subscription"),
        (SubscriptionStatus.PENDING, "subscription_pending"),
    ],
)
def test_without_an_active_subscription_the_call_is_403(
    api_client, books_app, status, code
):
    assert get_books(api_client, books_app.full_key).status_code == 200

    books_app.subscription.status = status
    books_app.subscription.save()
    response = get_books(api_client, books_app.full_key)

    assert_refused(response, 403, code, None)


# --- suspension ---------------------------------------------------------------


def suspend_team(books_app, developer):
    books_app.app.team.is_active = False
    books_app.app.team.save()


def suspend_app(books_app, developer):
    books_app.app.status = AppStatus.SUSPENDED
    books_app.app.save()


def deactivate_key_creator(books_app, developer):
    assert books_app.key.created_by == developer
    developer.is_active = False
    developer.save()


@pytest.mark.parametrize("suspend", [suspend_team, suspend_app, deactivate_key_creator])
def test_a_suspension_refuses_the_key_on_the_next_call(
    api_client, books_app, developer, suspend
):
    assert get_books(api_client, books_app.full_key).status_code == 200

    suspend(books_app, developer)
    response = get_books(api_client, books_app.full_key)

    assert_refused(response, 401, "credential_suspended", INVALID_TOKEN)
    assert ApiKey.objects.get(pk=books_app.key.pk).revoked_at is None


# --- the warm path ------------------------------------------------------------


def test_a_warm_key_is_verified_without_any_query(
    api_client, books_app, django_assert_num_queries, author
):
    assert get_books(api_client, books_app.full_key).status_code == 200
    services.api_key_set_scopes(key=books_app.key, scopes=["books:read"])
    assert get_books(api_client, books_app.full_key).status_code == 200

    # Authentication and scope check only: refused before the view runs.
    with django_assert_num_queries(0):
        response = post_book(api_client, books_app.full_key, author.pk)

    assert_problem(response, 403, "insufficient_scope")


def test_a_warm_detail_call_makes_only_the_books_own_query(
    api_client, books_app, book_factory, django_assert_num_queries
):
    book = book_factory()
    url = f"{BOOKS}{book.pk}/"
    assert api_client.get(url, HTTP_X_API_KEY=books_app.full_key).status_code == 200

    with django_assert_num_queries(1) as captured:
        response = api_client.get(url, HTTP_X_API_KEY=books_app.full_key)

    assert response.status_code == 200
    assert "books_book" in captured.captured_queries[0]["sql"]


def _let_the_shared_last_used_marker_lapse(key: ApiKey) -> None:
    # Redis expires keys on its own clock, which time travel does not move;
    # the in-process cache expires them on time.time(), which it does.
    if "redis" in settings.CACHES["default"]["BACKEND"].lower():
        cache.delete(f"gk:used:{key.pk}")


def test_last_used_at_is_written_at_most_once_a_minute(
    api_client, books_app, frozen, django_assert_num_queries
):
    assert books_app.key.last_used_at is None

    assert get_books(api_client, books_app.full_key).status_code == 200
    books_app.key.refresh_from_db()
    assert books_app.key.last_used_at == START

    frozen.move_to(START + timedelta(seconds=30), tick=False)
    assert get_books(api_client, books_app.full_key).status_code == 200
    books_app.key.refresh_from_db()
    assert books_app.key.last_used_at == START

    frozen.move_to(START + timedelta(seconds=61), tick=False)
    _let_the_shared_last_used_marker_lapse(books_app.key)
    assert get_books(api_client, books_app.full_key).status_code == 200
    books_app.key.refresh_from_db()
    assert books_app.key.last_used_at == START + timedelta(seconds=61)
