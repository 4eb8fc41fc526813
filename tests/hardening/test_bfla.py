"""BFLA (OWASP API5:2023): functions are used only by those they are for.

- The staff side: every URL of the Django admin (each registered model's
  list, add, change, delete and history pages and every custom view a
  ModelAdmin adds, such as suspend, reactivate and the audit export, read
  from the URL configuration when the test runs) and every /staff/ page,
  with GET and POST, by: a signed-in developer (with and without a verified
  second factor), a developer's API key and OAuth token sent as a header, a
  staff member's own API key and OAuth token, and staff who have not passed
  their second factor. Each gets a 404 or a redirect to the login / 2FA page,
  never the page, and no row of any table the admin shows changes.
- The management API: a token of the caller's own app with the Books scopes
  only, on the caller's own objects, is refused every route and method with
  403 ``insufficient_scope``; an API key is no management credential (401).
- Team roles: a team's plain member is refused the owner/admin functions
  (members, webhooks) on the portal and in the management API.

Who may open the admin once verified, the admin's own login and the 2FA
flows are in tests/portal/dashboard/test_admin_access.py.
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse

from portal.accounts.models import Role
from portal.audit.models import AuditEvent
from tests.hardening.routes import (
    METHODS,
    Route,
    all_routes,
    make_side,
    registered_admin_models,
    staff_routes,
    team_rows,
)
from tests.portal.dashboard import admin_world
from tests.portal.oauth.flows import bearer, client_credentials, tokens
from tests.staff import staff_login, totp_device

LOGIN = "portal:login"
SETUP = "portal:twofactor-setup"
VERIFY = "portal:twofactor-verify"


@pytest.fixture(autouse=True)
def _fast_client_secret_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- the staff side -------------------------------------------------------------


def _model_of(route: Route):
    match = re.match(r"admin/(\w+)/(\w+)/", route.route)
    if match is None:
        return None
    try:
        model = apps.get_model(match[1], match[2])
    except LookupError:
        return None
    return model if model in registered_admin_models() else None


def staff_url(route: Route) -> str:
    """A URL of ``route`` naming a real row (of its model, for a model page)."""
    model = _model_of(route)
    row = admin_world.some_row(model) if model is not None else None
    user_type = ContentType.objects.get(app_label="accounts", model="user")
    values = {
        "object_id": row.pk
        if row is not None
        else admin_world.some_row(apps.get_model("accounts", "User")).pk,
        "id": row.pk if row is not None else 1,
        "content_type_id": user_type.pk,
        "app_label": "accounts",
        "url": "nowhere/",
    }
    if route.name:
        return reverse(route.name, kwargs={p: values[p] for p in route.params})
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: str(values[m[1]]), route.route)
    path = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m[1]]), path)
    return "/" + path.lstrip("^").rstrip("$")


def every_row() -> dict:
    """Every row of every model the admin shows."""
    return {
        model._meta.label: list(model._default_manager.order_by("pk").values())
        for model in registered_admin_models()
    }


@pytest.fixture
def admin_rows(catalog, starter_plan):
    """A row in every admin table (a user, a team, an app, a key, a token,
    an audit event, a webhook endpoint ...), with one more team and user."""
    return admin_world.populate("bfla", plan=starter_plan)


def hostile_post(world) -> dict:
    """One form for every staff action: delete everything selected, confirm,
    make the caller staff, suspend with a reason."""
    return {
        "action": "delete_selected",
        "_selected_action": [str(obj.pk) for obj in world.objects.values()],
        "post": "yes",
        "is_staff": "on",
        "is_superuser": "on",
        "is_active": "",
        "reason": "taken over",
        "confirm": "yes",
    }


def _where(response) -> str:
    return urlsplit(response["Location"]).path


@pytest.fixture
def developer_credentials(developer, developer_team, oauth_client_factory, issue_key):
    """The developer's API key and OAuth token, for an app of their team."""
    oauth = oauth_client_factory(grant="client-credentials")
    token = tokens(client_credentials(Client(), oauth, scope="books:read"))
    key = issue_key(oauth.app, name="Developer key")
    return key.full_key, token["access_token"]


@pytest.fixture
def staff_member(user_factory, team_factory, membership_factory):
    """A superuser who is also a developer, owner of a team."""
    user = user_factory(is_staff=True, is_superuser=True, password=None)
    membership_factory(user=user, team=team_factory(), role=Role.OWNER)
    return user


@pytest.fixture
def staff_credentials(staff_member, app_factory, starter_plan):
    """The staff member's own API key and OAuth token (of their team's app)."""
    from portal.catalog.services import subscription_create_active
    from portal.keys.services import api_key_issue
    from portal.oauth.services import oauth_client_configure
    from tests.portal.oauth.flows import OAuthClient

    app = app_factory(team=staff_member.memberships.get().team)
    subscription_create_active(app=app, plan=starter_plan)
    secret = oauth_client_configure(app=app, grant="client-credentials")
    app.refresh_from_db()
    token = tokens(
        client_credentials(Client(), OAuthClient(app, secret), scope="books:read")
    )
    key = api_key_issue(app=app, name="Staff key", actor=staff_member)
    return key.full_key, token["access_token"]


