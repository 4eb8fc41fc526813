"""The production configuration: `check --deploy`, security headers, cookies
and what a server error shows.

The checks run `manage.py` in a subprocess with the variables README's
"Production deployment" sets. The header tests read the settings that those
variables produce (again from a subprocess, so nothing here restates them) and
serve real pages and API responses with them through the test client.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]
HOST = "portal.example.com"

_OIDC_KEY = (
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    .decode()
)

# README, "Production deployment": the variables a production node sets.
PRODUCTION = {
    "DEBUG": "False",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": HOST,
    "DATABASE_URL": "postgres://gatehouse:pw@db.internal:5432/gatehouse",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "EMAIL_URL": "smtp+tls://user:pass@mail.internal:587",
    "SECURE_PROXY_SSL_HEADER": "True",
    "OIDC_RSA_PRIVATE_KEY": _OIDC_KEY.replace("\n", "\\n"),
}
CHECK_DEPLOY = ("check", "--deploy", "--fail-level", "WARNING")

# What the header tests take from the production settings.
SECURITY_SETTINGS = (
    "DEBUG",
    "ALLOWED_HOSTS",
    "SECURE_SSL_REDIRECT",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "SECURE_CROSS_ORIGIN_OPENER_POLICY",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SAMESITE",
    "X_FRAME_OPTIONS",
    "CONTENT_SECURITY_POLICY",
)


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    # Only the variables given: none of this test run's own (DATABASE_URL...).
    base = {
        k: v
        for k, v in os.environ.items()
        if k in ("PATH", "HOME", "LANG", "LC_ALL", "GATEHOUSE_SECRETS_DIR")
    }
    return subprocess.run(  # noqa: S603 - fixed argv, our own manage.py
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- manage.py check --deploy ---------------------------------------------------


def test_check_deploy_passes_with_the_production_variables():
    result = manage(*CHECK_DEPLOY, **PRODUCTION)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    print(f"\nFIGURE check --deploy --fail-level WARNING: {result.stdout.strip()}")


def test_every_silenced_check_is_listed_in_the_readme_with_a_reason():
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "import json; from django.conf import settings; "
        "print(json.dumps(settings.SILENCED_SYSTEM_CHECKS))",
        **PRODUCTION,
    )
    assert result.returncode == 0, result.stderr
    silenced = json.loads(result.stdout)
    readme = (ROOT / "README.md").read_text()
    section = readme.split("#### Silenced system checks", 1)[1].split("\n#", 1)[0]

    # Not one of Django's own deployment checks (security.*) is silenced.
    assert not [check for check in silenced if check.startswith("security.")]
    for check in silenced:
        line = next((line for line in section.splitlines() if f"`{check}`" in line), "")
        # The check's id, then why it is silenced.
        assert len(line.split(f"`{check}`", 1)[-1].strip(" :|-")) > 20, check
    print(f"\nFIGURE silenced in production: {silenced}")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # Each protection turned off makes the command fail, naming the check.
        ({"SECRET_KEY": "change-me"}, "security.W009"),
        ({"SECURE_HSTS_SECONDS": "0"}, "security.W004"),
        ({"SECURE_SSL_REDIRECT": "False"}, "security.W008"),
        ({"SESSION_COOKIE_SECURE": "False"}, "security.W012"),
        ({"CSRF_COOKIE_SECURE": "False"}, "security.W016"),
        ({"DEBUG": "True"}, "security.W018"),
    ],
    ids=lambda value: next(iter(value)) if isinstance(value, dict) else value,
)
def test_check_deploy_fails_when_a_protection_is_off(change, expected):
    result = manage(*CHECK_DEPLOY, **{**PRODUCTION, **change})

    assert result.returncode != 0
    assert expected in result.stderr


@pytest.mark.parametrize("missing", ["SECRET_KEY", "OIDC_RSA_PRIVATE_KEY"])
def test_production_without_a_secret_fails_clearly(missing):
    env = {k: v for k, v in PRODUCTION.items() if k != missing}

    result = manage(*CHECK_DEPLOY, **env)

    assert result.returncode != 0
    # The last line says what is wrong and where to look.
    last = result.stderr.strip().splitlines()[-1]
    assert f"{missing} must be set when DEBUG is off" in last


# --- what production responses carry -----------------------------------------


@pytest.fixture(scope="module")
def production_values() -> dict:
    code = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {SECURITY_SETTINGS!r}}}))"
    )
    result = manage("shell", "--no-imports", "-c", code, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    if values["SECURE_PROXY_SSL_HEADER"]:
        values["SECURE_PROXY_SSL_HEADER"] = tuple(values["SECURE_PROXY_SSL_HEADER"])
    return values


@pytest.fixture
def production(settings, production_values):
    """This process configured as production is (middleware reads the
    settings when a new test client's handler is built)."""
    for name, value in production_values.items():
        setattr(settings, name, value)
    assert settings.DEBUG is False
    return settings


def https_client(**kwargs) -> Client:
    # As the load balancer forwards a request that arrived over https.
    return Client(HTTP_HOST=HOST, HTTP_X_FORWARDED_PROTO="https", **kwargs)


def csp_directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    directives = {}
    for part in policy.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_security_headers(response) -> None:
    assert response["Strict-Transport-Security"] == (
        "max-age=31536000; includeSubDomains; preload"
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    csp = csp_directives(response)
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["default-src"] == ["'self'"]
    # Scripts only from our own origin: nothing inline, no eval, no nonce that
    # an injected <script> could carry.
    assert csp["script-src"] == ["'self'"]


PAGES = [
    ("portal:home", ()),
    ("portal:login", ()),
    ("portal:signup", ()),
    ("portal:password-reset", ()),
    ("portal:api-list", ()),
    ("docs:index", ()),
    ("docs:getting-started", ()),
    ("docs:problem-list", ()),
    ("docs:reference", ("books",)),
    ("docs:redoc", ("books",)),
    ("docs:reference", ("manage",)),
    ("oauth2_provider:authorize", ()),
    ("healthz", ()),
    ("api-schema", ()),
    ("/api/books/v1/books/", ()),
    ("/api/no-such-endpoint/", ()),
    ("/no-such-page/", ()),
    ("/.well-known/openid-configuration", ()),
]


def url(name: str, args: tuple) -> str:
    return name if name.startswith("/") else reverse(name, args=args)


@pytest.mark.parametrize(("name", "args"), PAGES)
def test_every_kind_of_response_carries_the_security_headers(
    production, db, name, args
):
    response = https_client().get(url(name, args))

    assert response.status_code < 500
    assert_security_headers(response)


def test_no_page_allows_inline_script_or_eval(production, db):
    # The docs pages relax their policy (Redoc's nonce for styles, a worker),
    # never for scripts.
    for name, args in PAGES:
        csp = csp_directives(https_client().get(url(name, args)))
        for directive in ("script-src", "script-src-elem", "script-src-attr"):
            values = csp.get(directive, [])
            assert "'unsafe-inline'" not in values, (name, directive)
            assert "'unsafe-eval'" not in values, (name, directive)
            assert not [v for v in values if v.startswith("'nonce-")], name


def test_plain_http_is_redirected_to_https(production, db):
    response = Client(HTTP_HOST=HOST, HTTP_X_FORWARDED_PROTO="http").get(
        reverse("portal:login")
    )

    assert response.status_code == 301
    assert response["Location"] == f"https://{HOST}{reverse('portal:login')}"


def test_an_unknown_host_is_refused(production, db):
    response = Client(HTTP_HOST="evil.example", HTTP_X_FORWARDED_PROTO="https").get(
        "/login/"
    )

    assert response.status_code == 400


def assert_cookie_flags(cookie) -> None:
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


def test_the_csrf_cookie_is_secure_httponly_and_lax(production, db):
    response = https_client().get(reverse("portal:login"))

    assert_cookie_flags(response.cookies["csrftoken"])


def test_the_session_cookie_is_secure_httponly_and_lax(production, user, password):
    client = https_client()

    response = client.post(
        reverse("portal:login"), {"username": user.email, "password": password}
    )

    assert response.status_code == 302
    assert_cookie_flags(response.cookies["sessionid"])
    # The signed-in pages carry the same headers.
    assert_security_headers(client.get(reverse("portal:dashboard")))


# --- server errors ---------------------------------------------------------------

MARKER = "kaboom-7f3e-internal-detail"


class Boom(RuntimeError):
    pass


def explode(*args, **kwargs):
    raise Boom(MARKER)


def assert_reveals_nothing(response, settings) -> None:
    body = response.content.decode()
    for leak in (
        MARKER,
        "Boom",
        "Traceback",
        "RuntimeError",
        "SECRET_KEY",
        settings.SECRET_KEY,
        "DATABASES",
        "site-packages",
        str(ROOT),
    ):
        assert leak not in body, leak


def test_a_portal_page_error_is_a_plain_500_page(production, db, monkeypatch, caplog):
    monkeypatch.setattr("portal.web.views.render", explode)
    client = https_client(raise_request_exception=False)

    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get(reverse("portal:home"))

    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert "Something went wrong on our side" in response.content.decode()
    assert_reveals_nothing(response, production)
    assert_security_headers(response)
    # The details went to the log instead.
    assert MARKER in caplog.text


def test_a_served_api_error_is_a_problem_json_500(
    production, books_app, monkeypatch, caplog
):
    monkeypatch.setattr("apis.books.selectors.book_list", explode)
    client = https_client(raise_request_exception=False)

    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get("/api/books/v1/books/", **books_app.headers)

    assert response.status_code == 500
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "/docs/problems/error",
        "title": "Internal server error",
        "status": 500,
        "detail": "A server error occurred.",
        "code": "error",
    }
    assert_reveals_nothing(response, production)
    assert_security_headers(response)
    assert MARKER in caplog.text


def test_a_management_api_error_is_a_problem_json_500(
    production, user, monkeypatch, caplog
):
    monkeypatch.setattr("apis.manage.selectors.team_list", explode)
    client = https_client(raise_request_exception=False)
    client.force_login(user)

    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = client.get(reverse("manage:team-list"))

    assert response.status_code == 500
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "error"
    assert_reveals_nothing(response, production)
