"""No full secret is stored or logged (OWASP API2/API8: broken authentication,
security misconfiguration).

One run creates, through the services and the real HTTP endpoints, every
kind of secret the portal hands out: 100 API keys, 100 confidential OAuth
clients, 100 access and 100 refresh tokens from the authorization-code flow
(then rotated refresh pairs and revocations), webhook signing secrets,
two-factor recovery codes and account passwords. Every log record emitted
meanwhile (every logger at DEBUG, as with ``LOG_LEVEL=DEBUG``, with its arguments,
extras and tracebacks), stdout and stderr are captured. The LOGGING setting
pins oauthlib and django-oauth-toolkit to INFO: at DEBUG they log
authorization codes, access and refresh tokens (found by this test). Then
the whole database is dumped (SQLite's ``iterdump``; ``pg_dump`` on
PostgreSQL, or every row via SQL when it is missing) and both are searched
for each secret: 0 hits.

What is stored instead: a keyed HMAC of each API key, django-oauth-toolkit's
password hash of each client secret (``hash_client_secret``), an empty
``token`` column and a SHA-256 ``token_checksum`` for each access and refresh
token (``COMPLIANT_BCP_RFC9700_TOKEN_STORAGE``), the webhook secret sealed
with Fernet, and an 80-bit keyed hash of each recovery code.

The one secret that is at rest by design is each authenticator app's TOTP
seed: the server computes the expected code from it, so it must be able to
read it (a hash cannot verify a TOTP code). django-otp keeps it as hex in
``otp_totp_totpdevice.key``; it must appear there and nowhere else, and never
in a log. The test checks exactly that.

Run with ``-s`` to see the ``FIGURE:`` lines SECURITY.md quotes.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field

import pytest
from django.contrib.auth.hashers import identify_hasher
from django.db import connection
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp

from portal.accounts import twofactor
from portal.accounts.models import User
from portal.keys.models import ApiKey
from portal.keys.services import api_key_issue
from portal.oauth.models import App
from portal.usage.flushing import flush_once
from portal.webhooks import services as webhooks
from portal.webhooks.models import Endpoint
from tests.portal.oauth.flows import (
    BOOKS,
    REVOKE,
    Pkce,
    bearer,
    client_auth,
    consent,
    exchange_code,
    post_form,
    refresh,
)

# Everything is committed, so pg_dump (another connection) sees it.
pytestmark = pytest.mark.django_db(transaction=True)

CLIENTS = 100
PORTAL_KEYS = 10
WEBHOOK_ENDPOINTS = 10
TWOFACTOR_USERS = 10
SIGNUPS = 5
REFRESHED = 10
REVOKED = 5


@dataclass
class Secrets:
    """Every secret handed out, by kind."""

    by_kind: dict[str, set[str]] = field(default_factory=dict)

    def add(self, kind: str, *values: str) -> None:
        for value in values:
            # Long enough that a chance match in megabytes of text is out of reach.
            assert value and len(value) >= 10, (kind, value)
            self.by_kind.setdefault(kind, set()).add(value)

    def counts(self) -> dict[str, int]:
        return {kind: len(values) for kind, values in sorted(self.by_kind.items())}

    def hits(self, text: str) -> dict[str, list[str]]:
        found = {
            kind: [v for v in values if v in text]
            for kind, values in self.by_kind.items()
        }
        return {kind: values for kind, values in found.items() if values}


class Everything(logging.Handler):
    """Keeps every record whole: message, arguments, extras, traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string still counts
            message = f"{record.msg!r} % {record.args!r}"
        traceback = ""
        if record.exc_info:
            traceback = logging.Formatter().formatException(record.exc_info)
        self.texts.append("\n".join([message, repr(vars(record)), traceback]))


PINNED_LOGGERS = ("oauthlib", "oauth2_provider")


@pytest.fixture
def every_log_record(caplog, settings):
    """Logging as with ``LOG_LEVEL=DEBUG``: every logger at DEBUG except those
    the LOGGING setting pins to a level of their own (and their children),
    each record into ``Everything`` (also from loggers that do not propagate
    to the root)."""
    handler = Everything()
    caplog.set_level(logging.DEBUG)
    pinned = tuple(
        name
        for name, config in settings.LOGGING.get("loggers", {}).items()
        if "level" in config
    )
    root = logging.getLogger()
    loggers = [root] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    for logger in loggers:
        under_a_pin = any(
            logger.name == name or logger.name.startswith(name + ".") for name in pinned
        )
        if not under_a_pin:
            logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if logger is root or not logger.propagate:
            logger.addHandler(handler)
    yield handler
    for logger, level, disabled in saved:
        logger.setLevel(level)
        logger.disabled = disabled
        logger.removeHandler(handler)


