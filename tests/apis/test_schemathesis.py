"""Schemathesis against the Books API and the management API, in process.

Each API's schema is fetched from the app itself (``<base path>schema/``) and
every operation becomes one test (``@schema.parametrize()``) whose cases go
through the Django WSGI app with valid credentials: for the Books API, once
with an API key and once with an OAuth token (client credentials) of apps on
a plan with every scope; for the management API an OAuth token with
``manage:read manage:write``, and (more briefly) a developer signed in to
the portal. Every response passes all of schemathesis' checks: no 5xx; a
documented status code, content type and headers; a body matching the
schema; invalid input refused and valid input accepted (see
BUSINESS_RULES); and ``ignored_auth``: after each 2xx the same request is
sent without the credential and with a made-up one, and must be refused.

Cases per operation: schemathesis' coverage cases (boundary values, missing
and unexpected fields, wrong types and content types, built when the test is
collected) and MAX_EXAMPLES fuzzed ones, positive and negative (the CLI's
``--mode all``): a negative case must get a 4xx problem. The PostgreSQL +
Redis run of CI fuzzes 100 per operation, the embedded default 5;
SCHEMATHESIS_MAX_EXAMPLES overrides both. A test that sent fewer cases to
its operation than that fails, and so does one that met what a schemathesis
run would warn about (World.assert_nothing_to_warn_about). The stateful
phase then runs SCENARIOS sequences of calls per API with the tokens,
following the schemas' links (the management API's own, and those
schemathesis infers). The counts (by phase, positive or negative, status
class, ignored_auth probe, stateful step) and the seed are printed at the
end of the run.

Path ids, and body fields naming an author, team, plan, scopes, redirect
URIs or a webhook URL, are either generated or drawn from the objects the
test made: most cases reach a real book, app, key, subscription or webhook,
some another team's (which must be a 404). Each case runs in a savepoint
rolled back after it, so every case meets the same objects and nothing a
generated request creates reaches another case or test (each world checks
that at its end); no connection leaves the test.
"""

from __future__ import annotations

import ipaddress
import os
import random
import re
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import hypothesis
import pytest
import schemathesis
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import Client
from hypothesis import strategies as st
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation import GenerationMode
from schemathesis.openapi.checks import RejectedPositiveData
from werkzeug.test import Client as WsgiClient
from werkzeug.wrappers import Response as WsgiResponse

from portal.wsgi import application
from tests.apis.conftest import record_cases
from tests.conftest import IN_CI, uses_postgres
from tests.portal.oauth.flows import client_credentials, tokens

# --- how many cases ---------------------------------------------------------------


def _full_run() -> bool:
    """The PostgreSQL + Redis run of CI (as tests/conftest.py tells it)."""
    return uses_postgres() and getattr(settings, "REDIS_URL", "") != ""


CI_SEED = 20_261_126

