"""GET /api/manage/v1/apps/<id>/usage/: the numbers of the usage charts."""

from __future__ import annotations

import pytest
from django.test import Client

from portal.usage.flushing import flush_once
from portal.usage.queries import usage_report
from tests.portal.oauth.flows import bearer, client_credentials, tokens

pytestmark = pytest.mark.django_db

BOOKS = "/api/books/v1/books/"


def usage_url(app) -> str:
    return f"/api/manage/v1/apps/{app.pk}/usage/"


@pytest.fixture
def traffic(api_client, books_app):
    """Three good calls and a 404 on the app's key, then a flush."""
    for _ in range(3):
        api_client.get(BOOKS, HTTP_X_API_KEY=books_app.full_key)
    api_client.get(BOOKS + "424242/", HTTP_X_API_KEY=books_app.full_key)
    flush_once()
    return books_app


def test_a_member_reads_the_numbers_the_charts_show(traffic, developer):
    client = Client()
    client.force_login(developer)

    response = client.get(usage_url(traffic.app), {"range": "7d"})

    assert response.status_code == 200
    body = response.json()
    assert body["app"] == {"id": traffic.app.pk, "slug": traffic.app.slug}
    assert body["range"] == "7d"
    assert body["granularity"] == "hour"
    assert len(body["series"]) == 168
    assert body["totals"]["calls"] == 4
    assert body["totals"]["errors_4xx"] == 1
    assert sum(point["calls"] for point in body["series"]) == 4
    expected = usage_report("7d", app_id=traffic.app.pk).as_dict()
    assert body["totals"] == expected["totals"]
    assert body["top_endpoints"][0] == {
        "api": "books",
        "method": "GET",
        "route": "/api/books/v1/books/",
        "calls": 3,
        "errors": 0,
    }


def test_another_teams_app_is_not_found(traffic, user_factory):
    stranger = user_factory(password=None)
    client = Client()
    client.force_login(stranger)

    response = client.get(usage_url(traffic.app))

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_an_unknown_range_is_a_problem(traffic, developer):
    client = Client()
    client.force_login(developer)

    response = client.get(usage_url(traffic.app), {"range": "1y"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_query"
    assert "range" in response.json()["errors"]


def test_anonymous_is_401(traffic):
    assert Client().get(usage_url(traffic.app)).status_code in (401, 403)


def test_a_client_credentials_token_with_manage_read(oauth_client_factory):
    oauth = oauth_client_factory(grant="client-credentials", plan=None)
    token = tokens(client_credentials(Client(), oauth, scope="manage:read"))[
        "access_token"
    ]

    response = Client().get(usage_url(oauth.app), **bearer(token))

    assert response.status_code == 200, response.content
    assert response.json()["totals"]["calls"] == 0


def test_a_token_without_manage_read_is_refused(oauth_client_factory):
    oauth = oauth_client_factory(grant="client-credentials")
    token = tokens(client_credentials(Client(), oauth, scope="books:read"))[
        "access_token"
    ]

    response = Client().get(usage_url(oauth.app), **bearer(token))

    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"


def test_a_token_sees_only_its_own_teams_apps(
    oauth_client_factory, books_app, app_factory, team_factory
):
    other_app = app_factory(team=team_factory())
    oauth = oauth_client_factory(grant="client-credentials", plan=None)
    token = tokens(client_credentials(Client(), oauth, scope="manage:read"))[
        "access_token"
    ]

    response = Client().get(usage_url(other_app), **bearer(token))

    assert response.status_code == 404
