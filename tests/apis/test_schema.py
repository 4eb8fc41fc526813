"""The OpenAPI schemas: every operation of every API, with its scopes, limits
and errors, and valid OpenAPI 3.

The walk below reads the URL configuration itself (not drf-spectacular's view
of it): every route under /api/ to a served or management view, and every
method it serves, must be in /api/schema/ with the scopes the view declares.
"""

from __future__ import annotations

import re

import pytest
import yaml
from django.urls import URLPattern, URLResolver, get_resolver, path
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema
from drf_spectacular.validation import validate_schema
from rest_framework.response import Response

from apis.base import ServedApiView
from apis.manage.base import ManageApiView
from apis.registry import SERVED_APIS
from apis.schema import (
    MANAGE_API,
    GatehouseSchemaGenerator,
    documented_api_get,
    documented_apis,
)
from portal.docs.problem_types import PROBLEM_TYPES
from portal.keys.authentication import ApiKeyAuthentication

pytestmark = pytest.mark.django_db

API_VIEWS = (ServedApiView, ManageApiView)
_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")
_METHODS = ("get", "post", "put", "patch", "delete")


def api_endpoints(patterns, prefix: str = "/") -> list[tuple[str, str, type]]:
    """(OpenAPI path, method, view class) of every served or management view
    routed in ``patterns``."""
    found = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found += api_endpoints(pattern.url_patterns, route)
            continue
        assert isinstance(pattern, URLPattern)
        view_class = getattr(pattern.callback, "cls", None)
        if not (isinstance(view_class, type) and issubclass(view_class, API_VIEWS)):
            continue
        openapi_path = _PARAMETER.sub(r"{\1}", route)
        found += [
            (openapi_path, method.upper(), view_class)
            for method in _METHODS
            if hasattr(view_class, method)
        ]
    return found


def schema_problems(schema: dict, endpoints) -> list[str]:
    """What the schema lacks for ``endpoints``: an operation, its scopes as
    the OAuth requirement, or its scopes in its description."""
    problems = []
    for openapi_path, method, view_class in endpoints:
        where = f"{method} {openapi_path} ({view_class.__name__})"
        scopes = list(view_class().scopes_for_method(method))
        if not scopes:
            problems.append(f"{where} declares no scope")
        operation = schema["paths"].get(openapi_path, {}).get(method.lower())
        if operation is None:
            problems.append(f"{where} is not in the schema")
            continue
        oauth = [r["OAuth2"] for r in operation.get("security", []) if "OAuth2" in r]
        if not oauth or sorted(oauth[0]) != sorted(scopes):
            problems.append(f"{where}: security {operation.get('security')}")
        plural = "s" if len(scopes) > 1 else ""
        words = f"Requires scope{plural} {', '.join(scopes)}"
        if not scopes or words not in operation.get("description", ""):
            problems.append(f"{where}: description does not say {words!r}")
    return problems


@pytest.fixture
def get_schema(client):
    def get(url: str = "/api/schema/") -> dict:
        response = client.get(url, HTTP_ACCEPT="application/json")
        assert response.status_code == 200, response.content
        return response.json()

    return get


@pytest.fixture
def schema(get_schema):
    return get_schema()


def operations(schema: dict):
    for openapi_path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield openapi_path, method, operation


# --- every operation, with its scopes ------------------------------------------


def test_every_api_operation_is_in_the_schema_with_its_scopes(schema):
    endpoints = api_endpoints(get_resolver().url_patterns)

    assert {path for path, _, _ in endpoints} >= {
        "/api/books/v1/books/",
        "/api/books/v1/books/{book_id}/",
        "/api/books/v1/authors/",
        "/api/books/v1/authors/{author_id}/",
        "/api/manage/v1/apps/{app_id}/usage/",
    }
    assert schema_problems(schema, endpoints) == []


def test_the_schema_has_nothing_but_those_operations(schema):
    routed = {
        (path, method.lower())
        for path, method, _ in api_endpoints(get_resolver().url_patterns)
    }
    documented = {(path, method) for path, method, _ in operations(schema)}

    assert documented == routed


