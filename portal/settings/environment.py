"""The environment reader and the files the embedded default keeps."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

# Development-only secrets (SECRET_KEY, later the OIDC signing key) live here,
# generated on first use and never committed (the folder is in .gitignore).
SECRETS_DIR = Path(env.str("GATEHOUSE_SECRETS_DIR", default=str(BASE_DIR / ".secrets")))


def development_secret(name: str, generate) -> str:
    """Return the secret kept in SECRETS_DIR/<name>, creating it once."""
    path = SECRETS_DIR / name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    SECRETS_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    value = generate()
    # O_EXCL: when two processes start at once, the first writer wins and the
    # other reads its value, so both agree on the same secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value


def _new_secret_key() -> str:
    return secrets.token_urlsafe(50)


DEBUG = env.bool("DEBUG", default=True)

if "SECRET_KEY" in os.environ:
    SECRET_KEY = env.str("SECRET_KEY")
elif DEBUG:
    SECRET_KEY = development_secret("secret_key", _new_secret_key)
else:
    raise environ.ImproperlyConfigured(
        "SECRET_KEY must be set when DEBUG is off (see README, Configuration)."
    )