MAX_EXAMPLES = int(
    os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "100" if _full_run() else "5")
)
# The session run repeats the token run's operations through the other door.
SESSION_EXAMPLES = max(MAX_EXAMPLES // 10, 3)
# What every operation's cases are drawn from: SCHEMATHESIS_SEED, else in CI a
# fixed one (a submission that passed passes again), else a new one each run.
# The end-of-run report prints it; SCHEMATHESIS_SEED=<it> replays the run.
# Stateful scenarios per API, and steps at most in each.
SCENARIOS = int(os.environ.get("SCHEMATHESIS_SCENARIOS", "60" if _full_run() else "10"))
SCENARIO_STEPS = 12
SEED = int(
    os.environ.get("SCHEMATHESIS_SEED")
    or (CI_SEED if IN_CI else random.SystemRandom().randrange(2**31))
)

# --- the schemas --------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Existing:
    """Drawn by the fuzzing hooks for an id: the ``index``-th object the test
    offers for it, or, where the case's data at that place is the invalid
    part of a negative case, the ``generated`` value."""

    index: int
    generated: object


# Body fields whose valid values depend on the objects the test made, and the
# World.ids entry the fuzzing hook may draw them from.
BODY_REFERENCES = {
    "author_id": "author_id",
    "team": "team_id",
    "plan": "plan",
    "scopes": "scopes",
    "redirect_uris": "redirect_uris",
    "url": "url",
}

# Rules a JSON schema cannot state, by field: a 400 naming only such fields
# in ``errors`` is the right answer to a request the schema allows (each rule
# is pinned down by the API's own tests). A 400 naming any other field, or
# any other status, still fails the positive_data_acceptance check.
BUSINESS_RULES = {
    "author_id": "an author that exists",
    "team": "one of the caller's teams",
    "plan": "a public plan (of the subscription's API)",
    "scopes": "within what the app's active subscriptions grant",
    "expires_at": "in the future",
    "allowed_ips": "IPv4 or IPv6 addresses or CIDR ranges",
    "redirect_uris": "absolute https URIs (http on loopback); none for a device",
    "slug": "made from the name when left out (so a letter or digit in it)",
    "client_type": "public only for the authorization-code and device grants",
    "url": "an https URL of a public host (a webhook's)",
}


def _breaks_only_a_business_rule(failure, case, response) -> bool:
    if not isinstance(failure, RejectedPositiveData) or response.status_code != 400:
        return False
    try:
        errors = response.json().get("errors") or {}
    except ValueError:
        return False
    return bool(errors) and set(errors) <= BUSINESS_RULES.keys()


def _existing_or_generated(value, index: int) -> st.SearchStrategy:
    # Hypothesis shrinks towards the first: a real object.
    return st.sampled_from([Existing(index, value), value])


def _aimed(values: dict, names) -> st.SearchStrategy:
    """``values`` with each of ``names`` left as generated or marked to be an
    existing object's: the same index for all of them, so that path ids name
    objects that belong together (an app and its key)."""
    return st.integers(0, 5).flatmap(
        lambda index: st.fixed_dictionaries(
            {
                name: _existing_or_generated(value, index)
                if name in names
                else st.just(value)
                for name, value in values.items()
            }
        )
    )


class _ProbeLog:
    """The WSGI app as schemathesis' own transport calls it, noting each
    answer's status. Only the ``ignored_auth`` check's probes take this way
    (the same request without the credential, then with a made-up one for
    each scheme); the cases themselves go through ``_CLIENT_WITHOUT_JAR``."""

    def __init__(self) -> None:
        self.statuses: list[int] = []

    def __call__(self, environ, start_response):
        def noted(status: str, headers, exc_info=None):
            self.statuses.append(int(status.split(" ", 1)[0]))
            return start_response(status, headers, exc_info)

        return application(environ, noted)


PROBES = _ProbeLog()


def _load(
    path: str,
    *,
    max_examples: int = MAX_EXAMPLES,
    coverage: bool = True,
    stateful: bool = False,
):
    schema = schemathesis.openapi.from_wsgi(
        path, PROBES, headers={"Accept": "application/json"}
    )
    if stateful:
        phases = ["stateful"]
    else:
        phases = ["examples", "fuzzing", *(["coverage"] if coverage else [])]
    schema.config.phases.update(phases=phases)
    schema.config.seed = SEED
    schema.config.generation.update(
        # Positive and negative cases (schemathesis' default; the CLI's
        # `--mode all`), said here so that it stays so.
        modes=list(GenerationMode),
        max_examples=max_examples,
        # The tests send valid credentials; generated ones would only be 401s
        # (the ignored_auth check still sends each operation without them).
        with_security_parameters=False,
        # No example database under .hypothesis/: each run stands alone.
        database="none",
    )

    @schema.hook
    def filter_failure(context, failure, case, response):
        return not _breaks_only_a_business_rule(failure, case, response)

    if stateful:
        # Its ids come from earlier responses, through the links.
        return schema

    @schema.hook
    def flatmap_path_parameters(context, path_parameters):
        if not path_parameters:
            return st.just(path_parameters)
        return _aimed(path_parameters, path_parameters.keys())

    @schema.hook
    def flatmap_body(context, body):
        if not isinstance(body, dict) or not BODY_REFERENCES.keys() & body.keys():
            return st.just(body)
        return _aimed(body, BODY_REFERENCES.keys())

    return schema


# A case schemathesis leaves untested (no serializer for its media type)
# fails the test instead of being a warning in the summary.
pytestmark = pytest.mark.filterwarnings(
    "error:Skipped test cases with unsupported payload media types"
)

BOOKS_SCHEMA = _load("/api/books/v1/schema/")
MANAGE_SCHEMA = _load("/api/manage/v1/schema/")
# The stateful phase: scenarios of calls, each following a link from an
# earlier response (OpenAPI links, and those schemathesis infers).
BOOKS_STATEFUL_SCHEMA = _load("/api/books/v1/schema/", stateful=True)
MANAGE_STATEFUL_SCHEMA = _load("/api/manage/v1/schema/", stateful=True)
# The same operations through the portal session, without coverage cases.
MANAGE_SESSION_SCHEMA = _load(
    "/api/manage/v1/schema/", max_examples=SESSION_EXAMPLES, coverage=False
)

# --- running the cases --------------------------------------------------------------


@contextmanager
def _test_connection_kept() -> Iterator[None]:
    """Call the WSGI app in this thread, inside the test's transaction, as
    Django's test client does: a request must not close the "old" database
    connection, which is the test's own."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


# Werkzeug's test client, as schemathesis makes it, but keeping no cookies of
# its own: it would replace the session's `Cookie` header with its empty jar.
_CLIENT_WITHOUT_JAR = WsgiClient(application, WsgiResponse, use_cookies=False)


@dataclass
class World:
    """What a test set up for its operation's cases: the credential's
    headers and, for each path parameter (or referring body field), ids of
    objects to aim at, the caller's own first; and what its cases met."""

    headers: dict[str, str]
    # The i-th entries of the path parameters' lists belong together.
    ids: dict[str, list]
    minimum: int
    # Whether what a schemathesis run would warn about fails the test (see
    # assert_nothing_to_warn_about); the brief session re-run only reports.
    warnings_fail: bool = True
    # Runs the stateful phase: sequences of calls following the schema's links.
    stateful: bool = False
    # (operation, phase) -> cases sent
    sent: Counter = field(default_factory=Counter)
    # (operation, "positive" / "negative") -> cases sent
    modes: Counter = field(default_factory=Counter)
    # (operation, "2xx" / "4xx" / ...) -> responses
    answers: Counter = field(default_factory=Counter)
    # (operation, status) -> responses
    statuses: Counter = field(default_factory=Counter)
    # operation -> positive cases answered 2xx
    accepted: Counter = field(default_factory=Counter)
    # (operation, status) -> ignored_auth's probes
    probes: Counter = field(default_factory=Counter)
    # (operation, "schema link" / "inferred link" / "unlinked") -> stateful
    # steps (how the step's input came from an earlier response)
    steps: Counter = field(default_factory=Counter)

    def run(self, case) -> None:
        """Send ``case`` and check the response, then undo what it changed."""
        self._aim(case)
        self.sent[case.operation.label, case.meta.phase.name.value] += 1
        probed = len(PROBES.statuses)
        with transaction.atomic(), _test_connection_kept():
            response = case.call_and_validate(
                headers=self.headers, session=_CLIENT_WITHOUT_JAR
            )
            transaction.set_rollback(True)
        self.note(case, response, PROBES.statuses[probed:])

    def note(self, case, response, probes: list[int]) -> None:
        """Count ``response`` to ``case``, and the probes checking it."""
        operation = case.operation.label
        mode = case.meta.generation.mode.value
        status = response.status_code
        self.modes[operation, mode] += 1
        self.answers[operation, f"{status // 100}xx"] += 1
        self.statuses[operation, status] += 1
        if mode == "positive" and 200 <= status < 300:
            self.accepted[operation] += 1
        for probe in probes:
            self.probes[operation, probe] += 1

    def assert_nothing_to_warn_about(self) -> None:
        """Fail on what a schemathesis CLI run with ``--warnings`` failing
        would warn about. Its Python API computes no warnings (the CLI's
        event handler does), so the conditions are checked here, from the
        counts:

        - ``missing_auth`` (an operation only ever 401/403),
          ``missing_test_data`` (only 404), ``validation_mismatch`` (valid
          input only ever 400/422), ``base_url_mismatch`` and
          ``method_not_allowed`` (only 404s, only 405s): every operation
          answered at least one positive case with a 2xx;
        - ``rate_limited``: no operation answered a 429 at all;
        - and ``ignored_auth`` really ran for every operation (it probes only
          after a 2xx): each got probes without the credential and with a
          made-up one, and every probe was refused with 401 or 403.

        Warnings about the schema itself (``unused_openapi_auth``,
        ``unsupported_regex``, ``unresolvable_reference`` ...) are
        test_the_schemas_give_schemathesis_nothing_to_warn_about's; a case
        left untested for its media type is an error by this module's
        ``filterwarnings``.
        """
        operations = {operation for operation, _ in self.sent}
        never_served = sorted(operations - set(self.accepted))
        assert not never_served, f"no positive case got a 2xx: {never_served}"
        limited = {op: n for (op, status), n in self.statuses.items() if status == 429}
        assert not limited, f"rate limited: {limited}"
        probed = {operation for operation, _ in self.probes}
        assert operations <= probed, f"never probed: {sorted(operations - probed)}"
        admitted = {
            key: n for key, n in self.probes.items() if key[1] not in (401, 403)
        }
        assert not admitted, f"probes not refused: {admitted}"

    def report(self) -> dict[str, Counter]:
        """The counts, for the end-of-run report (tests/apis/conftest.py)."""
        return {
            "phase": self.sent,
            "mode": self.modes,
            "answer": self.answers,
            "probe": Counter(
                {(op, str(status)): n for (op, status), n in self.probes.items()}
            ),
            "step": self.steps,
        }

    def _aim(self, case) -> None:
        """Swap real ids in: for the ``Existing`` markers of the fuzzing
        hooks, and in coverage cases (made when the test was collected, before
        any object existed) for every path id that is not the invalid part,
        and for the body's references when the body is valid (so that valid
        bodies meet a 2xx; the fuzzed and the invalid ones still vary them)."""
        meta = case.meta
        coverage = meta.phase.name.value == "coverage"
        path = case.path_parameters or {}
        for name, value in path.items():
            ids = self.ids.get(name)
            if isinstance(value, Existing):
                path[name] = self._resolve(
                    value, ids, meta.is_negative_at(ParameterLocation.PATH)
                )
            elif coverage and ids and not meta.is_negative_at(ParameterLocation.PATH):
                path[name] = ids[0]
        if isinstance(case.body, dict):
            negative_body = meta.is_negative_at(ParameterLocation.BODY)
            for name, value in case.body.items():
                ids = self.ids.get(BODY_REFERENCES.get(name, ""))
                if isinstance(value, Existing):
                    case.body[name] = self._resolve(value, ids, negative_body)
                elif coverage and ids and not negative_body:
                    case.body[name] = ids[0]

    def assert_signed_in(self, path: str) -> None:
        """The credential works: a plain GET of ``path`` with it is a 200 (a
        run of 401s would pass every check)."""
        with _test_connection_kept():
            response = _CLIENT_WITHOUT_JAR.get(path, headers=self.headers)
        assert response.status_code == 200, response.get_data(as_text=True)

    @staticmethod
    def _resolve(marker: Existing, ids: list | None, negative: bool):
        if negative or not ids:
            return marker.generated
        return ids[marker.index % len(ids)]


SETTINGS = hypothesis.settings(
    suppress_health_check=[
        # The world is made once per operation, not per example: each example
        # runs in its own savepoint, so every one meets the same objects.
        hypothesis.HealthCheck.function_scoped_fixture,
        # A case is a whole request; drawing one takes what it takes.
        hypothesis.HealthCheck.too_slow,
    ],
    deadline=None,
)


@pytest.fixture
def world_checks(request) -> Iterator[Callable[[World], None]]:
    """``world_checks(world)``: at the end of the test, report what the
    world's cases met, and fail if they were fewer than its minimum or met
    something a schemathesis run would warn about (unless the test failed
    already: it then stopped early)."""
    worlds: list[World] = []
    failed_before = request.session.testsfailed
    yield worlds.append
    for world in worlds:
        record_cases(request.config, request.node.originalname, world.report(), SEED)
        if request.session.testsfailed > failed_before:
            continue
        if world.stateful:
            linked = sum(n for (_, how), n in world.steps.items() if how != "unlinked")
            assert linked, f"no step followed a link: {world.steps}"
            continue
        per_operation: Counter = Counter()
        for (operation, _), count in world.sent.items():
            per_operation[operation] += count
        assert per_operation, "no case was sent"
        short = {op: n for op, n in per_operation.items() if n < world.minimum}
        assert not short, f"fewer than {world.minimum} cases: {short}"
        if world.warnings_fail:
            world.assert_nothing_to_warn_about()


@pytest.fixture
def fast_secret_hashing(settings):
    # An app's client secret is hashed with Argon2 when it is saved, tuned to
    # be slow; these tests make apps and OAuth clients for every operation.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- the Books API ------------------------------------------------------------------


@dataclass(frozen=True)
class BooksObjects:
    key: str  # of an app on the Fuzzing plan
    token: str  # of a client-credentials app on it, books:read books:write
    ids: dict[str, list]


@pytest.fixture
def books_objects(
    fast_secret_hashing,
    catalog,
    developer_team,
    app_factory,
    oauth_client_factory,
    issue_key,
    author_factory,
    book_factory,
) -> Iterator[BooksObjects]:
    """A private Books plan with every scope and limits no test reaches (the
    starter plan's 10/s would make most cases 429s); on it an app with a key
    and a client-credentials app with a token for every scope; a few authors
    and books, unchanged at the end."""
    from apis.books.models import Author, Book
    from portal.catalog.models import Plan
    from portal.catalog.services import subscription_create_active

    plan = Plan.objects.create(
        api=catalog,
        name="Fuzzing",
        slug="fuzzing",
        rate_tiers=["1000000/s"],
        is_public=False,
    )
    plan.scopes.set(catalog.scopes.all())
    app = app_factory(team=developer_team, name="Fuzzer", slug="fuzzer")
    subscription_create_active(app=app, plan=plan)
    machine = oauth_client_factory(
        grant="client-credentials", plan=plan, name="Fuzz bot", slug="fuzz-bot"
    )
    scopes = " ".join(sorted(catalog.scopes.values_list("name", flat=True)))
    token = tokens(client_credentials(Client(), machine, scope=scopes))
    assert token["scope"] == scopes, token
    author, other_author = author_factory(), author_factory()
    books = [book_factory(author=author) for _ in range(3)]
    before = (list(Author.objects.values()), list(Book.objects.values()))
    yield BooksObjects(
        key=issue_key(app).full_key,
        token=token["access_token"],
        # One author without books, one with (deleting them is a 409).
        ids={
            "author_id": [other_author.pk, author.pk],
            "book_id": [book.pk for book in books],
        },
    )
    assert (list(Author.objects.values()), list(Book.objects.values())) == before


def _books_world(headers: dict[str, str], objects, world_checks) -> World:
    world = World(headers=headers, ids=objects.ids, minimum=MAX_EXAMPLES)
    world.assert_signed_in("/api/books/v1/books/")
    world_checks(world)
    return world


@pytest.fixture
def books_key_world(books_objects, world_checks) -> World:
    """The app's API key, as ``X-API-Key``."""
    return _books_world({"X-API-Key": books_objects.key}, books_objects, world_checks)


@pytest.fixture
def books_token_world(books_objects, world_checks) -> World:
    """The client-credentials app's OAuth access token, as a bearer token."""
    headers = {"Authorization": f"Bearer {books_objects.token}"}
    return _books_world(headers, books_objects, world_checks)


@BOOKS_SCHEMA.parametrize()
@SETTINGS
def test_books_api_with_key(case, books_key_world):
    books_key_world.run(case)


@BOOKS_SCHEMA.parametrize()
@SETTINGS
def test_books_api_with_token(case, books_token_world):
    books_token_world.run(case)


# --- the management API -------------------------------------------------------------


# Where every host name resolves in the manage tests (example.com's address;
# never connected to).
PUBLIC_ADDRESS = "93.184.215.14"


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return False
    return True


@pytest.fixture
def network_kept_local(monkeypatch, settings):
    """Nothing a generated request does reaches past this test.

    Generated webhook URLs name random hosts, which the portal resolves (to
    refuse private ones) and delivers to at once (the tests' task backend
    runs a task when it is queued). Here host names resolve to one public
    address without asking a DNS server, and every outgoing connection
    (socket.create_connection, which the webhook sender opens; PostgreSQL and
    Redis connect otherwise) is refused as by an unreachable receiver: the
    delivery fails and is logged as failed.
    """
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host != "localhost" and not _is_address(host):
            host = PUBLIC_ADDRESS
        return real_getaddrinfo(host, port, *args, **kwargs)

    def create_connection(address, *args, **kwargs):
        raise ConnectionRefusedError(f"{address[0]}: no connection leaves a test")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    settings.WEBHOOKS_ALLOW_LOOPBACK = False


@dataclass(frozen=True)
class ManageObjects:
    token: str  # the Manager app's, with manage:read and manage:write
    ids: dict[str, list]


WEBHOOK_URL = "https://hooks.example.com/gatehouse"


@pytest.fixture
def manage_objects(
    settings,
    network_kept_local,
    fast_secret_hashing,
    developer,
    developer_team,
    app_factory,
    starter_plan,
    oauth_client_factory,
    team_factory,
    user_factory,
    membership_factory,
) -> ManageObjects:
    """In ``developer_team``: the client-credentials app "Manager" (no
    subscription) with a key; the app "Reader" with a key, a subscription and
    an OAuth client; a webhook endpoint with one delivery. In team B, which
    the callers must never reach: an app with the same."""
    from portal.accounts.models import Role
    from portal.catalog.services import subscription_create_active
    from portal.keys.services import api_key_issue
    from portal.oauth.services import oauth_client_configure

    # The platform-wide default limit would make most cases 429s.
    settings.MANAGE_API_RATE = ["1000000/s"]
    manager = oauth_client_factory(
        grant="client-credentials", plan=None, name="Manager", slug="manager"
    )
    token = tokens(
        client_credentials(Client(), manager, scope="manage:read manage:write")
    )["access_token"]
    manager_key = api_key_issue(
        app=manager.app, name="Manager key", actor=developer
    ).key
    reader = oauth_client_factory(name="Reader", slug="reader")
    subscription = reader.app.subscriptions.get()
    key = api_key_issue(app=reader.app, name="Reader key", actor=developer).key
    endpoint_id, delivery_id = _webhook_with_a_delivery(token, developer_team)

    team_b = team_factory(name="Team B", slug="team-b")
    owner_b = user_factory(password=None, email="owner-b@example.com")
    membership_factory(user=owner_b, team=team_b, role=Role.OWNER)
    app_b = app_factory(team=team_b, name="B's app", slug="b-app")
    subscription_b = subscription_create_active(app=app_b, plan=starter_plan)
    key_b = api_key_issue(app=app_b, name="B's key", actor=owner_b).key
    oauth_client_configure(
        app=app_b, grant="authorization-code", redirect_uris=["https://b.example/cb"]
    )
    plans = {plan.slug: plan.pk for plan in starter_plan.api.plans.all()}
    return ManageObjects(
        token=token,
        ids={
            # Path ids: Reader's objects, the Manager's, team B's.
            "team_id": [developer_team.pk, developer_team.pk, team_b.pk],
            "app_id": [reader.app.pk, manager.app.pk, app_b.pk],
            "lookup_id": [key.lookup_id, manager_key.lookup_id, key_b.lookup_id],
            "subscription_id": [subscription.pk, subscription.pk, subscription_b.pk],
            "endpoint_id": [endpoint_id],
            "delivery_id": [delivery_id],
            # Body values. Reader is on the starter plan: the others first.
            "plan": [plans["read-only"], plans["business"], plans["starter"]],
            "scopes": [["books:read"], ["books:read", "books:write"], []],
            "redirect_uris": [
                ["https://client.example/callback"],
                ["https://client.example/a", "http://127.0.0.1:8765/b"],
                [],
            ],
            "url": [WEBHOOK_URL],
        },
    )


def _webhook_with_a_delivery(token: str, team) -> tuple[int, int]:
    """Register a webhook endpoint of ``team`` and send it a test event,
    through the management API; returns their ids. (The delivery fails: no
    connection leaves this machine.)"""
    client, auth = Client(), {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    webhooks = f"/api/manage/v1/teams/{team.pk}/webhooks/"
    created = client.post(
        webhooks,
        {"url": WEBHOOK_URL, "event_types": ["key.created"]},
        content_type="application/json",
        **auth,
    )
    assert created.status_code == 201, created.content
    endpoint_id = created.json()["id"]
    sent = client.post(
        f"{webhooks}{endpoint_id}/test/", content_type="application/json", **auth
    )
    assert sent.status_code == 202, sent.content
    deliveries = client.get(f"{webhooks}{endpoint_id}/deliveries/", **auth).json()
    attempts = deliveries["results"][0]["attempt_log"]
    assert [a["status_code"] for a in attempts] == [None], attempts
    assert "no connection leaves a test" in attempts[0]["error"], attempts
    return endpoint_id, sent.json()["delivery_id"]


@contextmanager
def _team_unchanged(team) -> Iterator[None]:
    from tests.apis.manage.conftest import team_state

    before = team_state(team)
    yield
    assert team_state(team) == before


@pytest.fixture
def manage_token_world(manage_objects, developer_team, world_checks) -> Iterator[World]:
    """The Manager app's OAuth token with manage:read and manage:write."""
    world = World(
        headers={"Authorization": f"Bearer {manage_objects.token}"},
        ids=manage_objects.ids,
        minimum=MAX_EXAMPLES,
    )
    world.assert_signed_in("/api/manage/v1/teams/")
    world_checks(world)
    with _team_unchanged(developer_team):
        yield world


@MANAGE_SCHEMA.parametrize()
@SETTINGS
def test_manage_api_with_token(case, manage_token_world):
    manage_token_world.run(case)


@pytest.fixture
def manage_session_world(
    manage_objects, developer, developer_team, world_checks
) -> Iterator[World]:
    """``developer`` signed in to the portal, sending the CSRF token a page
    gave (POST, PUT, PATCH and DELETE need it)."""
    from tests.apis.manage.conftest import signed_in_client

    client, csrf = signed_in_client(developer)
    cookies = "; ".join(f"{name}={c.value}" for name, c in client.cookies.items())
    world = World(
        headers={"Cookie": cookies, "X-CSRFToken": csrf},
        ids=manage_objects.ids,
        minimum=SESSION_EXAMPLES,
        # A few fuzzed cases each, no coverage cases: too few for every
        # operation to meet a valid one (the token run's must).
        warnings_fail=False,
    )
    world.assert_signed_in("/api/manage/v1/teams/")
    world_checks(world)
    with _team_unchanged(developer_team):
        yield world


@MANAGE_SESSION_SCHEMA.parametrize()
@SETTINGS
def test_manage_api_signed_in(case, manage_session_world):
    manage_session_world.run(case)


# --- the stateful phase -----------------------------------------------------------


def run_state_machine(schema, world: World) -> None:
    """Run ``schema``'s state machine with ``world``'s credential: SCENARIOS
    scenarios of up to SCENARIO_STEPS calls, every response checked (the
    stateful checks too: a deleted object is gone, a created one can be
    read), each scenario in a savepoint rolled back at its end."""

    class Machine(schema.as_state_machine()):
        def setup(self) -> None:
            super().setup()
            self._savepoint = transaction.atomic()
            self._savepoint.__enter__()

        def teardown(self) -> None:
            try:
                super().teardown()
            finally:
                transaction.set_rollback(True)
                self._savepoint.__exit__(None, None, None)

        def step(self, input):
            transition = input.transition
            how = "unlinked"
            if transition is not None:
                how = "inferred link" if transition.is_inferred else "schema link"
            world.steps[input.case.operation.label, how] += 1
            return super().step(input)

        def before_call(self, case) -> None:
            world._aim(case)

        def get_call_kwargs(self, case) -> dict:
            return {"headers": world.headers, "session": _CLIENT_WITHOUT_JAR}

        def call(self, case, **kwargs):
            with _test_connection_kept():
                return case.call(**kwargs)

        def validate_response(self, response, case, additional_checks=None, **kw):
            probed = len(PROBES.statuses)
            with _test_connection_kept():
                case.validate_response(
                    response,
                    additional_checks=additional_checks,
                    # As sent by the test: ignored_auth takes them for valid.
                    headers=world.headers,
                    transport_kwargs=kw,
                    recorder=self.recorder,
                )
            world.note(case, response, PROBES.statuses[probed:])

    hypothesis.seed(SEED)(Machine)
    Machine.run(
        settings=hypothesis.settings(
            SETTINGS,
            max_examples=SCENARIOS,
            stateful_step_count=SCENARIO_STEPS,
            database=None,
            # A failing scenario is reported as found: shrinking one replays
            # it thousands of times, minutes of CI for a shorter story.
            phases=[p for p in hypothesis.Phase if p is not hypothesis.Phase.shrink],
        )
    )


@pytest.fixture
def books_stateful_world(books_objects, world_checks) -> World:
    world = World(
        headers={"Authorization": f"Bearer {books_objects.token}"},
        ids=books_objects.ids,
        minimum=0,
        stateful=True,
    )
    world_checks(world)
    return world


def test_books_api_stateful_with_token(books_stateful_world):
    run_state_machine(BOOKS_STATEFUL_SCHEMA, books_stateful_world)


@pytest.fixture
def manage_stateful_world(manage_objects, developer_team, world_checks):
    world = World(
        headers={"Authorization": f"Bearer {manage_objects.token}"},
        ids=manage_objects.ids,
        minimum=0,
        stateful=True,
    )
    world_checks(world)
    with _team_unchanged(developer_team):
        yield world


def test_manage_api_stateful_with_token(manage_stateful_world):
    run_state_machine(MANAGE_STATEFUL_SCHEMA, manage_stateful_world)


def test_the_schemas_give_schemathesis_nothing_to_warn_about():
    """What schemathesis warns about in a schema itself (auth it would not
    use, patterns it cannot generate from, references it cannot resolve) is
    a failure here."""
    for schema in (BOOKS_SCHEMA, MANAGE_SCHEMA, MANAGE_STATEFUL_SCHEMA):
        assert [(w.kind, w.message) for w in schema.iter_schema_warnings()] == []


def test_the_management_links_lead_to_real_operations_and_parameters():
    """Each link of the management schema names an operation of it and sets
    exactly that operation's path parameters."""
    operations = {
        operation["operationId"]: (path, operation)
        for path, methods in MANAGE_SCHEMA.raw_schema["paths"].items()
        for operation in methods.values()
    }
    links = [
        link
        for _, operation in operations.values()
        for response in operation["responses"].values()
        for link in response.get("links", {}).values()
    ]
    assert len(links) >= 15
    for link in links:
        path, _ = operations[link["operationId"]]
        assert set(link["parameters"]) == set(re.findall(r"{(\w+)}", path)), link