def test_an_operation_says_its_scopes(schema):
    read = schema["paths"]["/api/books/v1/books/"]["get"]
    write = schema["paths"]["/api/books/v1/books/{book_id}/"]["delete"]
    usage = schema["paths"]["/api/manage/v1/apps/{app_id}/usage/"]["get"]

    assert {"OAuth2": ["books:read"]} in read["security"]
    assert {"ApiKey": []} in read["security"]
    assert {"Bearer": []} in read["security"]
    assert len(read["security"]) == 3  # ApiKey, Bearer (key or token), OAuth2
    assert "**Requires scope books:read.**" in read["description"]
    assert {"OAuth2": ["books:write"]} in write["security"]
    assert "Requires scope books:write" in write["description"]
    # The management API: a token needs the scope, the portal session none.
    assert {"OAuth2": ["manage:read"]} in usage["security"]
    assert {"PortalSession": []} in usage["security"]
    assert {"ApiKey": []} not in usage["security"]
    assert "Requires scope manage:read** with an OAuth" in usage["description"]


# --- the check itself catches what it should ------------------------------------


def test_a_served_view_without_scopes_cannot_even_be_declared():
    with pytest.raises(TypeError, match="required_scopes"):

        class Unscoped(ServedApiView):  # noqa: F841
            api_slug = "throwaway"

            def get(self, request):
                return Response({})


class EmptyScopes(ServedApiView):
    api_slug = "throwaway"
    required_scopes = {"GET": ()}

    def get(self, request):
        return Response({})


class PlainSchema(ServedApiView):
    """Documented by drf-spectacular's own AutoSchema, which knows no scopes."""

    api_slug = "throwaway"
    required_scopes = {"GET": ("throwaway:read",)}
    schema = AutoSchema()

    def get(self, request):
        return Response({})


class KeyOnly(ServedApiView):
    """Takes API keys only: OpenAPI 3.0 cannot name scopes for them."""

    api_slug = "throwaway"
    required_scopes = {"GET": ("throwaway:read",)}
    authentication_classes = (ApiKeyAuthentication,)

    def get(self, request):
        return Response({})


class LeftOut(ServedApiView):
    api_slug = "throwaway"
    required_scopes = {"GET": ("throwaway:read",)}

    @extend_schema(exclude=True)
    def get(self, request):
        return Response({})


THROWAWAY = [
    path("api/throwaway/v1/empty/", EmptyScopes.as_view()),
    path("api/throwaway/v1/plain/", PlainSchema.as_view()),
    path("api/throwaway/v1/key-only/", KeyOnly.as_view()),
    path("api/throwaway/v1/left-out/", LeftOut.as_view()),
]


def test_the_check_catches_a_view_without_scopes_or_a_schema_without_them():
    schema = GatehouseSchemaGenerator(patterns=THROWAWAY).get_schema(public=True)
    # Generation itself complains about the view that declares no scope.
    assert any("declares no scope" in e for e in GENERATOR_STATS._error_cache)

    problems = schema_problems(schema, api_endpoints(THROWAWAY))

    assert any(
        "GET /api/throwaway/v1/empty/" in p and "no scope" in p for p in problems
    )
    assert any("/plain/" in p and "description" in p for p in problems)
    assert any("/key-only/" in p and "security" in p for p in problems)
    assert any("/left-out/" in p and "not in the schema" in p for p in problems)


# --- valid, per API and all together -------------------------------------------


@pytest.mark.parametrize("api", documented_apis(), ids=lambda api: api.slug)
def test_each_api_schema_is_valid_and_holds_its_own_operations(get_schema, api):
    schema = get_schema(api.schema_path)

    validate_schema(schema)
    assert schema["openapi"].startswith("3.0")
    assert schema["info"]["title"] == f"{api.name} API"
    assert schema["info"]["version"] == api.version
    assert schema["paths"]
    assert all(p.startswith(api.base_path) for p in schema["paths"])
    oauth = schema["components"]["securitySchemes"]["OAuth2"]
    assert set(oauth["flows"]["clientCredentials"]["scopes"]) <= set(api.scopes)