def staff_callers(developer, staff_member, developer_credentials, staff_credentials):
    full_key, token = developer_credentials
    staff_key, staff_token = staff_credentials
    return {
        "developer-session": lambda c: c.force_login(developer),
        "developer-with-2fa": lambda c: staff_login(c, developer),
        "developer-api-key": lambda c: c.defaults.update(HTTP_X_API_KEY=full_key),
        "developer-key-as-bearer": lambda c: c.defaults.update(bearer(full_key)),
        "developer-oauth-token": lambda c: c.defaults.update(bearer(token)),
        "staff-api-key": lambda c: c.defaults.update(HTTP_X_API_KEY=staff_key),
        "staff-oauth-token": lambda c: c.defaults.update(bearer(staff_token)),
        "staff-without-2fa": lambda c: c.force_login(staff_member),
        "staff-2fa-not-verified": lambda c: (
            totp_device(staff_member),
            c.force_login(staff_member),
        ),
    }


# What each caller is answered: 404 (the staff side is not theirs), or sent to
# log in, or sent to set up / verify a second factor.
EXPECTED = {
    "developer-session": 404,
    "developer-with-2fa": 404,
    "developer-api-key": LOGIN,
    "developer-key-as-bearer": LOGIN,
    "developer-oauth-token": LOGIN,
    # A staff member's API credentials are not a staff login either.
    "staff-api-key": LOGIN,
    "staff-oauth-token": LOGIN,
    "staff-without-2fa": SETUP,
    "staff-2fa-not-verified": VERIFY,
}


def test_every_admin_model_and_the_staff_pages_are_in_the_matrix():
    names = {route.name for route in staff_routes()}
    for model in registered_admin_models():
        opts = model._meta
        for view in ("changelist", "add", "change", "delete", "history"):
            assert f"admin:{opts.app_label}_{opts.model_name}_{view}" in names
    for custom in (
        "admin:accounts_user_suspend",
        "admin:accounts_user_reactivate",
        "admin:accounts_team_suspend",
        "admin:audit_auditevent_export",
        "dashboard:overview",
    ):
        assert custom in names
    # Nothing outside /admin/ and /staff/ is a staff page.
    outside = [
        r.route
        for r in all_routes()
        if r not in staff_routes()
        and (r.route.startswith("admin/") or r.route.startswith("staff/"))
    ]
    assert outside == []
    assert len(staff_routes()) >= 150


def test_verified_staff_open_the_pages_the_matrix_builds(
    client, admin_rows, user_factory
):
    """The URLs below name real rows: verified staff get the pages (so the
    refusals are about who asks, not about a wrong URL)."""
    staff = user_factory(is_staff=True, is_superuser=True, password=None)
    staff_login(client, staff)
    answers = {}
    for route in staff_routes():
        if route.name in ("admin:logout", "admin:login", "admin:view_on_site"):
            continue
        url = staff_url(route)
        response = client.get(url)
        answers[url] = (
            _where(response) if response.status_code == 302 else response.status_code
        )
    # Every URL names a real row: only the unknown one is a 404. (Some pages
    # are Django's 403 even to a superuser, e.g. deleting audit events or
    # adding a token by hand; object/<id>/ URLs redirect to the change page.)
    assert {url for url, answer in answers.items() if answer == 404} == {
        "/admin/nowhere/"
    }
    assert sum(answer == 200 for answer in answers.values()) >= 100


@pytest.mark.parametrize("caller", list(EXPECTED))
@pytest.mark.parametrize("method", ["get", "post"])
def test_no_one_but_verified_staff_reaches_a_staff_page(
    admin_rows,
    developer,
    staff_member,
    developer_credentials,
    staff_credentials,
    caller,
    method,
):
    client = Client()
    callers = staff_callers(
        developer, staff_member, developer_credentials, staff_credentials
    )
    callers[caller](client)
    before, events = every_row(), AuditEvent.objects.count()
    body = hostile_post(admin_rows)
    expected = EXPECTED[caller]

    answers = {}
    for route in staff_routes():
        url = staff_url(route)
        response = client.get(url) if method == "get" else client.post(url, body)
        if response.status_code == 302:
            answers[url] = _where(response)
        else:
            answers[url] = response.status_code

    def wanted(url):
        if url == reverse("admin:login"):
            # The admin's login form is never shown: it sends everyone to the
            # portal's login.
            return reverse(LOGIN)
        return expected if expected == 404 else reverse(expected)

    assert answers == {url: wanted(url) for url in answers}
    assert every_row() == before
    assert AuditEvent.objects.count() == events


# --- the management API: scopes --------------------------------------------------


def manage_routes() -> list[Route]:
    return [r for r in all_routes() if r.namespace == "manage"]


