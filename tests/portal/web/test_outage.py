"""A database that cannot be reached is a 503, never a 500 (in process).

The real outage, a cut TCP connection to PostgreSQL under gunicorn, is staged
in tests/hardening/test_faults.py; here every query of one request fails, in
both test passes.
"""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import OperationalError, connection

from apis.registry import SERVED_APIS
from portal.catalog.models import Plan
from portal.catalog.services import catalog_sync, subscription_create_active
from portal.keys.services import api_key_issue
from tests.factories import AppFactory

pytestmark = pytest.mark.django_db


def _database_down():
    return mock.patch.object(
        connection, "cursor", side_effect=OperationalError("connection refused")
    )


def test_a_portal_page_is_the_503_page_with_retry_after(client):
    with _database_down():
        response = client.get("/apis/")
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert b"<h1>Temporarily unavailable</h1>" in response.content
    assert int(response["Retry-After"]) > 0
    # It went out through the other middlewares: the usual headers are there.
    assert "Content-Security-Policy" in response


def test_a_served_call_is_a_503_problem_with_its_request_id(client):
    catalog_sync(specs=SERVED_APIS)
    app = AppFactory()
    subscription_create_active(
        app=app, plan=Plan.objects.get(api__slug="books", slug="starter")
    )
    issued = api_key_issue(app=app, name="outage")
    with _database_down():
        response = client.get(
            "/api/books/v1/books/", headers={"X-API-Key": issued.full_key}
        )
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "service_unavailable"
    assert body["title"] == "Service unavailable"
    assert int(response["Retry-After"]) > 0
    assert response["Request-Id"]


class _DatabaseInMiddleware:
    """Stands for a middleware that queries the database before the view."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raise OperationalError("connection refused")


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/apis/", "text/html"), ("/api/books/v1/books/", "application/problem+json")],
)
def test_an_outage_met_outside_the_view_is_a_503_too(
    client, settings, path, content_type
):
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        f"{__name__}._DatabaseInMiddleware",
    ]
    client.raise_request_exception = False
    response = client.get(path)
    assert response.status_code == 503
    assert response["Content-Type"].startswith(content_type)
    assert int(response["Retry-After"]) > 0
