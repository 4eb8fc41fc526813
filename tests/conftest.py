from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.core.cache import cache

from portal.accounts.models import Role
from tests import factories

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def skip_or_fail(reason: str) -> None:
    """Skip a test whose service or browser is missing, but fail it in CI.

    CI runs with CI=true and must exercise everything: a silent skip there
    would hide a broken set-up.
    """
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: skipping is not allowed)", pytrace=False)
    pytest.skip(reason)


def uses_postgres() -> bool:
    return settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def pytest_collection_modifyitems(config, items):
    # Tests marked `postgres` need the PostgreSQL + Redis run; on the embedded
    # default they are deselected (not skipped): `.ci/run` runs them there.
    if uses_postgres() and getattr(settings, "REDIS_URL", "") != "":
        return
    kept, dropped = [], []
    for item in items:
        (dropped if item.get_closest_marker("postgres") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.fixture(autouse=True)
def _clean_cache():
    # Throttle counters, cached credentials and the usage buffer live in the
    # cache, which is a real Redis in the PostgreSQL + Redis run: start every
    # test from empty. The lock keeps the usage shipper thread from pushing a
    # previous test's calls in between.
    from portal.limits import counters
    from portal.usage import recorder

    def clean():
        with recorder._ship_lock:
            recorder.drain()
            cache.clear()
        # Leased counter values belong to the counters just emptied.
        counters.leases_forget()

    clean()
    yield
    clean()


@pytest.fixture(autouse=True)
def _tasks_run_at_once(settings):
    # The default backend queues tasks in the database for `db_worker`; tests
    # run them in-process as soon as the transaction commits, unless a test
    # switches to the database backend to exercise the worker itself.
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}
    }


@pytest.fixture
def password() -> str:
    return factories.PASSWORD


@pytest.fixture
def user_factory(db):
    return factories.UserFactory


@pytest.fixture
def team_factory(db):
    return factories.TeamFactory


@pytest.fixture
def membership_factory(db):
    return factories.MembershipFactory


@pytest.fixture
def app_factory(db):
    return factories.AppFactory


@pytest.fixture
def user(user_factory):
    return user_factory()


@pytest.fixture
def team(user, team_factory, membership_factory):
    """A team owned by ``user``."""
    team = team_factory()
    membership_factory(user=user, team=team, role=Role.OWNER)
    return team


@pytest.fixture
def logged_in_client(client, user):
    client.force_login(user)
    return client


# =============================================================================
# API keys, catalog and the Books API (tests/portal/keys, tests/portal/catalog,
# tests/apis). Kept in this one block; add unrelated fixtures above it.
# =============================================================================


@pytest.fixture(autouse=True)
def _clean_key_caches():
    # The shared cache is emptied by _clean_cache; these per-process layers are
    # not, and a key id reused by the next test (SQLite rolls its sequence
    # back) must not find the previous test's entry or last-used stamp.
    from portal.keys import authentication, credentials

    credentials.local_cache_clear()
    authentication.last_used_memo_clear()
    yield
    credentials.local_cache_clear()
    authentication.last_used_memo_clear()


@pytest.fixture
def author_factory(db):
    return factories.AuthorFactory


@pytest.fixture
def book_factory(db):
    return factories.BookFactory


@pytest.fixture
def catalog(db):
    """The served APIs synced into the catalog; returns the Books ``Api``."""
    from apis.registry import SERVED_APIS
    from portal.catalog.models import Api
    from portal.catalog.services import catalog_sync

    catalog_sync(specs=SERVED_APIS)
    return Api.objects.get(slug="books")


@pytest.fixture
def starter_plan(catalog):
    """Books "starter": books:read and books:write."""
    return catalog.plans.get(slug="starter")


@pytest.fixture
def read_only_plan(catalog):
    """Books "read-only": books:read only."""
    return catalog.plans.get(slug="read-only")


@pytest.fixture
def developer(user_factory):
    """A user who never logs in: no usable password, so no slow password hash."""
    return user_factory(password=None)


@pytest.fixture
def developer_team(developer, team_factory, membership_factory):
    """A team owned by ``developer``."""
    team = team_factory()
    membership_factory(user=developer, team=team, role=Role.OWNER)
    return team


@pytest.fixture
def issue_key(developer):
    """Issue a key as ``developer``: ``issue_key(app, name="...", scopes=[...])``."""
    from portal.keys.services import api_key_issue

    def issue(app, **kwargs):
        kwargs.setdefault("name", "Test key")
        kwargs.setdefault("actor", developer)
        return api_key_issue(app=app, **kwargs)

    return issue


