"""The credential a served call runs under, and the hot-path key cache.

A verified key resolves to a ``Credential``: app, team, scopes, and the
app's active subscriptions (plan, scopes, rate tiers, quota). OAuth tokens
resolve to the same object, so a served view never cares which was used.

Caching, in two layers, so a warm key costs no database query:
1. a per-process dict whose entries live ``LOCAL_CACHE_SECONDS`` (one second):
   another process's change is seen here within that second;
2. the shared cache (Redis in production), keyed by lookup id, deleted by
   every change through ``credential_cache_invalidate``.
A change deletes both at once in the process that made it, so its very next
request sees the change.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db import transaction

from portal.keys import conf

CACHE_PREFIX = "gk:cred:"
TOMBSTONE_PREFIX = "gk:cred-changed:"
# A snapshot loaded from the database is not cached when an invalidation
# landed after (or just before) the load began: it may predate the change.
_TOMBSTONE_SECONDS = 10
_CLOCK_SLACK = 0.5


@dataclass(frozen=True, slots=True)
class SubscriptionGrant:
    subscription_id: int
    api_slug: str
    plan_id: int
    plan_slug: str
    scopes: frozenset[str]
    rate_tiers: tuple[str, ...]
    monthly_quota: int | None


@dataclass(frozen=True, slots=True)
class Credential:
    """Who is calling: an app (through one of its keys or tokens)."""

    kind: str  # "api_key" or "oauth_token"
    app_id: int
    app_slug: str
    team_id: int
    team_slug: str
    scopes: frozenset[str]
    subscriptions: Mapping[str, SubscriptionGrant]
    key_id: int | None = None
    key_lookup_id: str | None = None
    token_id: int | None = None
    user_id: int | None = None
    # APIs the app has asked to subscribe to, awaiting staff approval.
    pending_apis: frozenset[str] = frozenset()
    rate_override: tuple[str, ...] = ()
    allowed_networks: tuple[Any, ...] = field(default=())

    def subscription_for(self, api_slug: str) -> SubscriptionGrant | None:
        return self.subscriptions.get(api_slug)

    def scopes_for(self, api_slug: str) -> frozenset[str]:
        """Scopes usable on ``api_slug``: the credential's, within its plan's."""
        grant = self.subscriptions.get(api_slug)
        return self.scopes & grant.scopes if grant else frozenset()

    def allows_ip(self, ip: str | None) -> bool:
        if ip is None:
            return False
        address = ipaddress.ip_address(ip)
        return any(address in network for network in self.allowed_networks)


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """What the cache holds for one key: verification data plus credential."""

    secret_hash: str
    revoked: bool
    expires_at: float | None
    suspended: bool
    credential: Credential


# --- building entries from the database ------------------------------------


def _load_entry(lookup_id: str) -> dict | None:
    from portal.keys.models import ApiKey

    key = (
        ApiKey.objects.select_related("app__team", "created_by")
        .filter(lookup_id=lookup_id)
        .first()
    )
    if key is None:
        return None
    app = key.app
    suspended = (
        not app.is_active
        or not app.team.is_active
        or (key.created_by is not None and not key.created_by.is_active)
    )
    return {
        "hash": key.secret_hash,
        "revoked": key.revoked_at is not None,
        "expires_at": key.expires_at.timestamp() if key.expires_at else None,
        "suspended": suspended,
        "key_id": key.pk,
        "app_id": app.pk,
        "app_slug": app.slug,
        "team_id": app.team_id,
        "team_slug": app.team.slug,
        "scopes": list(key.scopes),
        "allowed_ips": list(key.allowed_ips),
        "rate_override": list(key.rate_override),
        "subscriptions": subscriptions_snapshot(app.pk),
        "pending": pending_snapshot(app.pk),
    }


def pending_snapshot(app_id: int) -> list[str]:
    """Slugs of the APIs the app's pending subscriptions are for."""
    from portal.catalog.models import Subscription, SubscriptionStatus

    return list(
        Subscription.objects.filter(
            app_id=app_id, status=SubscriptionStatus.PENDING
        ).values_list("api__slug", flat=True)
    )


def subscriptions_snapshot(app_id: int) -> list[dict]:
    """The app's active subscriptions as cacheable data (two queries)."""
    from portal.catalog.models import Subscription, SubscriptionStatus

    subscriptions = (
        Subscription.objects.filter(app_id=app_id, status=SubscriptionStatus.ACTIVE)
        .select_related("plan", "api")
        .prefetch_related("plan__scopes")
    )
    return [
        {
            "id": sub.pk,
            "api": sub.api.slug,
            "plan_id": sub.plan_id,
            "plan": sub.plan.slug,
            "scopes": [scope.name for scope in sub.plan.scopes.all()],
            "rate_tiers": list(sub.plan.rate_tiers),
            "quota": sub.plan.monthly_quota,
        }
        for sub in subscriptions
    ]


