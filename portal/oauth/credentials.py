"""OAuth access tokens on the hot path: the same cache and credential as keys.

Tokens are stored hashed (SHA-256 ``token_checksum``); the cache is keyed by
that checksum, so the raw token is never a cache key either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from oauth2_provider.models import get_access_token_model

from portal.keys.credentials import (
    Credential,
    cache_invalidate,
    cached_entry,
    grants_from_snapshot,
    pending_snapshot,
    subscriptions_snapshot,
)


@dataclass(frozen=True, slots=True)
class TokenEntry:
    expires_at: float
    suspended: bool
    credential: Credential


def token_checksum(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _load(checksum: str) -> dict | None:
    token = (
        get_access_token_model()
        .objects.select_related("application__team", "user")
        .filter(token_checksum=checksum)
        .first()
    )
    if token is None or token.application is None:
        return None
    app = token.application
    suspended = (
        not app.oauth_enabled
        or not app.is_active
        or not app.team.is_active
        or (token.user is not None and not token.user.is_active)
    )
    return {
        "expires_at": token.expires.timestamp(),
        "suspended": suspended,
        "token_id": token.pk,
        "user_id": token.user_id,
        "app_id": app.pk,
        "app_slug": app.slug,
        "team_id": app.team_id,
        "team_slug": app.team.slug,
        "scopes": token.scope.split(),
        "subscriptions": subscriptions_snapshot(app.pk),
        "pending": pending_snapshot(app.pk),
    }


def _build(snap: dict) -> TokenEntry:
    return TokenEntry(
        expires_at=snap["expires_at"],
        suspended=snap["suspended"],
        credential=Credential(
            kind="oauth_token",
            app_id=snap["app_id"],
            app_slug=snap["app_slug"],
            team_id=snap["team_id"],
            team_slug=snap["team_slug"],
            scopes=frozenset(snap["scopes"]),
            subscriptions=grants_from_snapshot(snap["subscriptions"]),
            token_id=snap["token_id"],
            user_id=snap["user_id"],
            pending_apis=frozenset(snap.get("pending", ())),
        ),
    )


def token_entry_get(checksum: str) -> TokenEntry | None:
    """The cached entry of the access token with this checksum, or None."""
    return cached_entry(f"tok:{checksum}", lambda: _load(checksum), _build)


def token_cache_invalidate(checksums: Iterable[str]) -> None:
    cache_invalidate(f"tok:{checksum}" for checksum in checksums)