def manage_calls() -> list:
    """Every management route with every method its view implements."""
    calls = []
    for route in manage_routes():
        for method in METHODS:
            if hasattr(route.view_class, method):
                calls.append(
                    pytest.param(route, method, id=f"{method.upper()} {route.label}")
                )
    return calls


@pytest.fixture
def side(developer, starter_plan):
    return make_side("alpha", owner=developer, plan=starter_plan)


def _send(client, route, method, url, headers):
    if method == "get":
        return client.get(url, **headers)
    return client.generic(
        method.upper(), url, json.dumps({}), content_type="application/json", **headers
    )


def test_every_management_route_is_checked():
    assert {p.values[0].name for p in manage_calls()} == {
        r.name for r in manage_routes()
    }
    assert len(manage_calls()) >= 25


@pytest.mark.parametrize(("route", "method"), manage_calls())
def test_a_books_token_cannot_use_the_management_api(
    side, oauth_client_factory, starter_plan, route, method
):
    books = oauth_client_factory(grant="client-credentials", plan=starter_plan)
    books.app.team = side.team
    books.app.save(update_fields=["team"])
    token = tokens(client_credentials(Client(), books, scope="books:read books:write"))[
        "access_token"
    ]
    url = route.url(**{name: side.param(name) for name in route.params})
    before, events = team_rows(side.team), AuditEvent.objects.count()
    needed = "manage:read" if method == "get" else "manage:write"

    response = _send(Client(), route, method, url, bearer(token))
    by_key = _send(Client(), route, method, url, {"HTTP_X_API_KEY": side.full_key})
    by_key_bearer = _send(Client(), route, method, url, bearer(side.full_key))

    assert response.status_code == 403, response.content
    problem = response.json()
    assert problem["code"] == "insufficient_scope"
    assert problem["missing_scopes"] == [needed]
    assert f'scope="{needed}"' in response["WWW-Authenticate"]
    assert by_key.status_code == by_key_bearer.status_code == 401
    assert by_key.json()["code"] == "not_authenticated"
    assert team_rows(side.team) == before
    assert AuditEvent.objects.count() == events


# --- team roles --------------------------------------------------------------------

# The functions only a team's owners and admins may use, as (method, URL name,
# body); ``{x}`` in a body is the side's parameter ``x``.
MANAGER_ONLY_PORTAL = [
    ("post", "portal:member-add", {"email": "new@example.com", "role": "owner"}),
    ("post", "portal:member-role", {"role": "owner"}),
    ("post", "portal:webhook-list", {"url": admin_world.REDIRECT_URI}),
    ("post", "portal:webhook-detail", {"url": "https://93.184.216.34/x"}),
    ("post", "portal:webhook-rotate-secret", {}),
    ("post", "portal:webhook-test", {}),
    ("post", "portal:webhook-delete", {}),
    ("post", "portal:webhook-redeliver", {}),
]
MANAGER_ONLY_API = [
    ("post", "manage:webhook-list", {"url": "https://93.184.216.34/x"}),
    ("patch", "manage:webhook-detail", {"description": "x"}),
    ("delete", "manage:webhook-detail", None),
    ("post", "manage:webhook-rotate-secret", None),
    ("post", "manage:webhook-test", None),
    ("post", "manage:webhook-redeliver", None),
]


def _route(name: str) -> Route:
    return next(r for r in all_routes() if r.name == name)


@pytest.fixture
def plain_member(side):
    """The side's plain member (role "member"), signed in."""
    client = Client()
    client.force_login(side.member.user)
    return client


@pytest.mark.parametrize(
    ("method", "name", "body"),
    MANAGER_ONLY_PORTAL,
    ids=[f"{m.upper()} {n}" for m, n, _ in MANAGER_ONLY_PORTAL],
)
def test_a_plain_member_cannot_use_the_owners_portal_functions(
    side, plain_member, method, name, body
):
    route = _route(name)
    params = {
        p: (side.member.pk if p == "membership_id" else side.param(p))
        for p in route.params
    }
    if name == "portal:member-role":
        # Their own membership: a member cannot promote themselves either.
        params["membership_id"] = side.member.pk
    url = route.url(**params)
    before, events = team_rows(side.team), AuditEvent.objects.count()

    response = plain_member.post(url, body)

    assert response.status_code in (403, 404)
    assert team_rows(side.team) == before
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    ("method", "name", "body"),
    MANAGER_ONLY_API,
    ids=[f"{m.upper()} {n}" for m, n, _ in MANAGER_ONLY_API],
)
def test_a_plain_member_cannot_use_the_owners_api_functions(
    side, plain_member, method, name, body
):
    route = _route(name)
    url = route.url(**{p: side.param(p) for p in route.params})
    before, events = team_rows(side.team), AuditEvent.objects.count()

    response = plain_member.generic(
        method.upper(),
        url,
        json.dumps(body) if body is not None else "",
        content_type="application/json",
    )

    assert response.status_code == 403, response.content
    assert response.json()["code"] == "forbidden"
    assert team_rows(side.team) == before
    assert AuditEvent.objects.count() == events