def grants_from_snapshot(subscriptions: list[dict]) -> dict[str, SubscriptionGrant]:
    return {
        sub["api"]: SubscriptionGrant(
            subscription_id=sub["id"],
            api_slug=sub["api"],
            plan_id=sub["plan_id"],
            plan_slug=sub["plan"],
            scopes=frozenset(sub["scopes"]),
            rate_tiers=tuple(sub["rate_tiers"]),
            monthly_quota=sub["quota"],
        )
        for sub in subscriptions
    }


def _entry_from_snapshot(lookup_id: str, snap: dict) -> KeyEntry:
    grants = grants_from_snapshot(snap["subscriptions"])
    credential = Credential(
        kind="api_key",
        app_id=snap["app_id"],
        app_slug=snap["app_slug"],
        team_id=snap["team_id"],
        team_slug=snap["team_slug"],
        scopes=frozenset(snap["scopes"]),
        subscriptions=grants,
        key_id=snap["key_id"],
        key_lookup_id=lookup_id,
        rate_override=tuple(snap["rate_override"]),
        pending_apis=frozenset(snap.get("pending", ())),
        allowed_networks=tuple(
            ipaddress.ip_network(cidr, strict=False) for cidr in snap["allowed_ips"]
        ),
    )
    return KeyEntry(
        secret_hash=snap["hash"],
        revoked=snap["revoked"],
        expires_at=snap["expires_at"],
        suspended=snap["suspended"],
        credential=credential,
    )


# --- the two cache layers ----------------------------------------------------

_MISSING = {"missing": True}
_local: dict[str, tuple[float, Any]] = {}


def cached_entry(
    cache_id: str,
    load: Callable[[], dict | None],
    build: Callable[[dict], Any],
) -> Any:
    """The built entry for ``cache_id`` (e.g. ``key:<lookup id>``), or None.

    Warm: no I/O within a second of this process's last fetch, else one
    shared-cache read. Cold: ``load()`` reads the database (None: no such
    credential) and the shared cache is filled, unless an invalidation of
    this id landed while loading.
    """
    now = time.monotonic()
    hit = _local.get(cache_id)
    if hit is not None and hit[0] > now:
        return hit[1]
    snap = cache.get(CACHE_PREFIX + cache_id)
    if snap is None:
        started = time.time()
        snap = load() or _MISSING
        changed = cache.get(TOMBSTONE_PREFIX + cache_id)
        if changed is None or changed < started - _CLOCK_SLACK:
            timeout = (
                conf.MISSING_CACHE_SECONDS
                if snap is _MISSING
                else conf.SHARED_CACHE_SECONDS
            )
            cache.set(CACHE_PREFIX + cache_id, snap, timeout)
    entry = None if snap.get("missing") else build(snap)
    if len(_local) >= conf.LOCAL_CACHE_MAX_ENTRIES:
        _local.clear()
    _local[cache_id] = (now + conf.LOCAL_CACHE_SECONDS, entry)
    return entry


def key_entry_get(lookup_id: str) -> KeyEntry | None:
    """The cached entry of the key ``lookup_id`` (None: no such key)."""
    return cached_entry(
        f"key:{lookup_id}",
        lambda: _load_entry(lookup_id),
        lambda snap: _entry_from_snapshot(lookup_id, snap),
    )


def _invalidate_now(cache_ids: list[str]) -> None:
    for cache_id in cache_ids:
        _local.pop(cache_id, None)
    stamp = time.time()
    cache.set_many(
        {TOMBSTONE_PREFIX + cache_id: stamp for cache_id in cache_ids},
        _TOMBSTONE_SECONDS,
    )
    cache.delete_many([CACHE_PREFIX + cache_id for cache_id in cache_ids])


def cache_invalidate(cache_ids: Iterable[str]) -> None:
    """Forget these cached entries now and again once the transaction commits.

    Now, so a request later in the same transaction cannot see the old entry;
    on commit, so a reader that loaded the old row meanwhile is overruled.
    """
    ids = sorted(set(cache_ids))
    if not ids:
        return
    _invalidate_now(ids)
    transaction.on_commit(lambda: _invalidate_now(ids))


def credential_cache_invalidate(lookup_ids: Iterable[str]) -> None:
    """Forget the cached entries of these API keys (by lookup id)."""
    cache_invalidate(f"key:{lookup_id}" for lookup_id in lookup_ids)


def local_cache_clear() -> None:
    """Empty this process's layer (tests; the shared cache is cleared apart)."""
    _local.clear()