@pytest.fixture(autouse=True)
def _production_like(settings):
    # Queued work is kept in the database (as in production), so the queued
    # tasks' arguments are in the dump too.
    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
    settings.WEBHOOKS_ALLOW_LOOPBACK = True
    settings.APPS_MAX_PER_TEAM = CLIENTS + 10
    # Argon2 is tuned to be slow, and this test hashes hundreds of client
    # secrets and passwords. Still a salted one-way hash; the production hasher
    # is checked in test_client_secrets_use_the_production_password_hasher.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# --- dumping the database -------------------------------------------------------------


def database_dump() -> tuple[str, str]:
    """The whole database as text, and how it was made."""
    if connection.vendor == "sqlite":
        return "\n".join(connection.connection.iterdump()), "sqlite3 iterdump"
    assert connection.vendor == "postgresql"
    dumped = _pg_dump()
    if dumped is not None:
        return dumped, "pg_dump"
    return _rows_via_sql(), "every row via SQL"


def _pg_dump() -> str | None:
    binary = shutil.which("pg_dump")
    if binary is None:
        return None
    params = connection.settings_dict
    command = [binary, "--no-owner", "--dbname", params["NAME"]]
    for option, key in (("--host", "HOST"), ("--port", "PORT"), ("--username", "USER")):
        if params.get(key):
            command += [option, str(params[key])]
    environment = {**os.environ, "PGPASSWORD": params.get("PASSWORD") or ""}
    result = subprocess.run(  # noqa: S603 - our own arguments, no shell
        command, capture_output=True, text=True, env=environment, check=False
    )
    if result.returncode != 0:  # e.g. a pg_dump older than the server
        return None
    return result.stdout


def _rows_via_sql() -> str:
    lines = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            quoted = connection.ops.quote_name(table)
            cursor.execute(f"SELECT row_to_json(t)::text FROM {quoted} t")  # noqa: S608
            lines += [f"{table}: {row}" for (row,) in cursor.fetchall()]
    return "\n".join(lines)


# --- making the secrets ---------------------------------------------------------------


def make_oauth_clients(oauth_client_factory, secrets: Secrets) -> list:
    clients = [
        oauth_client_factory(name=f"Client {n}", slug=f"client-{n}")
        for n in range(CLIENTS)
    ]
    secrets.add("client secret", *(c.secret for c in clients))
    return clients


def make_tokens(clients, owner: User, secrets: Secrets) -> list[dict]:
    browser = Client()
    browser.force_login(owner)
    issued = []
    for oauth_client in clients:
        pkce = Pkce()
        code = consent(browser, oauth_client, pkce)
        response = exchange_code(Client(), oauth_client, code, pkce)
        assert response.status_code == 200, response.content
        issued.append(response.json())
        secrets.add("authorization code", code)
    for oauth_client, tokens in zip(
        clients[:REFRESHED], issued[:REFRESHED], strict=True
    ):
        response = refresh(Client(), oauth_client, tokens["refresh_token"])
        assert response.status_code == 200, response.content
        issued.append(response.json())
    secrets.add("access token", *(t["access_token"] for t in issued))
    secrets.add("refresh token", *(t["refresh_token"] for t in issued))
    return issued


def make_keys(clients, developer, developer_team, secrets: Secrets) -> list[str]:
    keys = [
        api_key_issue(app=c.app, name="service key", actor=developer).full_key
        for c in clients[: CLIENTS - PORTAL_KEYS]
    ]
    portal = Client()
    portal.force_login(developer)
    app = clients[-1].app
    for n in range(PORTAL_KEYS):
        response = portal.post(
            reverse("portal:key-create", args=[developer_team.slug, app.slug]),
            {"name": f"portal key {n}", "scopes": ["books:read"]},
        )
        assert response.status_code == 200, response.content[:500]
        keys.append(response.context["issued"].full_key)
    secrets.add("API key", *keys)
    # The part after the lookup id, on its own, is secret too.
    secrets.add("API key secret part", *(k.rsplit("_", 1)[1] for k in keys))
    return keys


def make_webhook_secrets(developer, developer_team, secrets: Secrets) -> None:
    portal = Client()
    portal.force_login(developer)
    for n in range(WEBHOOK_ENDPOINTS):
        response = portal.post(
            reverse("portal:webhook-list", args=[developer_team.slug]),
            {
                "url": f"http://127.0.0.1:9/hooks/{n}",
                "event_types": ["key.created", "key.revoked"],
            },
        )
        assert response.status_code == 200, response.content[:500]
        secrets.add("webhook secret", response.context["secret"])
    for endpoint in Endpoint.objects.filter(team=developer_team)[:5]:
        secrets.add(
            "webhook secret", webhooks.endpoint_rotate_secret(endpoint=endpoint)
        )


