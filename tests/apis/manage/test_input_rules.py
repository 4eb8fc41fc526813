"""The management API's input rules, as the schemathesis run found them
missing or unnamed (tests/apis/test_schemathesis.py): JSON types are kept,
and a rule the services enforce on one field names that field in ``errors``,
as the serializers' own rules do. Each as a session and as a token."""

from __future__ import annotations

import pytest

from portal.keys.models import ApiKey
from tests.apis.assertions import assert_problem
from tests.apis.manage.conftest import BASE

pytestmark = pytest.mark.django_db


def keys_url(app) -> str:
    return f"{BASE}apps/{app.pk}/keys/"


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        pytest.param(
            {"name": "k", "scopes": [1]},
            {"scopes": {"0": ["Must be a string."]}},
            id="number-in-a-list-of-text",
        ),
        pytest.param({"name": 7}, {"name": ["Must be a string."]}, id="number-name"),
        pytest.param(
            {"name": "k", "expires_at": 1893456000},
            {"expires_at": ["Must be a string."]},
            id="number-for-a-time",
        ),
    ],
)
def test_a_key_of_the_wrong_json_types_is_refused(caller, books_app, data, errors):
    before = ApiKey.objects.count()

    response = caller.post(keys_url(books_app.app), data)

    assert assert_problem(response, 400, "invalid")["errors"] == errors
    assert ApiKey.objects.count() == before


@pytest.mark.parametrize(
    ("data", "code", "field"),
    [
        ({"name": "k", "expires_at": "2001-01-01T00:00:00Z"}, "invalid", "expires_at"),
        ({"name": "k", "scopes": ["books:admin"]}, "scope_not_granted", "scopes"),
        (
            {"name": "k", "allowed_ips": ["10.0.0.0/33"]},
            "invalid_ip_range",
            "allowed_ips",
        ),
    ],
)
def test_a_rule_of_the_key_services_names_its_field(
    caller, books_app, data, code, field
):
    response = caller.post(keys_url(books_app.app), data)

    problem = assert_problem(response, 400, code)
    assert problem["errors"] == {field: [problem["detail"]]}


def test_a_rule_of_the_oauth_services_names_its_field(caller, app_factory):
    app = app_factory(team=caller.team)

    response = caller.put(
        f"{BASE}apps/{app.pk}/oauth-client/",
        {"grant": "client-credentials", "client_type": "public"},
    )

    problem = assert_problem(response, 400, "public_client_credentials")
    assert problem["errors"] == {"client_type": [problem["detail"]]}


def test_a_conflict_names_no_field(caller, books_app):
    response = caller.post(
        f"{BASE}apps/{books_app.app.pk}/subscriptions/",
        {"plan": books_app.subscription.plan_id},
    )

    problem = assert_problem(response, 409, "already_subscribed")
    assert "errors" not in problem
