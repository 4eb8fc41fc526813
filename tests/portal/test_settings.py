"""`manage.py check` and `check --deploy` on the configurations the README names."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]

_OIDC_KEY = (
    rsa.generate_private_key(public_exponent=65537, key_size=2048)
    .private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    .decode()
)

PRODUCTION = {
    "OIDC_RSA_PRIVATE_KEY": _OIDC_KEY.replace("\n", "\\n"),
    "DEBUG": "False",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "portal.example.com",
    "DATABASE_URL": "postgres://gatehouse@db.internal:5432/gatehouse",
    "REDIS_URL": "redis://cache.internal:6379/0",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION}
    return subprocess.run(  # noqa: S603 - fixed argv, our own manage.py
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_is_clean_on_the_configuration_under_test():
    # The suite runs once embedded and once on PostgreSQL + Redis: this is
    # `manage.py check` for whichever of the two is active.
    call_command("check", fail_level="WARNING")


def test_check_is_clean_on_the_embedded_default():
    result = manage("check", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_is_clean_with_the_production_variables():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_ratelimit_cache_check_is_only_silenced_for_the_embedded_default():
    env = {**PRODUCTION, "DEBUG": "True"}
    result = manage(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.SILENCED_SYSTEM_CHECKS)",
        **env,
    )
    assert result.returncode == 0, result.stderr
    assert "django_ratelimit" not in result.stdout


def test_production_without_secret_key_refuses_to_start():
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_without_oidc_signing_key_refuses_to_start():
    env = {k: v for k, v in PRODUCTION.items() if k != "OIDC_RSA_PRIVATE_KEY"}
    result = manage("check", **env)
    assert result.returncode != 0
    assert "OIDC_RSA_PRIVATE_KEY must be set" in result.stderr


def test_unknown_task_backend_is_a_clear_error():
    result = manage("check", TASKS_BACKEND="carrier-pigeon")
    assert result.returncode != 0
    assert "TASKS_BACKEND must be one of" in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RATELIMIT_LEASE_SIZE", "-1", "RATELIMIT_LEASE_SIZE must be 0 (off) or"),
        ("RATELIMIT_LEASE_SIZE", "7", "RATELIMIT_LEASE_SIZE must be 0 (off) or"),
        ("RATELIMIT_LEASE_SECONDS", "0", "RATELIMIT_LEASE_SECONDS must be between"),
        ("RATELIMIT_LEASE_SECONDS", "600", "RATELIMIT_LEASE_SECONDS must be between"),
    ],
)
def test_a_lease_setting_out_of_range_is_a_clear_error(name, value, message):
    result = manage("check", **{name: value})
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize(
    ("url", "engine"),
    [
        ("postgres://u@h:5432/db", "django.db.backends.postgresql"),
        ("sqlite:////tmp/x.sqlite3", "django.db.backends.sqlite3"),
    ],
)
def test_database_url_selects_the_engine_and_persistent_connections(url, engine):
    code = (
        "from django.conf import settings; d = settings.DATABASES['default'];"
        "print(d['ENGINE'], d.get('CONN_MAX_AGE'), d.get('CONN_HEALTH_CHECKS'))"
    )
    result = manage("shell", "--no-imports", "-c", code, DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    name, max_age, health = result.stdout.split()
    assert name == engine
    if engine.endswith("postgresql"):
        assert int(max_age) > 0
        assert health == "True"
