"""The docs pages under /docs/: readable by anyone, strict CSP, no key in them,
a page for every problem type, and first-call snippets that work."""

from __future__ import annotations

import ast
import html
import re
import shlex
from pathlib import Path

import pytest

from apis.problems import DRF_CODES
from apis.schema import documented_apis
from portal.docs.problem_types import PROBLEM_TYPES
from tests.apis.assertions import assert_problem

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=", re.IGNORECASE)


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (
            part.split() for part in policy.split(";") if part.strip()
        )
    }


@pytest.fixture
def developer_client(client, developer):
    client.force_login(developer)
    return client


# --- index and references -------------------------------------------------------


def test_docs_index_lists_every_api_with_its_references_and_schemas(client, catalog):
    response = client.get("/docs/")

    assert response.status_code == 200
    page = response.content.decode()
    for api in documented_apis():
        assert f'href="/docs/{api.slug}/"' in page
        assert f'href="/docs/{api.slug}/redoc/"' in page
        assert f'href="{api.base_path}schema/"' in page
        assert f'href="{api.base_path}schema/?format=json"' in page
    assert 'href="/apis/books/"' in page  # the plans, for an API in the catalog
    assert 'href="/api/schema/"' in page


@pytest.mark.parametrize("api", documented_apis(), ids=lambda api: api.slug)
def test_swagger_page_loads_sidecar_assets_under_the_strict_policy(client, api):
    response = client.get(f"/docs/{api.slug}/")

    assert response.status_code == 200
    page = response.content.decode()
    assert f'data-schema-url="{api.schema_path}"' in page
    assert (
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    )
    assert "/static/js/docs-swagger.js" in page
    assert not INLINE_SCRIPT.search(page)
    assert not INLINE_STYLE.search(page)
    assert "cdn" not in page.lower()
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]


def test_redoc_page_adds_only_a_style_nonce_and_blob_workers(client):
    response = client.get("/docs/books/redoc/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js" in page
    assert not INLINE_SCRIPT.search(page)
    assert not INLINE_STYLE.search(page)
    policy = directives(response)
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"][0] == "'self'"
    (nonce,) = re.findall(r"'nonce-([^']+)'", " ".join(policy["style-src"]))
    assert f'src="/static/js/docs-redoc.js" nonce="{nonce}"' in page
    assert policy["worker-src"] == ["'self'", "blob:"]


def test_other_pages_keep_the_strict_policy(client):
    policy = directives(client.get("/docs/"))

    assert policy["style-src"] == ["'self'"]
    assert "worker-src" not in policy


@pytest.mark.parametrize("url", ["/docs/nope/", "/docs/nope/redoc/"])
def test_unknown_api_is_not_found(client, url):
    assert client.get(url).status_code == 404


def test_reference_shows_the_developers_keys_by_prefix_never_the_key(
    developer_client, books_app, issue_key
):
    other = issue_key(books_app.app, name="Read only", scopes=["books:read"])

    response = developer_client.get("/docs/books/")

    page = response.content.decode()
    assert books_app.key.prefix in page
    assert other.key.prefix in page
    assert "Read only" in page
    assert books_app.full_key not in page
    assert other.full_key not in page
    assert books_app.full_key.rsplit("_", 1)[1] not in page


def test_reference_hides_revoked_keys_and_other_teams_keys(
    client, books_app, developer, user_factory
):
    from portal.keys.services import api_key_revoke

    stranger = user_factory(password=None)
    client.force_login(stranger)
    assert books_app.key.prefix not in client.get("/docs/books/").content.decode()

    client.force_login(developer)
    api_key_revoke(key=books_app.key, actor=None)
    assert books_app.key.prefix not in client.get("/docs/books/").content.decode()


def test_api_pages_of_the_catalog_link_to_the_docs(client, catalog):
    listing = client.get("/apis/").content.decode()
    detail = client.get("/apis/books/").content.decode()

    for page in (listing, detail):
        assert 'href="/docs/books/"' in page
        assert 'href="/docs/books/redoc/"' in page
        assert 'href="/api/books/v1/schema/"' in page


# --- problem types ------------------------------------------------------------------


@pytest.mark.parametrize("code", sorted(PROBLEM_TYPES))
def test_every_problem_type_has_a_page(client, code):
    response = client.get(f"/docs/problems/{code}")

    assert response.status_code == 200
    page = response.content.decode()
    assert f"<code>{code}</code>" in page
    assert "What it means" in page
    assert "What to do" in page
    assert f'"type": "/docs/problems/{code}"' in html.unescape(page)


def test_problem_list_links_every_code(client):
    page = client.get("/docs/problems/").content.decode()

    for code in PROBLEM_TYPES:
        assert f'href="/docs/problems/{code}"' in page


def test_an_unknown_problem_type_is_not_found(client):
    assert client.get("/docs/problems/no_such_code").status_code == 404


def test_the_type_of_a_real_error_leads_to_its_page(client, catalog):
    body = assert_problem(client.get("/api/books/v1/books/"), 401, "not_authenticated")

    assert client.get(body["type"]).status_code == 200


def _codes_raised(source: Path) -> set[str]:
    """Problem codes ``source`` raises, read from its syntax tree: ``code=``
    arguments, the code argument of our exceptions and problem helpers, and
    ``code`` / ``default_code`` / ``problem_code`` assignments."""
    codes: set[str] = set()
    positional = {
        "InvalidCredential": 1,
        "CredentialForbidden": 1,
        "InvalidQuery": 1,
        "__init__": 1,  # super().__init__(detail, code) in our exceptions
        "problem_body": 1,
        "problem_response": 2,
    }
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else getattr(func, "id", "")
            )
            if name.endswith("ValidationError"):
                continue  # a field error's own code, inside ``errors``
            values = [k.value for k in node.keywords if k.arg == "code"]
            if name in positional and len(node.args) > positional[name]:
                values.append(node.args[positional[name]])
            for value in values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    codes.add(value.value)
                elif isinstance(value, ast.JoinedStr):
                    # code=f"key_{status}": every code with that prefix.
                    prefix = value.values[0].value
                    codes |= {c for c in PROBLEM_TYPES if c.startswith(prefix)} or {
                        f"{prefix}…"
                    }
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                name = getattr(target, "id", None) or getattr(target, "attr", None)
                if name in {"code", "default_code", "problem_code"} and isinstance(
                    node.value.value, str
                ):
                    codes.add(node.value.value)
    return codes


