"""What the served APIs accept is what their schemas say, found by the
schemathesis run (tests/apis/test_schemathesis.py) and pinned down here.

A JSON body keeps to the documented types (no "5" for a number, no 5 for a
string), text is measured as sent, a page size is a number, and any path
under /api/ that is not an endpoint is a problem+json 404 whatever the
method. The schema states the rules a client can check before sending.
"""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client

from apis.books.models import Author, Book
from tests.apis.assertions import PROBLEM_JSON, assert_problem

pytestmark = pytest.mark.django_db

AUTHORS = "/api/books/v1/authors/"
BOOKS = "/api/books/v1/books/"


@pytest.fixture
def books_client(api_client, books_app):
    api_client.credentials(HTTP_X_API_KEY=books_app.full_key)
    return api_client


@pytest.fixture
def author(author_factory):
    return author_factory(name="Ada Lovelace", born=1815)


def post(client, url: str, body) -> object:
    return client.post(url, json.dumps(body), content_type="application/json")


# --- JSON types ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        pytest.param({"name": 5}, "name", "Must be a string.", id="number-for-text"),
        pytest.param({"name": True}, "name", "Must be a string.", id="bool-for-text"),
        pytest.param(
            {"name": "Ada", "born": "1815"},
            "born",
            "Must be an integer.",
            id="text-for-number",
        ),
        pytest.param(
            {"name": "Ada", "born": 1815.0},
            "born",
            "Must be an integer.",
            id="fraction-syntax-for-integer",
        ),
        pytest.param(
            {"name": "Ada", "born": True},
            "born",
            "Must be an integer.",
            id="bool-for-integer",
        ),
    ],
)
def test_a_value_of_another_json_type_is_400_naming_the_field(
    books_client, body, field, message
):
    response = post(books_client, AUTHORS, body)

    body = assert_problem(response, 400, "invalid")
    assert body["errors"] == {field: [message]}
    assert not Author.objects.exists()


def test_null_is_left_to_the_field(books_client):
    response = post(books_client, AUTHORS, {"name": "Ada", "born": None})

    assert response.status_code == 201, response.content
    assert response.json()["born"] is None


def test_a_book_by_an_author_given_as_text_is_refused(books_client, author):
    body = {"title": "Notes", "author_id": str(author.pk), "year": 1843}

    response = post(books_client, BOOKS, body)

    assert assert_problem(response, 400, "invalid")["errors"] == {
        "author_id": ["Must be an integer."]
    }
    assert not Book.objects.exists()


# --- text as sent --------------------------------------------------------------


def test_text_longer_than_allowed_is_refused_even_if_only_spaces_make_it_so(
    books_client,
):
    response = post(books_client, AUTHORS, {"name": "Ada" + " " * 200})

    assert assert_problem(response, 400, "invalid")["errors"] == {
        "name": ["Ensure this field has no more than 200 characters."]
    }
    assert not Author.objects.exists()


def test_surrounding_spaces_are_still_trimmed(books_client):
    response = post(books_client, AUTHORS, {"name": "  Ada  "})

    assert response.status_code == 201, response.content
    assert Author.objects.get().name == "Ada"


@pytest.mark.parametrize("name", ["\t", "\x1f", "\u3000"], ids=["tab", "us", "ideo"])
def test_a_name_of_whitespace_only_is_blank(books_client, name):
    response = post(books_client, AUTHORS, {"name": name})

    assert assert_problem(response, 400, "invalid")["errors"] == {
        "name": ["This field may not be blank."]
    }


# --- pages -----------------------------------------------------------------------


@pytest.mark.parametrize("page_size", ["abc", "0", "-1", "1.5", "1000000001"])
def test_a_page_size_that_is_not_a_number_from_1_to_a_billion_is_400(
    books_client, page_size
):
    response = books_client.get(BOOKS, {"page_size": page_size})

    assert list(assert_problem(response, 400, "invalid")["errors"]) == ["page_size"]


# --- paths that are not endpoints --------------------------------------------------


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete"])
@pytest.mark.parametrize(
    "path",
    [
        "/api/books/v1/books/null,null/",
        "/api/books/v1/books/1%0A2/",
        "/api/manage/v1/apps/%0A/",
        "/api/nowhere/",
    ],
    ids=["not-an-id", "newline", "newline-manage", "unknown"],
)
def test_a_path_that_is_not_an_endpoint_is_a_problem_404_for_every_method(method, path):
    # Django's test client skips the CSRF check unless told: as an API
    # client's request, this one meets it.
    client = Client(enforce_csrf_checks=True)
    if method in ("get", "delete"):
        response = getattr(client, method)(path)
    else:
        response = getattr(client, method)(path, "{}", content_type="application/json")

    assert_problem(response, 404, "not_found")
    assert response["Content-Type"] == PROBLEM_JSON


# --- the schema says so ------------------------------------------------------------


@pytest.fixture
def books_schema(client) -> dict:
    return client.get("/api/books/v1/schema/", HTTP_ACCEPT="application/json").json()


@pytest.fixture
def manage_schema(client) -> dict:
    return client.get("/api/manage/v1/schema/", HTTP_ACCEPT="application/json").json()


def test_request_bodies_take_no_other_fields(books_schema, manage_schema):
    for schema in (books_schema, manage_schema):
        requests = {
            name: component
            for name, component in schema["components"]["schemas"].items()
            if name.endswith("Request")
        }
        assert requests
        for name, component in requests.items():
            assert component.get("additionalProperties") is False, name


def test_text_fields_state_no_nul_and_not_blank(books_schema):
    properties = books_schema["components"]["schemas"]["AuthorRequest"]["properties"]
    pattern = re.compile(properties["name"]["pattern"])

    assert pattern.search("Ada")
    assert not pattern.search(" \t\u3000")  # blank once trimmed
    assert not pattern.search("Ada\x00")
    summary = books_schema["components"]["schemas"]["BookRequest"]["properties"][
        "summary"
    ]
    assert re.compile(summary["pattern"]).search("")  # may be blank
    assert not re.compile(summary["pattern"]).search("\x00")


def test_page_parameters_are_documented_with_their_bounds(books_schema):
    parameters = {
        p["name"]: p["schema"]
        for p in books_schema["paths"][BOOKS]["get"]["parameters"]
    }

    assert parameters["page"] == {"type": "integer", "minimum": 1, "maximum": 10**9}
    assert parameters["page_size"] == parameters["page"]


def test_a_key_replaces_nothing_is_documented_as_null(manage_schema):
    replaces = manage_schema["components"]["schemas"]["Key"]["properties"]["replaces"]

    assert replaces["nullable"] is True
