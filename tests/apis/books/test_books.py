"""The Books API's resources, called with a key holding books:read and books:write.

What a client sees for good and bad input: the status, the problem ``code``
and its ``errors``, and that a refused write changed nothing.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apis.books.models import Author, Book
from tests.apis.assertions import PROBLEM_JSON, assert_problem

BOOKS = "/api/books/v1/books/"
AUTHORS = "/api/books/v1/authors/"


@pytest.fixture
def books_client(api_client, books_app):
    """An API client that sends the starter-plan key on every request."""
    api_client.credentials(HTTP_X_API_KEY=books_app.full_key)
    return api_client


@pytest.fixture
def author(author_factory):
    return author_factory(name="Ursula Franklin", born=1921)


@pytest.fixture
def book(book_factory, author):
    return book_factory(title="The Real World of Technology", author=author, year=1990)


def book_rows():
    return list(Book.objects.order_by("pk").values())


# --- list ---------------------------------------------------------------------


def test_list_pages_by_twenty_by_default(books_client, book_factory, author):
    book_factory.create_batch(25, author=author)

    first = books_client.get(BOOKS)
    second = books_client.get(first.json()["next"])

    assert first.status_code == 200
    body = first.json()
    assert body["count"] == 25
    assert len(body["results"]) == 20
    assert body["previous"] is None
    assert set(body["results"][0]) == {
        "id",
        "title",
        "author",
        "year",
        "isbn",
        "summary",
        "created_at",
        "updated_at",
    }
    assert body["results"][0]["author"]["name"] == "Ursula Franklin"
    assert len(second.json()["results"]) == 5
    assert second.json()["next"] is None


def test_page_size_is_capped_at_one_hundred(books_client, author):
    Book.objects.bulk_create(
        Book(title=f"Book {n:03}", author=author, year=2000) for n in range(105)
    )

    response = books_client.get(BOOKS, {"page_size": "1000000000"})

    assert response.status_code == 200
    assert response.json()["count"] == 105
    assert len(response.json()["results"]) == 100


def test_page_size_and_page_select_a_slice(books_client, book_factory, author):
    for n in range(7):
        book_factory(title=f"Book {n}", author=author)

    response = books_client.get(BOOKS, {"page_size": "3", "page": "2"})

    assert [b["title"] for b in response.json()["results"]] == [
        "Book 3",
        "Book 4",
        "Book 5",
    ]


@pytest.mark.parametrize("page", ["0", "-1", "abc", "1.5", "99"])
def test_a_page_that_does_not_exist_is_404_not_found(books_client, book, page):
    response = books_client.get(BOOKS, {"page": page})

    assert_problem(response, 404, "not_found")


def test_list_filters_by_author_year_and_search(
    books_client, book_factory, author_factory
):
    ada, alan = author_factory(name="Ada"), author_factory(name="Alan")
    book_factory(title="Notes on the Engine", author=ada, year=1843)
    book_factory(title="Computable Numbers", author=alan, year=1936)
    book_factory(title="Computing Machinery", author=alan, year=1950)

    def titles(**params):
        response = books_client.get(BOOKS, params)
        assert response.status_code == 200, response.content
        return sorted(b["title"] for b in response.json()["results"])

    assert titles(author=ada.pk) == ["Notes on the Engine"]
    assert titles(year=1936) == ["Computable Numbers"]
    assert titles(search="comput") == ["Computable Numbers", "Computing Machinery"]
    assert titles(author=alan.pk, year=1950) == ["Computing Machinery"]
    assert titles(search="' OR 1=1 --") == []


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        ("title", ["A", "B", "C"]),
        ("-title", ["C", "B", "A"]),
        ("year", ["B", "C", "A"]),
        ("-year", ["A", "C", "B"]),
    ],
)
def test_list_orders_as_asked(books_client, book_factory, author, ordering, expected):
    book_factory(title="A", author=author, year=2020)
    book_factory(title="B", author=author, year=1990)
    book_factory(title="C", author=author, year=2000)

    response = books_client.get(BOOKS, {"ordering": ordering})

    assert [b["title"] for b in response.json()["results"]] == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"ordering": "secret_field"}, "ordering", id="ordering"),
        pytest.param({"ordering": "author__name"}, "ordering", id="ordering-join"),
        pytest.param({"year": "nineteen"}, "year", id="year-text"),
        pytest.param({"year": "99999"}, "year", id="year-range"),
        pytest.param({"author": "0"}, "author", id="author-zero"),
        pytest.param({"author": "9" * 30}, "author", id="author-huge"),
        pytest.param({"search": "x" * 201}, "search", id="search-long"),
        pytest.param({"page": "1" * 21}, "page", id="page-long"),
        pytest.param({"colour": "red"}, "colour", id="unknown-param"),
    ],
)
def test_an_invalid_query_is_400_invalid_naming_the_parameter(
    books_client, params, field
):
    response = books_client.get(BOOKS, params)

    body = assert_problem(response, 400, "invalid")
    assert list(body["errors"]) == [field]


# --- detail, create, update, delete -------------------------------------------


def test_detail_returns_the_book(books_client, book):
    response = books_client.get(f"{BOOKS}{book.pk}/")

    assert response.status_code == 200
    assert response.json()["title"] == "The Real World of Technology"
    assert response.json()["author"]["id"] == book.author_id
    assert response.json()["year"] == 1990


@pytest.mark.parametrize("book_id", ["999999", "9" * 30])
def test_detail_of_a_missing_book_is_404_not_found(books_client, book, book_id):
    response = books_client.get(f"{BOOKS}{book_id}/")

    assert_problem(response, 404, "not_found")


def test_create_returns_201_and_stores_the_book(books_client, author):
    response = books_client.post(
        BOOKS,
        {"title": "Tell", "author_id": author.pk, "year": 1989, "isbn": "0123456789"},
        format="json",
    )

    assert response.status_code == 201, response.content
    book = Book.objects.get()
    assert response.json()["id"] == book.pk
    assert (book.title, book.author, book.year, book.isbn) == (
        "Tell",
        author,
        1989,
        "0123456789",
    )


def test_put_replaces_the_book(books_client, book, author_factory):
    other = author_factory()

    response = books_client.put(
        f"{BOOKS}{book.pk}/",
        {"title": "Renamed", "author_id": other.pk, "year": 1991},
        format="json",
    )

    assert response.status_code == 200, response.content
    book.refresh_from_db()
    assert (book.title, book.author, book.year) == ("Renamed", other, 1991)


def test_put_without_every_required_field_is_400(books_client, book):
    before = book_rows()

    response = books_client.put(f"{BOOKS}{book.pk}/", {"title": "Only"}, format="json")

    body = assert_problem(response, 400, "invalid")
    assert set(body["errors"]) == {"author_id", "year"}
    assert book_rows() == before


def test_patch_changes_only_the_given_fields(books_client, book):
    response = books_client.patch(f"{BOOKS}{book.pk}/", {"year": 1999}, format="json")

    assert response.status_code == 200, response.content
    book.refresh_from_db()
    assert (book.title, book.year) == ("The Real World of Technology", 1999)


def test_patch_to_a_missing_author_is_400(books_client, book):
    before = book_rows()

    response = books_client.patch(
        f"{BOOKS}{book.pk}/", {"author_id": 999999}, format="json"
    )

    body = assert_problem(response, 400, "invalid")
    assert list(body["errors"]) == ["author_id"]
    assert book_rows() == before


def test_delete_returns_204_and_the_book_is_gone(books_client, book):
    response = books_client.delete(f"{BOOKS}{book.pk}/")

    assert response.status_code == 204
    assert not Book.objects.filter(pk=book.pk).exists()
    assert_problem(books_client.get(f"{BOOKS}{book.pk}/"), 404, "not_found")


def test_an_author_with_books_cannot_be_deleted(books_client, book):
    response = books_client.delete(f"{AUTHORS}{book.author_id}/")

    assert_problem(response, 409, "author_has_books")
    assert Author.objects.filter(pk=book.author_id).exists()
    assert Book.objects.filter(pk=book.pk).exists()


def test_an_author_without_books_can_be_deleted(books_client, author):
    response = books_client.delete(f"{AUTHORS}{author.pk}/")

    assert response.status_code == 204
    assert not Author.objects.exists()


def test_authors_can_be_created_listed_and_searched(books_client, author):
    created = books_client.post(AUTHORS, {"name": "Grace Hopper"}, format="json")
    found = books_client.get(AUTHORS, {"search": "hopper"})

    assert created.status_code == 201, created.content
    assert created.json()["born"] is None
    assert [a["name"] for a in found.json()["results"]] == ["Grace Hopper"]


def test_a_method_the_resource_lacks_is_405(books_client, book):
    response = books_client.delete(BOOKS)

    assert_problem(response, 405, "method_not_allowed")


@pytest.mark.parametrize("path", ["books/", "books/{book}/", "authors/"])
def test_options_is_answered_without_a_server_error(books_client, book, path):
    # With a key that may write, DRF's metadata describes the POST/PUT input
    # from serializer_class/queryset, which these views do not declare.
    url = "/api/books/v1/" + path.format(book=book.pk)

    response = books_client.options(url)

    assert response.status_code < 500


# --- malformed bodies ---------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param('{"title": "x",', id="truncated"),
        pytest.param("{'title': 'x'}", id="single-quotes"),
        pytest.param('{"year": NaN}', id="nan"),
        pytest.param(b'{"title": "\xff"}', id="not-utf8"),
        pytest.param('{"year": 1' + "0" * 5000 + "}", id="huge-number"),
        pytest.param("[" * 100_000, id="deeply-nested"),
    ],
)
def test_a_body_that_is_not_json_is_400_malformed_body(books_client, author, body):
    response = books_client.post(BOOKS, body, content_type="application/json")

    assert_problem(response, 400, "malformed_body")
    assert not Book.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param([{"title": "x"}], "non_field_errors", id="list"),
        pytest.param("a string", "non_field_errors", id="string"),
        pytest.param(None, "non_field_errors", id="null"),
        pytest.param({"year": "nineteen"}, "year", id="year-text"),
        pytest.param({"year": [1999]}, "year", id="year-list"),
        pytest.param({"year": 1999.5}, "year", id="year-fraction"),
        pytest.param({"title": {"a": 1}}, "title", id="title-object"),
        pytest.param({"title": "x" * 301}, "title", id="title-long"),
        pytest.param({"title": "a\x00b"}, "title", id="title-nul"),
        pytest.param({"author_id": "one"}, "author_id", id="author-text"),
        pytest.param({"author_id": 2**70}, "author_id", id="author-huge"),
        pytest.param({"isbn": "12345"}, "isbn", id="isbn"),
    ],
)
def test_wrong_json_types_are_400_invalid(books_client, book, body, field):
    before = book_rows()

    response = books_client.patch(
        f"{BOOKS}{book.pk}/", json.dumps(body), content_type="application/json"
    )

    problem = assert_problem(response, 400, "invalid")
    assert field in problem["errors"]
    assert book_rows() == before


def test_unknown_fields_are_400_naming_them(books_client, author):
    response = books_client.post(
        BOOKS,
        {"title": "x", "author_id": author.pk, "year": 2000, "colour": "red"},
        format="json",
    )

    body = assert_problem(response, 400, "invalid")
    assert body["errors"] == {"colour": ["Unknown field."]}
    assert not Book.objects.exists()


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/xml"],
)
def test_a_body_that_is_not_json_by_its_type_is_415(books_client, author, content_type):
    response = books_client.post(BOOKS, "title=x", content_type=content_type)

    assert_problem(response, 415, "unsupported_media_type")
    assert not Book.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/api/",
        "/api/nope/",
        "/api/books/v2/books/",
        "/api/books/v1/books/abc/",
        "/api/books/v1/books",
    ],
)
def test_an_unknown_api_path_is_a_problem_404(api_client, path):
    response = api_client.get(path)

    assert_problem(response, 404, "not_found")


# --- arbitrary input never breaks the server ----------------------------------

NASTY = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "\x00",
            "a\x00b",
            "' OR 1=1 --",
            "1; DROP TABLE books_book;--",
            "%00",
            "-1",
            "0",
            "1e309",
            "NaN",
            "9" * 30,
            "title",
            "-created_at",
            "x" * 100_000,
        ]
    ),
)
QUERY_PARAMS = st.dictionaries(
    st.one_of(
        st.sampled_from(
            ["author", "year", "search", "ordering", "page", "page_size", "format"]
        ),
        st.text(min_size=1, max_size=20),
    ),
    NASTY,
    max_size=4,
)
JSON_VALUES = st.one_of(
    NASTY,
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)
BOOK_BODIES = st.dictionaries(
    st.one_of(
        st.sampled_from(["title", "author_id", "year", "isbn", "summary"]),
        st.text(max_size=20),
    ),
    JSON_VALUES,
    max_size=6,
)
FUZZ = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def assert_handled(response) -> None:
    assert response.status_code < 500, response.content[:500]
    if 400 <= response.status_code < 500:
        assert response["Content-Type"] == PROBLEM_JSON
        assert response.json()["code"]


@FUZZ
@given(params=QUERY_PARAMS)
def test_any_query_string_is_answered_without_a_server_error(
    books_client, book, params
):
    assert_handled(books_client.get(BOOKS, params))
    assert_handled(books_client.get(AUTHORS, params))


@FUZZ
@given(payload=BOOK_BODIES)
def test_any_json_body_is_answered_without_a_server_error(books_client, book, payload):
    before = Book.objects.filter(pk=book.pk).values().get()
    body = json.dumps(payload)

    created = books_client.post(BOOKS, body, content_type="application/json")
    patched = books_client.patch(
        f"{BOOKS}{book.pk}/", body, content_type="application/json"
    )

    assert_handled(created)
    assert_handled(patched)
    if patched.status_code != 200:
        assert Book.objects.filter(pk=book.pk).values().get() == before
