"""OWASP API4:2023, unrestricted resource consumption.

What one client can make the portal do in a single request is bounded (page
sizes and numbers, body size, JSON nesting, list lengths): every abuse is a
4xx problem+json, never a 5xx. What one account can make it keep is capped
(active keys per app, apps per team, teams per owner, webhook endpoints per
team, accounts created per IP a day): past a cap is 409 ``limit_reached`` in
the management API and a form error in the portal, with nothing created.

Run with ``-s`` to see the ``FIGURE:`` lines SECURITY.md quotes.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from apis.parsers import BodyTooLarge, SafeJSONParser
from portal.accounts.models import Membership, Role, Team, User
from portal.errors import Conflict
from portal.keys.models import ApiKey
from portal.oauth.models import App
from portal.webhooks.models import Endpoint
from tests.apis.assertions import PROBLEM_JSON, assert_problem
from tests.apis.manage.conftest import (
    BASE,
    Caller,
    signed_in_client,
    token_for,
)
from tests.portal.oauth.flows import bearer

pytestmark = pytest.mark.django_db

BOOKS = "/api/books/v1/books/"
AUTHORS = "/api/books/v1/authors/"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Client secrets and sign-up passwords are hashed with Argon2, tuned to be
    # slow; what is tested here is the caps, not the hasher.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def fresh_limits() -> None:
    """Forget the rate-limit counters: these tests send more calls a second
    than the plans allow, and the limits are tested elsewhere."""
    cache.clear()


@pytest.fixture
def books_client(api_client, books_app):
    api_client.credentials(HTTP_X_API_KEY=books_app.full_key)
    return api_client


@pytest.fixture
def manager_oauth(oauth_client_factory):
    return oauth_client_factory(
        grant="client-credentials", plan=None, name="Manager", slug="manager"
    )


@pytest.fixture(params=["session", "token"])
def caller(request, developer, developer_team, manager_oauth) -> Caller:
    """The management API as ``developer``'s portal session, then as a token."""
    if request.param == "session":
        client, csrf = signed_in_client(developer)
        return Caller(
            "session",
            client,
            developer_team,
            developer.email,
            {"HTTP_X_CSRFTOKEN": csrf},
        )
    return Caller(
        "token",
        Client(enforce_csrf_checks=True),
        developer_team,
        "token",
        bearer(token_for(manager_oauth)),
    )