def test_the_combined_schema_is_valid(schema):
    validate_schema(schema)
    assert {p.split("/")[2] for p in schema["paths"]} == {"books", "manage"}


def test_books_schema_generates_without_warnings():
    books = documented_api_get("books")
    GatehouseSchemaGenerator(api=books).get_schema(public=True)

    assert not GENERATOR_STATS._warn_cache, dict(GENERATOR_STATS._warn_cache)
    assert not GENERATOR_STATS._error_cache, dict(GENERATOR_STATS._error_cache)


def test_yaml_by_default_json_when_asked(client):
    default = client.get("/api/books/v1/schema/")
    asked = client.get("/api/books/v1/schema/", HTTP_ACCEPT="application/json")
    by_format = client.get("/api/books/v1/schema/?format=json")

    assert default.status_code == 200
    assert default["Content-Type"].startswith("application/vnd.oai.openapi")
    assert yaml.safe_load(default.content)["info"]["title"] == "Books API"
    assert asked["Content-Type"].startswith("application/json")
    assert asked.json()["info"]["title"] == "Books API"
    assert by_format.json()["paths"] == asked.json()["paths"]


def test_schemas_are_public_and_leave_themselves_out(client, schema):
    response = client.get("/api/manage/v1/schema/")

    assert response.status_code == 200
    assert not any(p.endswith("/schema/") for p in schema["paths"])


def test_the_registry_and_the_management_api_each_have_a_schema_route(client):
    for api in (*SERVED_APIS, MANAGE_API):
        response = client.get(f"{api.base_path}schema/", HTTP_ACCEPT="application/json")
        assert response.status_code == 200, api.base_path


# --- authentication ----------------------------------------------------------------


def test_security_schemes_cover_keys_oauth_and_the_session(schema):
    schemes = schema["components"]["securitySchemes"]

    assert schemes["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": schemes["ApiKey"]["description"],
    }
    assert schemes["Bearer"]["type"] == "http"
    assert schemes["Bearer"]["scheme"] == "bearer"
    assert schemes["PortalSession"]["in"] == "cookie"
    oauth = schemes["OAuth2"]
    code = oauth["flows"]["authorizationCode"]
    assert code["authorizationUrl"] == "http://testserver/o/authorize/"
    assert code["tokenUrl"] == "http://testserver/o/token/"
    assert code["refreshUrl"] == "http://testserver/o/token/"
    assert "PKCE" in oauth["description"]
    assert oauth["flows"]["clientCredentials"]["tokenUrl"] == code["tokenUrl"]
    device = oauth["x-device-authorization"]
    assert (
        device["deviceAuthorizationUrl"] == "http://testserver/o/device-authorization/"
    )
    assert set(code["scopes"]) == {
        "books:read",
        "books:write",
        "manage:read",
        "manage:write",
    }
    assert schema["servers"] == [{"url": "http://testserver"}]


def test_a_served_api_schema_offers_its_own_scopes_and_no_session(get_schema):
    books = get_schema("/api/books/v1/schema/")
    schemes = books["components"]["securitySchemes"]

    assert set(schemes) == {"ApiKey", "Bearer", "OAuth2"}
    assert schemes["OAuth2"]["flows"]["authorizationCode"]["scopes"] == {
        "books:read": "Read books and authors.",
        "books:write": "Create, change and delete books and authors.",
    }


# --- limits, request ids and problems ------------------------------------------------


def header_names(response: dict) -> set[str]:
    return set(response.get("headers", {}))


def test_served_responses_carry_the_ratelimit_fields_and_a_request_id(schema):
    listing = schema["paths"]["/api/books/v1/books/"]["get"]["responses"]
    creating = schema["paths"]["/api/books/v1/books/"]["post"]["responses"]

    assert header_names(listing["200"]) == {
        "RateLimit-Policy",
        "RateLimit",
        "Request-Id",
    }
    assert header_names(listing["429"]) == {
        "RateLimit-Policy",
        "RateLimit",
        "Retry-After",
        "Request-Id",
    }
    assert header_names(creating["400"]) >= {"RateLimit-Policy", "RateLimit"}
    # Refused before counting: no RateLimit fields, but the challenge.
    assert header_names(listing["401"]) == {"WWW-Authenticate", "Request-Id"}
    assert header_names(listing["403"]) == {"WWW-Authenticate", "Request-Id"}
    headers = schema["components"]["headers"]
    assert (
        "draft-ietf-httpapi-ratelimit-headers-10"
        in headers["RateLimit-Policy"]["description"]
    )
    assert headers["Retry-After"]["schema"]["type"] == "integer"


