"""OAuth access tokens on the served API: the same credential, cache and
errors as API keys, and every change seen on the very next call in the
process that made it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from portal.catalog.models import Subscription, SubscriptionStatus
from portal.keys.credentials import Credential, local_cache_clear
from portal.oauth.models import AppStatus
from tests.apis.assertions import assert_problem, no_cache_access
from tests.portal.oauth.flows import (
    BOOKS,
    Pkce,
    bearer,
    client_credentials,
    consent,
    exchange_code,
    get_books,
    refresh,
    revoke,
    tokens,
)

INVALID_TOKEN = 'Bearer realm="api", error="invalid_token"'


def credential_of(response) -> Credential:
    """The credential the served view ran under (DRF's ``request.auth``)."""
    assert response.status_code == 200, response.content
    return response.renderer_context["request"].auth


def assert_refused(response, code: str) -> None:
    assert_problem(response, 401, code)
    assert response["WWW-Authenticate"] == INVALID_TOKEN


@pytest.fixture
def machine_token(machine_client) -> str:
    """A client-credentials access token of ``machine_client``: both scopes."""
    body = tokens(client_credentials(Client(), machine_client, scope=None))
    assert set(body["scope"].split()) == {"books:read", "books:write"}
    return body["access_token"]


@pytest.fixture
def user_tokens(owner_client, code_client) -> dict:
    """Tokens ``resource_owner`` granted ``code_client`` (books:read)."""
    pkce = Pkce()
    code = consent(owner_client, code_client, pkce)
    return tokens(exchange_code(Client(), code_client, code, pkce))


# --- one credential for keys and tokens -----------------------------------------------


def test_a_token_gives_the_same_credential_as_a_key_of_the_same_app(
    api_client, machine_client, machine_token, issue_key
):
    full_key = issue_key(machine_client.app).full_key

    by_key = credential_of(api_client.get(BOOKS, HTTP_X_API_KEY=full_key))
    by_token = credential_of(api_client.get(BOOKS, **bearer(machine_token)))

    assert (by_key.kind, by_token.kind) == ("api_key", "oauth_token")
    assert by_token.app_id == by_key.app_id == machine_client.app.pk
    assert by_token.team_id == by_key.team_id == machine_client.app.team_id
    assert by_token.app_slug == by_key.app_slug
    assert by_token.team_slug == by_key.team_slug
    assert by_token.subscriptions == by_key.subscriptions
    assert by_token.scopes == by_key.scopes == {"books:read", "books:write"}
    assert by_token.user_id is None


def test_a_user_token_carries_the_user_and_only_the_consented_scope(
    api_client, code_client, user_tokens, resource_owner
):
    credential = credential_of(get_books(api_client, user_tokens["access_token"]))

    assert credential.kind == "oauth_token"
    assert credential.app_id == code_client.app.pk
    assert credential.user_id == resource_owner.pk
    assert credential.scopes == {"books:read"}


def test_a_token_without_the_scope_is_403_insufficient_scope(
    api_client, user_tokens, author_factory
):
    author = author_factory()

    response = api_client.post(
        BOOKS,
        {"title": "New", "author_id": author.pk, "year": 2001},
        format="json",
        **bearer(user_tokens["access_token"]),
    )

    body = assert_problem(response, 403, "insufficient_scope")
    assert body["missing_scopes"] == ["books:write"]
    assert response["WWW-Authenticate"] == (
        'Bearer realm="api", error="insufficient_scope", scope="books:write"'
    )


def test_a_token_scope_the_plan_no_longer_grants_is_refused(
    api_client, machine_client, machine_token, read_only_plan
):
    assert get_books(api_client, machine_token).status_code == 200
    subscription = Subscription.objects.get(app=machine_client.app)
    subscription.plan = read_only_plan
    subscription.save()

    response = api_client.post(BOOKS, {}, format="json", **bearer(machine_token))

    assert_problem(response, 403, "insufficient_scope")


def test_a_cancelled_subscription_refuses_the_token_on_the_next_call(
    api_client, machine_client, machine_token
):
    assert get_books(api_client, machine_token).status_code == 200
    subscription = Subscription.objects.get(app=machine_client.app)
    subscription.status = SubscriptionStatus.CANCELLED
    subscription.save()

    response = get_books(api_client, machine_token)

    assert_problem(response, 403, "no_subscription")


# --- the warm path --------------------------------------------------------------------


def test_a_warm_token_is_verified_without_any_query_or_cache_read(
    api_client, user_tokens, django_assert_num_queries
):
    token = user_tokens["access_token"]
    assert get_books(api_client, token).status_code == 200

    # Authentication and the scope check only: refused before the view runs.
    with django_assert_num_queries(0), no_cache_access():
        response = api_client.post(BOOKS, {}, format="json", **bearer(token))

    assert_problem(response, 403, "insufficient_scope")


def test_a_warm_detail_call_makes_only_the_books_own_query(
    api_client, machine_token, book_factory, django_assert_num_queries
):
    book = book_factory()
    url = f"{BOOKS}{book.pk}/"
    assert api_client.get(url, **bearer(machine_token)).status_code == 200

    with django_assert_num_queries(1) as captured:
        response = api_client.get(url, **bearer(machine_token))

    assert response.status_code == 200
    assert response.json()["id"] == book.pk
    assert "books_book" in captured.captured_queries[0]["sql"]


def test_a_cold_token_is_loaded_once_then_served_from_the_shared_cache(
    api_client, machine_client, stopped_clock, time_machine, django_assert_num_queries
):
    machine_token = tokens(client_credentials(Client(), machine_client))["access_token"]
    # A load that starts right after a change (here: the token's creation) is
    # not shared, in case it read the row from before the change.
    time_machine.move_to(stopped_clock + timedelta(seconds=2), tick=False)
    assert get_books(api_client, machine_token).status_code == 200
    local_cache_clear()  # as if the next call reached another worker

    with django_assert_num_queries(0):
        response = api_client.post(
            f"{BOOKS}0/", {}, format="json", **bearer(machine_token)
        )

    assert_problem(response, 405, "method_not_allowed")


# --- expiry, suspension, deletion, revocation -----------------------------------------


def test_a_token_is_refused_from_the_moment_it_expires(
    api_client, machine_client, stopped_clock, time_machine
):
    token = tokens(client_credentials(Client(), machine_client))["access_token"]
    assert get_books(api_client, token).status_code == 200

    time_machine.move_to(stopped_clock + timedelta(seconds=899), tick=False)
    assert get_books(api_client, token).status_code == 200

    time_machine.move_to(stopped_clock + timedelta(seconds=900), tick=False)
    response = get_books(api_client, token)

    assert_refused(response, "token_expired")
    assert response.json()["detail"] == "The access token has expired."


def suspend_team(oauth_client, user) -> None:
    oauth_client.app.team.is_active = False
    oauth_client.app.team.save()


def suspend_app(oauth_client, user) -> None:
    oauth_client.app.status = AppStatus.SUSPENDED
    oauth_client.app.save()


def disable_oauth(oauth_client, user) -> None:
    oauth_client.app.oauth_enabled = False
    oauth_client.app.save(update_fields=["oauth_enabled"])


def deactivate_user(oauth_client, user) -> None:
    user.is_active = False
    user.save(update_fields=["is_active"])


@pytest.mark.parametrize(
    "suspend", [suspend_team, suspend_app, disable_oauth, deactivate_user]
)
def test_a_suspension_refuses_the_token_on_the_next_call(
    api_client, code_client, user_tokens, resource_owner, suspend
):
    token = user_tokens["access_token"]
    assert get_books(api_client, token).status_code == 200

    suspend(code_client, resource_owner)
    response = get_books(api_client, token)

    assert_refused(response, "credential_suspended")


def test_deleting_the_app_refuses_its_tokens_on_the_next_call(
    api_client, code_client, user_tokens
):
    token = user_tokens["access_token"]
    assert get_books(api_client, token).status_code == 200

    code_client.app.delete()

    assert_refused(get_books(api_client, token), "invalid_token")


@pytest.mark.parametrize("hint", ["access_token", "refresh_token"])
def test_revoking_at_the_revocation_endpoint_refuses_the_next_call(
    api_client, code_client, user_tokens, hint
):
    token = user_tokens["access_token"]
    assert get_books(api_client, token).status_code == 200

    response = revoke(Client(), code_client, user_tokens[hint], hint=hint)

    assert response.status_code == 200
    assert_refused(get_books(api_client, token), "invalid_token")


def test_another_client_cannot_revoke_a_token(
    api_client, code_client, machine_client, user_tokens
):
    token = user_tokens["access_token"]
    assert get_books(api_client, token).status_code == 200

    response = revoke(Client(), machine_client, token)

    # RFC 7009 §2.2: 200 either way, so a client learns nothing about the token.
    assert response.status_code == 200
    assert get_books(api_client, token).status_code == 200


def test_a_refresh_refuses_the_previous_access_token_on_the_next_call(
    api_client, code_client, user_tokens
):
    old = user_tokens["access_token"]
    assert get_books(api_client, old).status_code == 200

    new = tokens(refresh(Client(), code_client, user_tokens["refresh_token"]))

    assert_refused(get_books(api_client, old), "invalid_token")
    assert get_books(api_client, new["access_token"]).status_code == 200