def assert_4xx_problem(response) -> int:
    assert 400 <= response.status_code < 500, (response.status_code, response.content)
    assert response["Content-Type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == response.status_code
    assert body["code"] and body["detail"]
    return response.status_code


# --- page size and page number --------------------------------------------------------

ABUSIVE_PAGES = [
    {"page_size": "-1"},
    {"page_size": "0"},
    {"page_size": "abc"},
    {"page_size": str(10**12)},
    {"page_size": "1e9"},
    {"page": str(10**12)},
    {"page": "0"},
    {"page": "-1"},
    {"page": "abc"},
    {"page": "99999"},
    {"page": str(10**100)},
    {"page": "1", "page_size": str(10**100)},
]


def test_page_abuse_is_a_4xx_problem_on_every_list_endpoint(
    books_client, caller, books_app, book_factory
):
    book_factory.create_batch(3)
    served = [(books_client.get, BOOKS), (books_client.get, AUTHORS)]
    managed = [
        (caller.get, f"{BASE}apps/"),
        (caller.get, f"{BASE}teams/"),
        (caller.get, f"{BASE}apps/{books_app.app.pk}/keys/"),
        (caller.get, f"{BASE}apps/{books_app.app.pk}/subscriptions/"),
    ]
    statuses: Counter = Counter()
    for get, url in served + managed:
        for params in ABUSIVE_PAGES:
            fresh_limits()
            response = get(url, params)
            statuses[assert_4xx_problem(response)] += 1

    print(
        f"FIGURE: page abuse ({caller.kind}): {sum(statuses.values())} requests "
        f"on {len(served + managed)} list endpoints, "
        f"statuses {dict(sorted(statuses.items()))}"
    )
    assert set(statuses) <= {400, 404}


@pytest.mark.parametrize("url", [BOOKS, AUTHORS])
def test_a_billion_rows_a_page_gives_at_most_a_hundred(books_client, book_factory, url):
    book_factory.create_batch(120)

    response = books_client.get(url, {"page_size": str(10**9)})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 120
    assert len(body["results"]) == 100


# --- body size ------------------------------------------------------------------------


def test_a_body_over_the_upload_limit_is_413_and_never_parsed(books_client, settings):
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps({"name": "A" * (limit + 10)})

    response = books_client.post(AUTHORS, body, content_type="application/json")

    problem = assert_problem(response, 413, "body_too_large")
    assert str(limit) in problem["detail"]
    print(f"FIGURE: JSON body of {len(body)} bytes (limit {limit}) -> 413")
    from apis.books.models import Author

    assert not Author.objects.exists()


def test_the_body_limit_is_the_upload_setting_to_the_byte(books_client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    at_limit = json.dumps({"name": "A" * 88})
    assert len(at_limit) == 100

    fresh_limits()
    over = books_client.post(AUTHORS, at_limit + " ", content_type="application/json")
    fresh_limits()
    ok = books_client.post(AUTHORS, at_limit, content_type="application/json")

    assert_problem(over, 413, "body_too_large")
    assert ok.status_code == 201, ok.content


def test_a_body_that_says_it_is_small_is_still_cut_at_the_limit(books_client, settings):
    # The stream is read to one byte past the limit at most, whatever the
    # Content-Length: a body sent chunked or with a wrong length cannot
    # make the parser buffer more.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    class Stream:
        read_sizes: list = []

        def read(self, size=-1):
            self.read_sizes.append(size)
            return b"[" + b"1," * 5000 + b"1]"

    with pytest.raises(BodyTooLarge):
        SafeJSONParser().parse(Stream(), parser_context={"request": None})

    assert Stream.read_sizes == [1001]


def test_an_oversized_management_body_is_413_and_changes_nothing(caller):
    before = App.objects.count()
    body = {"name": "x", "description": "d" * 3_000_000}

    response = caller.post(f"{BASE}apps/", body)

    assert_problem(response, 413, "body_too_large")
    assert App.objects.count() == before


# --- deep nesting ---------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1_000, 10_000, 100_000])
@pytest.mark.parametrize("shape", ["array", "object"])
def test_deeply_nested_json_is_400_malformed_body(books_client, caller, depth, shape):
    if shape == "array":
        body = "[" * depth + "]" * depth
    else:
        body = '{"a":' * depth + "1" + "}" * depth

    fresh_limits()
    served = books_client.post(AUTHORS, body, content_type="application/json")
    fresh_limits()
    managed = caller.client.post(
        f"{BASE}apps/", body, content_type="application/json", **caller.headers
    )

    for response in (served, managed):
        if depth == 1_000:
            # Python parses this deep; the serializer refuses the shape.
            assert_4xx_problem(response)
        else:
            assert_problem(response, 400, "malformed_body")
    if depth == 100_000:
        print(
            f"FIGURE: JSON nested {depth} deep ({shape}) -> {served.status_code} "
            f"served, {managed.status_code} management"
        )


# --- long lists -----------------------------------------------------------------------


def _ten_thousand(value: str) -> list[str]:
    return [value] * 10_000


def test_ten_thousand_element_lists_are_400_naming_the_field(caller, books_app):
    keys = f"{BASE}apps/{books_app.app.pk}/keys/"
    key = f"{keys}{books_app.key.lookup_id}/"
    client_url = f"{BASE}apps/{books_app.app.pk}/oauth-client/"
    cases = [
        ("post", keys, {"name": "k", "scopes": _ten_thousand("books:read")}, "scopes"),
        (
            "post",
            keys,
            {"name": "k", "allowed_ips": _ten_thousand("10.0.0.1")},
            "allowed_ips",
        ),
        ("patch", key, {"scopes": _ten_thousand("books:read")}, "scopes"),
        ("patch", key, {"allowed_ips": _ten_thousand("10.0.0.0/8")}, "allowed_ips"),
        (
            "put",
            client_url,
            {
                "grant": "authorization-code",
                "client_type": "confidential",
                "redirect_uris": _ten_thousand("https://client.example/cb"),
            },
            "redirect_uris",
        ),
    ]
    keys_before = list(ApiKey.objects.values_list("pk", "scopes", "allowed_ips"))
    app_before = App.objects.values_list("redirect_uris", "oauth_enabled").get(
        pk=books_app.app.pk
    )
    for method, url, data, field in cases:
        fresh_limits()
        response = caller.send(method, url, data)
        problem = assert_problem(response, 400, "invalid")
        assert list(problem["errors"]) == [field], problem

    print(f"FIGURE: {len(cases)} management bodies with 10,000-element lists -> 400")
    assert (
        list(ApiKey.objects.values_list("pk", "scopes", "allowed_ips")) == keys_before
    )
    assert (
        App.objects.values_list("redirect_uris", "oauth_enabled").get(
            pk=books_app.app.pk
        )
        == app_before
    )


def test_ten_thousand_element_lists_in_portal_forms_are_refused(
    client, developer, developer_team, books_app, settings
):
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    client.force_login(developer)
    team, app = developer_team.slug, books_app.app.slug
    before = (ApiKey.objects.count(), Endpoint.objects.count())

    # 10,000 checkbox values are more fields than Django parses
    # (DATA_UPLOAD_MAX_NUMBER_FIELDS): the portal's 400 page.
    webhook = client.post(
        reverse("portal:webhook-list", args=[team]),
        {"url": "http://127.0.0.1:9/hooks", "event_types": _ten_thousand("x")},
    )
    scopes = client.post(
        reverse("portal:key-create", args=[team, app]),
        {"name": "many", "scopes": _ten_thousand("books:read")},
    )
    # 10,000 ranges in the one text box: a form error on that field.
    ranges = client.post(
        reverse("portal:key-create", args=[team, app]),
        {
            "name": "many",
            "allowed_ips": "\n".join(
                f"10.0.{i // 256}.{i % 256}" for i in range(10_000)
            ),
        },
    )

    assert webhook.status_code == 400
    assert scopes.status_code == 400
    assert b"Bad request" in scopes.content
    assert ranges.status_code == 200
    assert list(ranges.context["key_form"].errors) == ["allowed_ips"]
    assert (ApiKey.objects.count(), Endpoint.objects.count()) == before


# --- per-account caps -----------------------------------------------------------------


def test_active_keys_per_app_are_capped(caller, books_app, settings):
    settings.API_KEYS_MAX_ACTIVE_PER_APP = 3
    keys = f"{BASE}apps/{books_app.app.pk}/keys/"
    # books_app has one key already.
    for n in range(2):
        assert caller.post(keys, {"name": f"k{n}"}).status_code == 201

    refused = caller.post(keys, {"name": "one too many"})

    problem = assert_problem(refused, 409, "limit_reached")
    assert "3 active keys" in problem["detail"]
    assert ApiKey.objects.filter(app=books_app.app).count() == 3
    assert not ApiKey.objects.filter(name="one too many").exists()
    # A revoked key frees its place.
    caller.post(f"{keys}{books_app.key.lookup_id}/revoke/", {"reason": "cap"})
    assert caller.post(keys, {"name": "again"}).status_code == 201


def test_expired_keys_do_not_count_towards_the_cap(
    books_app, issue_key, settings, time_machine
):
    from portal.keys.services import api_key_issue

    settings.API_KEYS_MAX_ACTIVE_PER_APP = 2
    issue_key(books_app.app, expires_at=books_app.key.created_at + timedelta(days=1))
    with pytest.raises(Conflict) as full:
        issue_key(books_app.app)
    assert full.value.code == "limit_reached"

    time_machine.move_to(books_app.key.created_at + timedelta(days=2))

    assert api_key_issue(app=books_app.app, name="after expiry").key.pk


def test_a_rotation_at_the_cap_may_go_one_over_once(caller, books_app, settings):
    settings.API_KEYS_MAX_ACTIVE_PER_APP = 1
    rotate = f"{BASE}apps/{books_app.app.pk}/keys/{{}}/rotate/"

    first = caller.post(rotate.format(books_app.key.lookup_id), {"grace_seconds": 3600})
    assert first.status_code == 201, first.content
    new_lookup = first.json()["lookup_id"]
    second = caller.post(rotate.format(new_lookup), {"grace_seconds": 3600})

    assert_problem(second, 409, "limit_reached")
    assert ApiKey.objects.filter(app=books_app.app).count() == 2


def test_apps_per_team_are_capped_in_the_api_and_the_portal(
    caller, developer, developer_team, settings
):
    # The team already has the "Manager" app the token belongs to.
    settings.APPS_MAX_PER_TEAM = App.objects.filter(team=developer_team).count() + 1
    assert caller.post(f"{BASE}apps/", {"name": "Last one"}).status_code == 201

    refused = caller.post(f"{BASE}apps/", {"name": "One too many"})
    portal = Client()
    portal.force_login(developer)
    page = portal.post(
        reverse("portal:app-create", args=[developer_team.slug]),
        {"name": "From the portal"},
    )

    assert_problem(refused, 409, "limit_reached")
    assert page.status_code == 200
    assert "at most" in " ".join(page.context["form"].non_field_errors())
    assert App.objects.filter(team=developer_team).count() == settings.APPS_MAX_PER_TEAM


def test_teams_a_user_owns_are_capped(client, developer, developer_team, settings):
    settings.TEAMS_MAX_OWNED_PER_USER = 2
    client.force_login(developer)
    url = reverse("portal:team-create")

    made = client.post(url, {"name": "Second"})
    refused = client.post(url, {"name": "Third"})

    assert made.status_code == 302
    assert refused.status_code == 200
    assert "at most 2 teams" in " ".join(refused.context["form"].non_field_errors())
    assert Membership.objects.filter(user=developer, role=Role.OWNER).count() == 2
    assert not Team.objects.filter(name="Third").exists()


def test_webhook_endpoints_per_team_are_capped(
    client, developer, developer_team, settings
):
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    settings.WEBHOOKS_MAX_ENDPOINTS_PER_TEAM = 2
    client.force_login(developer)
    url = reverse("portal:webhook-list", args=[developer_team.slug])
    form = {"url": "http://127.0.0.1:9/hooks", "event_types": ["key.created"]}

    made = [client.post(url, form).status_code for _ in range(2)]
    refused = client.post(url, form)

    assert made == [200, 200]
    assert refused.status_code == 400
    assert "at most 2" in " ".join(refused.context["form"].non_field_errors())
    assert Endpoint.objects.filter(team=developer_team).count() == 2


def _signup(client: Client, n: int, ip: str):
    return client.post(
        reverse("portal:signup"),
        {
            "email": f"new{n}@example.com",
            "name": "",
            "password1": "a-long-enough-passphrase-42",
            "password2": "a-long-enough-passphrase-42",
        },
        REMOTE_ADDR=ip,
    )


def test_sign_ups_per_ip_a_day_are_capped(settings, time_machine, stopped_clock):
    settings.ACCOUNT_SIGNUPS_PER_IP_PER_DAY = 3
    ip, other_ip = "198.51.100.7", "203.0.113.9"

    made = [_signup(Client(), n, ip) for n in range(3)]
    refused = _signup(Client(), 3, ip)
    elsewhere = _signup(Client(), 4, other_ip)
    time_machine.move_to(stopped_clock + timedelta(days=1, seconds=1))
    next_day = _signup(Client(), 5, ip)

    assert [r.status_code for r in made] == [200, 200, 200]
    assert all(r.context.get("form") is None for r in made)
    assert refused.status_code == 200
    assert "Too many accounts" in " ".join(refused.context["form"].non_field_errors())
    assert not User.objects.filter(email="new3@example.com").exists()
    assert elsewhere.context.get("form") is None
    assert next_day.context.get("form") is None
    assert User.objects.filter(email__startswith="new").count() == 5
