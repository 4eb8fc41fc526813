"""The API key format: ``gk_<env>_<lookup id>_<secret><checksum>``.

- ``env``: ``live`` or ``test``, so a key is recognisable at a glance and a
  test key never works against production;
- ``lookup id``: 12 characters of lower-case base32, indexed and safe to show;
- ``secret``: 32 base62 characters from ``secrets`` (about 190 bits);
- ``checksum``: 6 base62 characters of the CRC-32 of everything before it, so
  a mistyped or truncated key is refused without a lookup, and secret
  scanners can tell a real key from look-alike text.
"""

from __future__ import annotations

import re
import secrets
import string
import zlib
from typing import NamedTuple

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
LOOKUP_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
LOOKUP_LENGTH = 12
SECRET_LENGTH = 32
CHECKSUM_LENGTH = 6
PREFIX = "gk"
KEY_LENGTH = len("gk_live_") + LOOKUP_LENGTH + 1 + SECRET_LENGTH + CHECKSUM_LENGTH

_KEY = re.compile(
    rf"gk_(live|test)_([{LOOKUP_ALPHABET}]{{{LOOKUP_LENGTH}}})_"
    rf"([0-9A-Za-z]{{{SECRET_LENGTH}}})([0-9A-Za-z]{{{CHECKSUM_LENGTH}}})"
)
_LOOKUP = re.compile(rf"[{LOOKUP_ALPHABET}]{{{LOOKUP_LENGTH}}}")


class ParsedKey(NamedTuple):
    environment: str
    lookup_id: str
    full: str


def _checksum(body: str) -> str:
    value = zlib.crc32(body.encode("ascii"))
    digits = []
    for _ in range(CHECKSUM_LENGTH):
        value, rest = divmod(value, 62)
        digits.append(BASE62[rest])
    return "".join(reversed(digits))


def new_lookup_id() -> str:
    return "".join(secrets.choice(LOOKUP_ALPHABET) for _ in range(LOOKUP_LENGTH))


def build_key(environment: str, lookup_id: str) -> str:
    """A new full key for ``lookup_id``, with a fresh random secret."""
    secret = "".join(secrets.choice(BASE62) for _ in range(SECRET_LENGTH))
    body = f"{PREFIX}_{environment}_{lookup_id}_{secret}"
    return body + _checksum(body)


def parse_key(raw: str, *, environment: str) -> ParsedKey | None:
    """The key's parts if ``raw`` is a well-formed key of ``environment``.

    Pure computation, no I/O: anything malformed, truncated, with a wrong
    checksum or another environment's prefix is None.
    """
    if len(raw) != KEY_LENGTH:
        return None
    match = _KEY.fullmatch(raw)
    if match is None or match.group(1) != environment:
        return None
    body = raw[:-CHECKSUM_LENGTH]
    if _checksum(body) != match.group(4):
        return None
    return ParsedKey(environment, match.group(2), raw)


def is_lookup_id(value: str) -> bool:
    return bool(_LOOKUP.fullmatch(value))
