"""The API-key app's tunables, with their defaults, in one place."""

from __future__ import annotations

import functools
import hashlib
import hmac
from datetime import timedelta

from django.conf import settings


def environment() -> str:
    """``live`` or ``test``: the prefix of keys issued and accepted here."""
    return getattr(settings, "API_KEY_ENVIRONMENT", "live")


def hash_secret() -> bytes:
    """The server-side secret of the keyed hash stored for each key.

    Set ``API_KEY_HASH_SECRET`` in production: derived from SECRET_KEY
    otherwise, so rotating SECRET_KEY would invalidate every key.
    """
    return _hash_secret(
        getattr(settings, "API_KEY_HASH_SECRET", ""), settings.SECRET_KEY
    )


@functools.lru_cache(maxsize=4)
def _hash_secret(configured: str, secret_key: str) -> bytes:
    # Cached: it is on every served call, and settings rarely change (tests).
    if configured:
        return configured.encode()
    return hmac.new(
        secret_key.encode(), b"gatehouse.keys.hash-secret", hashlib.sha256
    ).digest()


# How long a verified key's snapshot lives in this process before Redis is
# asked again. Bounds how late another process sees a revocation: one second.
LOCAL_CACHE_SECONDS = 1.0
LOCAL_CACHE_MAX_ENTRIES = 50_000
# How long the snapshot lives in the shared cache (changes delete it at once).
SHARED_CACHE_SECONDS = 300
# An unknown lookup id is remembered briefly so garbage cannot hammer the DB.
MISSING_CACHE_SECONDS = 30
LAST_USED_INTERVAL_SECONDS = 60
MAX_ROTATION_GRACE = timedelta(days=7)
MAX_NAME_LENGTH = 100
MAX_ALLOWED_IP_RANGES = 50
