"""Callers of the management API, and another team whose objects they must
never reach.

``caller`` runs a test twice: as ``developer`` signed in to the portal (a
session with its CSRF token, as the portal's own pages call the API) and as
an OAuth token of ``developer_team``'s "Manager" app with ``manage:read
manage:write``. Both act for ``developer_team``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from portal.accounts.models import Role
from portal.audit.models import AuditEvent
from portal.catalog.models import Subscription
from portal.keys.models import ApiKey
from portal.oauth.models import App
from tests.portal.oauth.flows import bearer, client_credentials, tokens
from tests.portal.webhooks.conftest import receiver  # noqa: F401 - a fixture

BASE = "/api/manage/v1/"
READ_WRITE = "manage:read manage:write"


@pytest.fixture(autouse=True)
def _fast_client_secret_hashing(settings):
    # Client secrets are hashed with the first password hasher (Argon2, tuned
    # to be slow); every test here sets up clients and asks for tokens. What
    # is checked is that the secret is not stored as given, not the hasher.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def token_for(oauth_client, scope: str = READ_WRITE) -> str:
    """A client-credentials access token of ``oauth_client`` with ``scope``."""
    return tokens(client_credentials(Client(), oauth_client, scope=scope))[
        "access_token"
    ]


@dataclass
class Caller:
    """Sends JSON to the management API as one person or one token."""

    kind: str  # "session" or "token"
    client: Client
    team: object
    actor_label: str
    headers: dict[str, str] = field(default_factory=dict)

    def get(self, url: str, params: dict | None = None):
        return self.client.get(url, params or {}, **self.headers)

    def send(self, method: str, url: str, data=None):
        body = "" if data is None else json.dumps(data)
        return getattr(self.client, method)(
            url, body, content_type="application/json", **self.headers
        )

    def post(self, url: str, data=None):
        return self.send("post", url, data)

    def put(self, url: str, data=None):
        return self.send("put", url, data)

    def patch(self, url: str, data=None):
        return self.send("patch", url, data)

    def delete(self, url: str, data=None):
        return self.send("delete", url, data)


def signed_in_client(user) -> tuple[Client, str]:
    """A client that enforces CSRF, signed in as ``user``, and the CSRF token
    a portal page gave it."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(reverse("portal:dashboard"))
    return client, client.cookies[settings.CSRF_COOKIE_NAME].value


@pytest.fixture
def manager_oauth(oauth_client_factory):
    """``developer_team``'s client-credentials app that manage tokens are for
    (no subscription: the manage scopes need none)."""
    return oauth_client_factory(
        grant="client-credentials", plan=None, name="Manager", slug="manager"
    )


@pytest.fixture
def session_caller(developer, developer_team, manager_oauth) -> Caller:
    client, csrf = signed_in_client(developer)
    return Caller(
        "session", client, developer_team, developer.email, {"HTTP_X_CSRFTOKEN": csrf}
    )


@pytest.fixture
def token_caller(developer_team, manager_oauth) -> Caller:
    return Caller(
        "token",
        Client(enforce_csrf_checks=True),
        developer_team,
        f"app:{developer_team.slug}/manager",
        bearer(token_for(manager_oauth)),
    )


@pytest.fixture(params=["session", "token"])
def caller(request) -> Caller:
    return request.getfixturevalue(f"{request.param}_caller")


@pytest.fixture
def read_only_caller(developer_team, manager_oauth) -> Caller:
    """A token of the same app with ``manage:read`` only."""
    return Caller(
        "token",
        Client(),
        developer_team,
        f"app:{developer_team.slug}/manager",
        bearer(token_for(manager_oauth, "manage:read")),
    )


@pytest.fixture
def other(team_factory, user_factory, membership_factory, app_factory, starter_plan):
    """Team B, which the callers do not belong to: an owner, an app that is an
    OAuth client on the starter plan, and one key of it."""
    from portal.catalog.services import subscription_create_active
    from portal.keys.services import api_key_issue
    from portal.oauth.services import oauth_client_configure

    team = team_factory(name="Team B", slug="team-b")
    owner = user_factory(password=None, email="owner-b@example.com")
    membership_factory(user=owner, team=team, role=Role.OWNER)
    app = app_factory(team=team, name="B's app", slug="b-app")
    subscription = subscription_create_active(app=app, plan=starter_plan)
    issued = api_key_issue(app=app, name="B's key", actor=owner)
    secret = oauth_client_configure(
        app=app,
        grant="authorization-code",
        redirect_uris=["https://b.example/callback"],
    )
    return SimpleNamespace(
        team=team,
        owner=owner,
        app=app,
        subscription=subscription,
        key=issued.key,
        full_key=issued.full_key,
        secret=secret,
    )


def team_state(team) -> tuple:
    """Everything a management call could change in ``team``."""
    return (
        list(
            App.objects.filter(team=team)
            .order_by("pk")
            .values_list(
                "pk",
                "name",
                "slug",
                "description",
                "status",
                "team_id",
                "client_secret",
                "client_type",
                "authorization_grant_type",
                "redirect_uris",
                "oauth_enabled",
            )
        ),
        list(
            ApiKey.objects.filter(app__team=team)
            .order_by("pk")
            .values_list(
                "pk",
                "app_id",
                "name",
                "scopes",
                "expires_at",
                "allowed_ips",
                "revoked_at",
                "secret_hash",
            )
        ),
        list(
            Subscription.objects.filter(app__team=team)
            .order_by("pk")
            .values_list("pk", "app_id", "plan_id", "status", "requested_plan_id")
        ),
        AuditEvent.objects.filter(team=team).count(),
    )
