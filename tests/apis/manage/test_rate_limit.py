"""The management API's platform-wide default limit (MANAGE_API_RATE)."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.portal.oauth.flows import bearer, client_credentials, tokens

pytestmark = pytest.mark.django_db

TEAMS = "/api/manage/v1/teams/"


def test_a_session_is_held_to_the_default_limit(settings, developer):
    settings.MANAGE_API_RATE = ["3/m"]
    client = Client()
    client.force_login(developer)

    answers = [client.get(TEAMS) for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0]["RateLimit-Policy"] == '"3/m";q=3;w=60'
    assert answers[2]["RateLimit"].startswith('"3/m";r=0;')
    refused = answers[3]
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited"
    assert refused.json()["limit"] == "3/m"
    assert 1 <= int(refused["Retry-After"]) <= 60


def test_a_token_counts_per_app_apart_from_its_teams_people(
    settings, developer, oauth_client_factory
):
    settings.MANAGE_API_RATE = ["2/m"]
    oauth = oauth_client_factory(grant="client-credentials", plan=None)
    token = tokens(client_credentials(Client(), oauth, scope="manage:read"))[
        "access_token"
    ]
    person = Client()
    person.force_login(developer)
    person.get(TEAMS)
    person.get(TEAMS)
    assert person.get(TEAMS).status_code == 429

    statuses = [Client().get(TEAMS, **bearer(token)).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_a_bad_rate_setting_stops_the_start(monkeypatch):
    import importlib

    from django.core.exceptions import ImproperlyConfigured

    import portal.settings.rest as rest

    monkeypatch.setenv("MANAGE_API_RATE", "lots")
    with pytest.raises(ImproperlyConfigured, match="MANAGE_API_RATE"):
        importlib.reload(rest)
    monkeypatch.delenv("MANAGE_API_RATE")
    importlib.reload(rest)