class BooksApp:
    """An app subscribed to a Books plan, with one issued key."""

    def __init__(self, app, subscription, key, full_key: str):
        self.app = app
        self.subscription = subscription
        self.key = key
        self.full_key = full_key

    @property
    def headers(self) -> dict[str, str]:
        """Test-client keyword arguments that send the key."""
        return {"HTTP_X_API_KEY": self.full_key}


@pytest.fixture
def books_app(developer_team, app_factory, starter_plan, issue_key):
    """An app of ``developer``'s team on the starter plan, with a key of every
    scope issued by ``developer``."""
    from portal.catalog.services import subscription_create_active

    app = app_factory(team=developer_team, name="Reader", slug="reader")
    subscription = subscription_create_active(app=app, plan=starter_plan)
    issued = issue_key(app)
    return BooksApp(app, subscription, issued.key, issued.full_key)


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


# =============================================================================
# OAuth 2.0 / OpenID Connect (tests/portal/oauth, tests/e2e/test_oauth_*.py).
# Helpers for the flows themselves are in tests/portal/oauth/flows.py.
# =============================================================================


@pytest.fixture
def oauth_client_factory(developer_team, app_factory, starter_plan):
    """``oauth_client_factory(grant=..., public=..., redirect_uris=[...],
    plan=...)``: an app of ``developer_team``, subscribed to ``plan`` (the
    Books starter plan unless told; None for no subscription), set up as an
    OAuth client."""
    from portal.catalog.services import subscription_create_active
    from portal.oauth.services import oauth_client_configure
    from tests.portal.oauth.flows import REDIRECT_URI, OAuthClient

    def make(
        *,
        grant: str = "authorization-code",
        public: bool = False,
        redirect_uris: list[str] | None = None,
        plan=starter_plan,
        **app_fields,
    ):
        app = app_factory(team=developer_team, **app_fields)
        if plan is not None:
            subscription_create_active(app=app, plan=plan)
        if redirect_uris is None:
            redirect_uris = [REDIRECT_URI] if grant == "authorization-code" else []
        secret = oauth_client_configure(
            app=app, grant=grant, public=public, redirect_uris=redirect_uris
        )
        app.refresh_from_db()
        return OAuthClient(app, secret)

    return make


@pytest.fixture
def code_client(oauth_client_factory):
    """A confidential authorization-code client on the Books starter plan."""
    return oauth_client_factory(name="Reading List", slug="reading-list")


@pytest.fixture
def machine_client(oauth_client_factory):
    """A client-credentials client on the Books starter plan."""
    return oauth_client_factory(
        grant="client-credentials", name="Nightly Sync", slug="nightly-sync"
    )


@pytest.fixture
def resource_owner(user_factory):
    """The user who consents: verified, and without a (slow to hash) password."""
    return user_factory(password=None, email="reader@example.com")


@pytest.fixture
def owner_client(client, resource_owner):
    """Django's test client, logged in as ``resource_owner``."""
    client.force_login(resource_owner)
    return client


@pytest.fixture
def pkce():
    """A fresh PKCE verifier with its S256 challenge."""
    from tests.portal.oauth.flows import Pkce

    return Pkce()


@pytest.fixture
def stopped_clock(time_machine):
    """The clock stopped at the current time (a fixed date would end logged-in
    sessions); returns that time. Move it with ``time_machine.move_to``."""
    from datetime import UTC, datetime

    now = datetime.now(tz=UTC)
    time_machine.move_to(now, tick=False)
    return now


# =============================================================================
# Subscriptions and quota alerts (tests/portal/catalog, tests/portal/limits).
# =============================================================================


@pytest.fixture
def owners(developer, developer_team, user_factory, membership_factory):
    """The active owners' addresses; a member and a deactivated owner get no mail."""
    second = user_factory(password=None, email="second-owner@example.com")
    membership_factory(user=second, team=developer_team, role=Role.OWNER)
    membership_factory(
        user=user_factory(password=None, email="member@example.com"),
        team=developer_team,
        role=Role.MEMBER,
    )
    membership_factory(
        user=user_factory(password=None, email="gone@example.com", is_active=False),
        team=developer_team,
        role=Role.OWNER,
    )
    return sorted([developer.email, second.email])
