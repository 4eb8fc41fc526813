"""``createapikey`` and ``revokeapikey``: the command-line face of the key services."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone

from portal.audit.models import AuditEvent
from portal.keys.hashing import key_matches
from portal.keys.models import ApiKey
from tests.apis.assertions import assert_problem

KEY_LINE = re.compile(r"gk_test_[0-9a-z]{12}_[0-9A-Za-z]{38}\n")
BOOKS = "/api/books/v1/books/"


def create(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("createapikey", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def revoke(*args: str) -> str:
    out = StringIO()
    call_command("revokeapikey", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.fixture
def app_name(books_app) -> str:
    return books_app.app.qualified_slug


# --- createapikey -------------------------------------------------------------


def test_createapikey_prints_only_the_key_and_the_key_works(
    app_name, books_app, api_client
):
    out, err = create("--app", app_name, "--name", "Nightly import")

    assert KEY_LINE.fullmatch(out)
    assert err == ""
    full_key = out.strip()
    key = ApiKey.objects.get(lookup_id=full_key[8:20])
    assert key.app == books_app.app
    assert key.name == "Nightly import"
    assert key.scopes == ["books:read", "books:write"]
    assert key.created_by is None
    assert key_matches(full_key, key.secret_hash)
    assert AuditEvent.objects.filter(action="api_key.issue", target_id=key.pk).exists()
    assert api_client.get(BOOKS, HTTP_X_API_KEY=full_key).status_code == 200


def test_createapikey_stores_scopes_expiry_and_rates(app_name, time_machine):
    now = timezone.now()
    time_machine.move_to(now, tick=False)

    out, _ = create(
        "--app",
        app_name,
        "--scopes",
        "books:read, ",
        "--expires-in-days",
        "30",
        "--rate",
        "50/m",
        "--rate",
        "1000/h",
    )

    key = ApiKey.objects.get(lookup_id=out.strip()[8:20])
    assert key.scopes == ["books:read"]
    assert key.expires_at == now + timedelta(days=30)
    assert key.rate_override == ["50/m", "1000/h"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(["--app", "nope/x"], "No app 'nope/x'", id="unknown-app"),
        pytest.param(["--app", "no-slash"], "No app 'no-slash'", id="no-slash"),
        pytest.param(
            ["--scopes", "books:admin"], "books:admin", id="scope-not-granted"
        ),
        pytest.param(["--rate", "ten per second"], "not a rate", id="bad-rate"),
        pytest.param(["--expires-in-days", "0"], "between 1 and 3650", id="days-0"),
        pytest.param(["--expires-in-days", "-5"], "between 1 and 3650", id="days-neg"),
        pytest.param(
            ["--expires-in-days", "3651"], "between 1 and 3650", id="days-too-many"
        ),
        pytest.param(["--name", " "], "name", id="blank-name"),
    ],
)
def test_createapikey_refuses_bad_arguments(app_name, args, message):
    if "--app" not in args:
        args = ["--app", app_name, *args]
    before = ApiKey.objects.count(), AuditEvent.objects.count()

    with pytest.raises(CommandError, match=message):
        create(*args)

    assert (ApiKey.objects.count(), AuditEvent.objects.count()) == before


def test_createapikey_exits_non_zero_with_the_error_on_stderr(tmp_path):
    # A separate process cannot see the test database: give it a fresh one.
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "GATEHOUSE_SECRETS_DIR": str(tmp_path / "secrets"),
        "DEBUG": "true",
    }
    env.pop("REDIS_URL", None)
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
    subprocess.run(  # noqa: S603 - fixed arguments
        [*manage, "migrate", "-v0"], env=env, check=True, capture_output=True
    )

    result = subprocess.run(  # noqa: S603 - fixed arguments
        [*manage, "createapikey", "--app", "nope/x"],
        env=env,
        capture_output=True,
        text=True,
    )

    assert result.returncode != 0
    assert result.stdout == ""
    assert "CommandError: No app 'nope/x'" in result.stderr


# --- revokeapikey -------------------------------------------------------------


def test_revokeapikey_revokes_the_key(books_app, api_client):
    assert api_client.get(BOOKS, **books_app.headers).status_code == 200
    lookup_id = books_app.key.lookup_id

    out = revoke(lookup_id, "--reason", "found in a public repo")

    assert out == f"Revoked {lookup_id}.\n"
    key = ApiKey.objects.get(pk=books_app.key.pk)
    assert key.revoked_at is not None
    assert key.revoked_reason == "found in a public repo"
    event = AuditEvent.objects.get(action="api_key.revoke")
    assert event.data["reason"] == "found in a public repo"
    assert_problem(api_client.get(BOOKS, **books_app.headers), 401, "key_revoked")


@pytest.mark.parametrize(
    "lookup_id",
    [
        pytest.param("abcdefghjkmn", id="unknown"),
        pytest.param("ABCDEFGHJKMN", id="upper-case"),
        pytest.param("short", id="too-short"),
        pytest.param("' OR 1=1 --", id="sql"),
        pytest.param("", id="empty"),
    ],
)
def test_revokeapikey_refuses_an_unknown_or_invalid_lookup_id(books_app, lookup_id):
    with pytest.raises(CommandError, match="No API key with lookup id"):
        revoke(lookup_id)

    assert ApiKey.objects.get(pk=books_app.key.pk).revoked_at is None
    assert not AuditEvent.objects.filter(action="api_key.revoke").exists()


def test_revokeapikey_refuses_an_already_revoked_key(books_app):
    revoke(books_app.key.lookup_id)

    with pytest.raises(CommandError, match="already revoked"):
        revoke(books_app.key.lookup_id)

    assert AuditEvent.objects.filter(action="api_key.revoke").count() == 1