RAISING_SOURCES = [
    *sorted((ROOT / "apis").rglob("*.py")),
    *sorted((ROOT / "portal" / "limits").rglob("*.py")),
    ROOT / "portal" / "errors.py",
    ROOT / "portal" / "keys" / "authentication.py",
    ROOT / "portal" / "oauth" / "authentication.py",
    ROOT / "portal" / "oauth" / "redirects.py",
    # The services the management API calls: their errors reach it as problems.
    *[
        ROOT / "portal" / app / "services.py"
        for app in ("accounts", "catalog", "keys", "oauth")
    ],
]


def test_every_code_the_apis_raise_has_a_problem_page():
    raised = {
        code: source for source in RAISING_SOURCES for code in _codes_raised(source)
    }
    raised.update(dict.fromkeys(DRF_CODES.values(), "apis/problems.py DRF_CODES"))
    raised.setdefault("error", "apis/problems.py fallback")

    # The scan does find what it should.
    assert {"invalid_token", "key_revoked", "rate_limited", "quota_exceeded"} <= set(
        raised
    )
    assert {"limits_unavailable", "insufficient_scope", "author_has_books"} <= set(
        raised
    )
    undocumented = {
        code: str(source)
        for code, source in raised.items()
        if code not in PROBLEM_TYPES
    }
    assert undocumented == {}


# --- getting started ------------------------------------------------------------------


def snippet(page: str, lang: str) -> str:
    match = re.search(rf'<code id="snippet-{lang}">(.*?)</code>', page, re.DOTALL)
    assert match, page
    return html.unescape(match.group(1))


def curl_request(text: str) -> tuple[str, dict[str, str]]:
    """The URL and headers of the curl snippet."""
    argv = shlex.split(text, comments=True)
    assert argv[0] == "curl"
    headers = dict(
        argv[i + 1].split(": ", 1) for i, arg in enumerate(argv) if arg == "-H"
    )
    return argv[-1], headers


def test_getting_started_without_an_account_uses_a_placeholder(client, catalog):
    response = client.get("/docs/getting-started/")

    assert response.status_code == 200
    page = response.content.decode()
    url, headers = curl_request(snippet(page, "curl"))
    assert url == "http://testserver/api/books/v1/books/"
    assert headers == {"X-API-Key": "YOUR_API_KEY"}
    assert 'API_KEY = "YOUR_API_KEY"' in snippet(page, "python")
    assert 'const API_KEY = "YOUR_API_KEY";' in snippet(page, "javascript")
    assert "/static/js/docs-copy.js" in page
    assert not INLINE_SCRIPT.search(page)


def test_getting_started_uses_the_developers_app_and_key_prefix(
    developer_client, books_app, api_client
):
    response = developer_client.get("/docs/getting-started/")

    page = response.content.decode()
    assert books_app.full_key not in page
    curl = snippet(page, "curl")
    assert books_app.app.name in curl
    url, headers = curl_request(curl)
    assert headers == {"X-API-Key": books_app.key.prefix}
    assert url == "http://testserver/api/books/v1/books/"
    assert f'API_KEY = "{books_app.key.prefix}"' in snippet(page, "python")
    assert books_app.key.prefix in snippet(page, "javascript")

    # With the full key pasted in place of the prefix, the call works.
    url, headers = curl_request(curl.replace(books_app.key.prefix, books_app.full_key))
    call = api_client.get(url, HTTP_X_API_KEY=headers["X-API-Key"])
    assert call.status_code == 200
    assert "results" in call.json()


def test_getting_started_picks_among_the_developers_keys(
    developer_client, books_app, issue_key
):
    reader = issue_key(books_app.app, name="Reader key", scopes=["books:read"])

    default = developer_client.get("/docs/getting-started/").content.decode()
    chosen = developer_client.get(
        f"/docs/getting-started/?key={books_app.key.lookup_id}"
    ).content.decode()

    # Newest first by default; ?key= picks another.
    assert reader.key.prefix in snippet(default, "curl")
    assert books_app.key.prefix in snippet(chosen, "curl")
    assert 'name="key"' in default


def test_getting_started_without_a_subscribed_key_says_so(
    developer_client, developer_team, app_factory, catalog
):
    app_factory(team=developer_team, name="Idle", slug="idle")

    page = developer_client.get("/docs/getting-started/").content.decode()

    assert "None of your apps has yet an active key with a scope" in page
    assert curl_request(snippet(page, "curl"))[1] == {"X-API-Key": "YOUR_API_KEY"}