def make_twofactor(user_factory, secrets: Secrets) -> list[str]:
    """Enrol users in 2FA; returns their TOTP seeds (hex, as stored)."""
    seeds = []
    for n in range(TWOFACTOR_USERS):
        password = f"totp-user-password-{n}-{os.urandom(6).hex()}"
        # Set here, not through the factory: factory_boy's own DEBUG log would
        # show the test's password (test tooling, not the portal).
        user = user_factory(email=f"totp{n}@example.com", password=None)
        user.set_password(password)
        user.save(update_fields=["password"])
        device = twofactor.totp_enrolment_get_or_start(user=user)
        code = f"{totp(device.bin_key, device.step, device.t0, device.digits):06d}"
        _, codes = twofactor.totp_enrolment_confirm(
            user=user, code=code, password=password
        )
        codes += twofactor.recovery_codes_regenerate(user=user, password=password)
        secrets.add("recovery code", *codes)
        secrets.add("recovery code", *(c.replace("-", "") for c in codes))
        secrets.add("password", password)
        seeds.append(device.key)
        secrets.add("TOTP seed in base32", base64.b32encode(device.bin_key).decode())
    return seeds


def make_signups(secrets: Secrets) -> None:
    for n in range(SIGNUPS):
        password = f"signup-passphrase-{n}-{os.urandom(6).hex()}"
        response = Client().post(
            reverse("portal:signup"),
            {
                "email": f"signup{n}@example.com",
                "password1": password,
                "password2": password,
            },
        )
        assert response.status_code == 200, response.content[:500]
        assert User.objects.filter(email=f"signup{n}@example.com").exists()
        secrets.add("password", password)


def use_them(keys: list[str], tokens: list[dict], clients) -> None:
    """Serve calls with some keys and tokens, revoke some, fold usage in."""
    caller = Client()
    for key in keys[:20]:
        assert caller.get(BOOKS, HTTP_X_API_KEY=key).status_code == 200
    for tokens_ in tokens[REFRESHED : REFRESHED + 20]:
        response = caller.get(BOOKS, **bearer(tokens_["access_token"]))
        assert response.status_code == 200, response.content
    for oauth_client, tokens_ in zip(
        clients[REFRESHED : REFRESHED + REVOKED],
        tokens[REFRESHED : REFRESHED + REVOKED],
        strict=True,
    ):
        revoked = post_form(
            Client(),
            REVOKE,
            {"token": tokens_["refresh_token"], **client_auth(oauth_client)},
        )
        assert revoked.status_code == 200
    # A wrong and a garbled credential, so the refusal paths log too.
    wrong = keys[0][:-1] + ("x" if keys[0][-1] != "x" else "y")
    assert caller.get(BOOKS, HTTP_X_API_KEY=wrong).status_code == 401
    assert (
        caller.get(BOOKS, **bearer(tokens[0]["access_token"] + "x")).status_code == 401
    )
    flush_once()


# --- the test -------------------------------------------------------------------------