def test_management_responses_have_the_default_limit_but_no_plan_limits(schema):
    for openapi_path, _, operation in operations(schema):
        if not openapi_path.startswith(MANAGE_API.base_path):
            continue
        responses = operation["responses"]
        assert set(examples_of(responses["429"])) == {"rate_limited"}, openapi_path
        assert "503" not in responses, openapi_path
        ok = next(r for status, r in responses.items() if status.startswith("2"))
        assert {"RateLimit-Policy", "RateLimit"} <= header_names(ok)
        for response in responses.values():
            assert "Request-Id" not in header_names(response)


def examples_of(response: dict) -> set[str]:
    media = response["content"]["application/problem+json"]
    assert media["schema"] == {"$ref": "#/components/schemas/Problem"}
    return {ref["$ref"].rsplit("/", 1)[1] for ref in media["examples"].values()}


def test_error_responses_are_problems_with_an_example_per_code(schema):
    books = schema["paths"]["/api/books/v1/books/"]
    detail = schema["paths"]["/api/books/v1/authors/{author_id}/"]

    assert examples_of(books["get"]["responses"]["401"]) == {
        "not_authenticated",
        "invalid_token",
        "key_revoked",
        "key_expired",
        "token_expired",
        "credential_suspended",
    }
    assert examples_of(books["get"]["responses"]["403"]) == {
        "insufficient_scope",
        "no_subscription",
        "subscription_pending",
        "ip_not_allowed",
    }
    assert examples_of(books["get"]["responses"]["429"]) == {
        "rate_limited",
        "quota_exceeded",
    }
    assert examples_of(books["get"]["responses"]["404"]) == {"not_found"}
    assert examples_of(books["post"]["responses"]["400"]) == {
        "invalid",
        "malformed_body",
    }
    assert examples_of(books["post"]["responses"]["415"]) == {"unsupported_media_type"}
    assert examples_of(detail["delete"]["responses"]["409"]) == {"author_has_books"}
    assert (
        "[`not_found`](/docs/problems/not_found)"
        in (detail["get"]["responses"]["404"]["description"])
    )


def test_problem_body_and_examples(schema):
    problem = schema["components"]["schemas"]["Problem"]
    examples = schema["components"]["examples"]

    assert problem["required"] == ["type", "title", "status", "detail", "code"]
    assert set(problem["properties"]) == {
        "type",
        "title",
        "status",
        "detail",
        "code",
        "errors",
        "missing_scopes",
        "limit",
        "allowed",
        "count",
        "reset",
    }
    assert set(examples) == set(PROBLEM_TYPES)
    limited = examples["rate_limited"]["value"]
    assert limited["type"] == "/docs/problems/rate_limited"
    assert limited["status"] == 429
    assert set(limited) >= {"limit", "allowed", "count", "reset"}
    assert examples["insufficient_scope"]["value"]["missing_scopes"] == ["books:write"]
    assert "errors" in examples["invalid"]["value"]


def test_operations_are_tagged_and_named_by_api(get_schema):
    books = get_schema("/api/books/v1/schema/")
    together = get_schema()

    listing = books["paths"]["/api/books/v1/books/"]["get"]
    assert listing["tags"] == ["books: books"]
    assert listing["operationId"] == "books_books_list"
    assert listing["summary"] == "List books"
    assert (
        together["paths"]["/api/books/v1/books/"]["get"]["operationId"]
        == "books_books_list"
    )
    parameters = {p["name"]: p for p in listing["parameters"]}
    assert parameters["page_size"]["schema"]["type"] == "integer"
    assert parameters["ordering"]["schema"]["enum"]
    assert "Book" in books["components"]["schemas"]
    assert "BookRequest" in books["components"]["schemas"]
