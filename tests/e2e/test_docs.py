"""The docs in Chromium: Swagger UI and Redoc render the Books API under the
site's content security policy, "Try it out" calls it with a pasted key, and
a new developer gets from sign-up to a first call with the curl snippet of
the getting-started page."""

from __future__ import annotations

import gc
import json
import re
import shlex
import shutil
import subprocess
import threading

import pytest
from django.core import mail

from tests.conftest import skip_or_fail

pytestmark = pytest.mark.usefixtures("transactional_db")

BOOKS_OPERATIONS = 12  # books/ and authors/: list, add; read, replace, change, delete


@pytest.fixture(autouse=True)
def _server_threads_finish():
    yield
    # A kept-alive connection holds a live-server thread and its database
    # connection, which would keep the PostgreSQL test database from being
    # dropped (see tests/e2e/test_oauth_flows.py).
    gc.collect()
    for thread in threading.enumerate():
        if thread.name.endswith("(process_request_thread)"):
            thread.join(timeout=10)


# Recorded by the page itself before any of its scripts run: every report of
# the content security policy, whether or not the browser also logs it.
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.effectiveDirective} blocked ${event.blockedURI || "inline"}`
  );
});
"""


@pytest.fixture
def problems(page) -> list[str]:
    """Console errors, uncaught exceptions and CSP violations of the page."""
    found: list[str] = []

    def console(message) -> None:
        # The site has no favicon yet: the browser's own request for it 404s.
        if message.type == "error" and not message.location["url"].endswith(
            "/favicon.ico"
        ):
            found.append(f"console: {message.text} at {message.location['url']}")

    page.add_init_script(CSP_LISTENER)
    page.on("console", console)
    page.on("pageerror", lambda error: found.append(f"page error: {error}"))
    return found


def csp_violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations")


def policy_of(response) -> dict[str, list[str]]:
    header = response.headers["content-security-policy"]
    return {
        name: values
        for name, *values in (
            part.split() for part in header.split(";") if part.strip()
        )
    }


def test_swagger_ui_renders_the_books_api_under_the_policy(page, problems, catalog):
    policy = policy_of(page.goto("/docs/books/"))
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]

    page.locator('#swagger-ui[data-rendered="true"]').wait_for()
    page.locator(
        '.opblock-summary-path[data-path="/api/books/v1/books/"]'
    ).first.wait_for()

    assert page.locator(".opblock").count() == BOOKS_OPERATIONS
    for summary in ("List books", "Add a book", "Delete an author"):
        assert page.get_by_text(summary, exact=True).count() == 1
    assert csp_violations(page) == []
    assert problems == []


def test_the_management_reference_renders_too(page, problems, catalog):
    page.goto("/docs/manage/")
    page.locator('#swagger-ui[data-rendered="true"]').wait_for()
    page.locator(
        '.opblock-summary-path[data-path="/api/manage/v1/apps/"]'
    ).first.wait_for()

    assert csp_violations(page) == []
    assert problems == []


def test_redoc_renders_the_books_api_under_the_policy(page, problems, catalog):
    policy = policy_of(page.goto("/docs/books/redoc/"))
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"][0] == "'self'"
    assert policy["style-src"][1].startswith("'nonce-")

    page.locator('#redoc[data-rendered="true"]').wait_for()
    page.get_by_role("heading", name="List books").first.wait_for()

    for summary in ("Add a book", "Change an author", "Delete an author"):
        assert page.get_by_role("heading", name=summary).count() >= 1
    # Redoc's own styles applied (its three-panel layout is laid out).
    assert page.locator(".menu-content").first.is_visible()
    assert csp_violations(page) == []
    assert problems == []


def test_try_it_out_with_a_pasted_key(page, problems, books_app, book_factory):
    book_factory(title="The Left Hand of Darkness")
    page.goto("/docs/books/")
    page.locator('#swagger-ui[data-rendered="true"]').wait_for()
    assert books_app.full_key not in page.content()

    page.locator(".auth-wrapper .authorize").click()
    api_key = page.locator(".auth-container", has_text="X-API-Key")
    api_key.locator("input").fill(books_app.full_key)
    api_key.get_by_role("button", name="Apply credentials").click()
    api_key.get_by_role("button", name="Close").click()

    listing = page.locator(
        ".opblock-get",
        has=page.locator('.opblock-summary-path[data-path="/api/books/v1/books/"]'),
    )
    listing.locator(".opblock-summary").click()
    listing.get_by_role("button", name="Try it out").click()
    listing.get_by_role("button", name="Execute").click()

    live = listing.locator(".live-responses-table tbody .response-col_status").first
    live.wait_for()
    assert live.inner_text().strip() == "200"
    assert (
        "The Left Hand of Darkness"
        in listing.locator(".live-responses-table").inner_text()
    )
    assert csp_violations(page) == []
    assert problems == []


def test_sign_up_to_a_first_call_with_the_getting_started_snippet(
    page, problems, live_server, catalog
):
    curl = shutil.which("curl")
    if not curl:
        skip_or_fail("the first-call test runs the page's curl snippet: install curl")
    password = "a-long-unusual-passphrase-9"

    # Sign up, confirm the address, log in.
    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Name (optional)").fill("Ada")
    page.get_by_label("Password:", exact=True).fill(password)
    page.get_by_label("Password again").fill(password)
    page.get_by_role("button", name="Sign up").click()
    page.get_by_role("heading", name="Check your email").wait_for()
    link = re.search(r"https?://\S+/accounts/verify/\S+/", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    page.goto(link.group(0))
    page.get_by_text("Your email address is confirmed").wait_for()
    login_form = page.locator("main form.card")
    login_form.get_by_label("Email").fill("ada@example.com")
    login_form.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()

    # Create an app in the personal team and subscribe it.
    page.get_by_role("link", name="Ada's team").first.click()
    page.get_by_role("link", name="Create an app").click()
    page.get_by_label("Name").fill("Reading Room")
    page.get_by_role("button", name="Create app").click()
    page.get_by_role("heading", name="Reading Room").wait_for()
    page.get_by_label("Subscribe, or change plan").select_option(label="Books: Starter")
    page.get_by_role("button", name="Subscribe").click()
    page.get_by_text("Reading Room is now on Books Starter.").wait_for()

    # Create a key and keep the full key, shown this once.
    key_form = page.locator("form", has=page.get_by_role("button", name="Create key"))
    key_form.get_by_label("Name").fill("first")
    key_form.get_by_label("books:read", exact=False).check()
    key_form.get_by_role("button", name="Create key").click()
    full_key = page.locator("#full-key").input_value()
    assert full_key.startswith("gk_test_")

    # The getting-started snippet names the app and the key's prefix only.
    page.goto("/docs/getting-started/")
    assert full_key not in page.content()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    section = page.locator(
        "section.docs-snippet", has=page.get_by_role("heading", name="curl")
    )
    section.get_by_role("button", name="Copy").click()
    section.get_by_text("Copied.").wait_for()
    snippet = page.evaluate("navigator.clipboard.readText()")
    assert "Reading Room" in snippet
    (prefix,) = re.findall(r"gk_test_[0-9a-z]{12}_…", snippet)
    assert full_key.startswith(prefix.removesuffix("…"))

    # Pasted in place of the prefix, the full key makes the snippet work.
    argv = shlex.split(snippet.replace(prefix, full_key), comments=True)
    assert argv[0] == "curl"
    result = subprocess.run(  # noqa: S603 - the page's own curl command
        [curl, *argv[1:], "--silent", "--show-error", "--write-out", "\n%{http_code}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    body, status = result.stdout.rsplit("\n", 1)
    assert status == "200", (result.stdout, result.stderr)
    assert "results" in json.loads(body)
    assert csp_violations(page) == []
    assert problems == []