def test_no_secret_is_stored_or_logged(
    every_log_record,
    capfd,
    oauth_client_factory,
    developer,
    developer_team,
    resource_owner,
    user_factory,
):
    # At DEBUG these two log authorization codes and tokens: the LOGGING
    # setting keeps them at INFO even when LOG_LEVEL is DEBUG.
    for name in PINNED_LOGGERS:
        child = logging.getLogger(f"{name}.any.module")
        assert logging.getLogger().isEnabledFor(logging.DEBUG)
        assert not child.isEnabledFor(logging.DEBUG), name
    secrets = Secrets()
    clients = make_oauth_clients(oauth_client_factory, secrets)
    tokens = make_tokens(clients, resource_owner, secrets)
    keys = make_keys(clients, developer, developer_team, secrets)
    make_webhook_secrets(developer, developer_team, secrets)
    seeds = make_twofactor(user_factory, secrets)
    make_signups(secrets)
    use_them(keys, tokens, clients)

    out, err = capfd.readouterr()
    logs = "\n".join(every_log_record.texts) + "\n" + out + "\n" + err
    dump, how = database_dump()

    in_dump = secrets.hits(dump)
    in_logs = secrets.hits(logs)
    seeds_in_logs = [s for s in seeds if s in logs]
    seed_lines = [
        (table, line)
        for table, line in _lines_by_table(dump)
        if any(s in line for s in seeds)
    ]
    seed_tables = Counter(table for table, _line in seed_lines)
    with capfd.disabled():
        counts = secrets.counts()
        print(
            f"\nFIGURE: secrets at rest: {sum(counts.values())} secrets scanned "
            f"({', '.join(f'{kind} {n}' for kind, n in counts.items())})"
        )
        print(
            f"FIGURE: database dump ({how}, {connection.vendor}): "
            f"{len(dump):,} characters, {len(dump.splitlines()):,} lines, "
            f"{sum(len(v) for v in in_dump.values())} secrets found"
        )
        print(
            f"FIGURE: logs: {len(every_log_record.records)} log records at DEBUG "
            f"and {len(out) + len(err):,} characters of stdout/stderr, "
            f"{sum(len(v) for v in in_logs.values()) + len(seeds_in_logs)} "
            "secrets found"
        )
        print(
            f"FIGURE: TOTP seeds: {len(seeds)} stored readable by design, found only "
            f"in {dict(seed_tables)}; {len(seeds_in_logs)} in logs"
        )

    assert in_dump == {}
    assert in_logs == {}, _where(every_log_record, in_logs, out + err)
    assert seeds_in_logs == []
    assert set(seed_tables) == {"otp_totp_totpdevice"}
    assert len(seed_lines) == len(seeds)
    assert len(every_log_record.records) > 0  # the capture did capture
    _assert_stored_forms(clients, keys)


def _where(handler: Everything, found: dict[str, list[str]], output: str) -> dict:
    """Which loggers (or stdout/stderr) carried each kind of secret found."""
    places: dict[str, Counter] = {}
    for kind, values in found.items():
        for record, text in zip(handler.records, handler.texts, strict=True):
            if any(v in text for v in values):
                places.setdefault(kind, Counter())[
                    f"{record.name}: {record.msg}"[:160]
                ] += 1
        if any(v in output for v in values):
            places.setdefault(kind, Counter())["stdout/stderr"] += 1
    return places


def _lines_by_table(dump: str):
    """Each line of the dump with the table its row belongs to: an INSERT
    (SQLite), a line of a COPY block (pg_dump) or "table: row" (SQL)."""
    copying = None
    for line in dump.splitlines():
        if copying is not None:
            if line == "\\.":
                copying = None
            else:
                yield copying, line
            continue
        if match := re.match(r"COPY (?:\w+\.)?\"?(\w+)\"? ", line):
            copying = match.group(1)
        elif match := re.match(r'(?:INSERT INTO "?)?(\w+)(?:"? |: )', line):
            yield match.group(1), line
        else:
            yield "?", line


def _assert_stored_forms(clients, keys) -> None:
    """What is stored in place of each secret, as SECURITY.md describes it."""
    from oauth2_provider.models import get_access_token_model, get_refresh_token_model

    app = App.objects.get(pk=clients[0].app.pk)
    assert identify_hasher(app.client_secret).algorithm == "md5"
    assert clients[0].secret not in app.client_secret
    access = get_access_token_model().objects.all()
    refresh_tokens = get_refresh_token_model().objects.all()
    # Revocation and refresh rotation delete some; the rest are kept.
    assert access.count() >= CLIENTS - REVOKED
    assert refresh_tokens.count() >= CLIENTS
    assert set(access.values_list("token", flat=True)) == {""}
    assert set(refresh_tokens.values_list("token", flat=True)) == {""}
    assert all(len(c) == 64 for c in access.values_list("token_checksum", flat=True))
    assert ApiKey.objects.count() == len(keys)
    assert all(
        len(h) == 64 and h not in keys
        for h in ApiKey.objects.values_list("secret_hash", flat=True)
    )
    assert all(
        s.startswith("gAAAA")
        for s in Endpoint.objects.values_list("secret_encrypted", flat=True)
    )


def test_client_secrets_use_the_production_password_hasher(
    settings, oauth_client_factory
):
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]

    oauth_client = oauth_client_factory(name="Argon", slug="argon")

    stored = App.objects.get(pk=oauth_client.app.pk).client_secret
    assert identify_hasher(stored).algorithm == "argon2"
    assert oauth_client.secret not in stored


@pytest.mark.postgres
def test_the_sql_fallback_dumps_every_row(books_app):
    # Used when pg_dump is missing or older than the server.
    dump = _rows_via_sql()

    assert "accounts_user: " in dump
    assert books_app.key.secret_hash in dump
    assert books_app.full_key not in dump
