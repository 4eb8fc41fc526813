"""Keyed hashing of API keys at rest.

HMAC-SHA-256 with a server-side secret, not a slow password hash: the secret
part is random with ~190 bits of entropy (nothing to brute-force), and a
served call verifies a key on every request.
"""

from __future__ import annotations

import hashlib
import hmac

from portal.keys import conf


def key_hash(full_key: str) -> str:
    return hmac.new(conf.hash_secret(), full_key.encode(), hashlib.sha256).hexdigest()


def key_matches(full_key: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented key with a stored hash."""
    return hmac.compare_digest(key_hash(full_key), stored_hash)
