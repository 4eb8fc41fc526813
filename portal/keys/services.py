"""Use cases for API keys.

Every one writes its audit event in its transaction. Cached key entries are
dropped by the signal handlers in ``portal.keys.signals`` on every save, so
admin edits take effect the same way.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from portal.audit.services import record
from portal.catalog.rates import parse_rate
from portal.catalog.selectors import scopes_granted
from portal.errors import Conflict, InvalidInput
from portal.keys import conf
from portal.keys.hashing import key_hash
from portal.keys.keyformat import build_key, new_lookup_id
from portal.keys.models import ApiKey, KeyStatus
from portal.webhooks import services as webhooks

if TYPE_CHECKING:
    from django.http import HttpRequest

    from portal.accounts.models import User
    from portal.oauth.models import App


@dataclass(frozen=True)
class IssuedKey:
    """A new key and its full value, which exists only here, once."""

    key: ApiKey
    full_key: str


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("Give the key a name.", field="name")
    if len(name) > conf.MAX_NAME_LENGTH:
        raise InvalidInput(
            f"Names are at most {conf.MAX_NAME_LENGTH} characters.", field="name"
        )
    return name


def _clean_scopes(app: App, scopes: list[str] | None) -> list[str]:
    """The requested scopes, checked against what the app's plans grant.

    None means "every scope the app is granted now".
    """
    granted = set(scopes_granted(app=app).values_list("name", flat=True))
    if scopes is None:
        return sorted(granted)
    requested = {s.strip() for s in scopes if s and s.strip()}
    outside = sorted(requested - granted)
    if outside:
        raise InvalidInput(
            "Not granted by any of the app's active subscriptions: "
            + ", ".join(outside)
            + ".",
            code="scope_not_granted",
            field="scopes",
        )
    return sorted(requested)


def _clean_expiry(expires_at: datetime | None) -> datetime | None:
    if expires_at is not None and expires_at <= timezone.now():
        raise InvalidInput("The expiry must be in the future.", field="expires_at")
    return expires_at


def clean_ip_ranges(ranges: list[str]) -> list[str]:
    """Normalised CIDR ranges (IPv4 and IPv6); InvalidInput names a bad one."""
    cleaned = []
    for raw in ranges:
        raw = raw.strip()
        if not raw:
            continue
        try:
            network = ipaddress.ip_network(raw, strict=False)
        except ValueError as exc:
            raise InvalidInput(
                f"{raw[:60]!r} is not an IP address or CIDR range.",
                code="invalid_ip_range",
                field="allowed_ips",
            ) from exc
        cleaned.append(str(network))
    if len(cleaned) > conf.MAX_ALLOWED_IP_RANGES:
        raise InvalidInput(
            f"At most {conf.MAX_ALLOWED_IP_RANGES} ranges.", field="allowed_ips"
        )
    return sorted(set(cleaned))


def clean_rates(rates: list[str]) -> list[str]:
    cleaned = []
    for rate in rates:
        try:
            parse_rate(rate)
        except ValueError as exc:
            raise InvalidInput(str(exc), code="invalid_rate", field="rate") from exc
        cleaned.append(rate.strip())
    return cleaned


def _lock_usable(key: ApiKey) -> ApiKey:
    """Re-read ``key`` under a row lock and check it can still be changed.

    Call inside a transaction: a key revoked by a concurrent request since the
    caller read it must not be rotated or edited back into use.
    """
    locked = (
        ApiKey.objects.select_for_update().select_related("app__team").get(pk=key.pk)
    )
    if locked.status != KeyStatus.ACTIVE:
        raise Conflict(f"This key is {locked.status}.", code=f"key_{locked.status}")
    return locked


def _check_active_cap(app: App, *, replacing: bool) -> None:
    """Refuse a key beyond ``API_KEYS_MAX_ACTIVE_PER_APP`` active ones.

    Call inside the issuing transaction: the app row is locked so concurrent
    issues count each other. A rotation may go one over (the replaced key
    still works during its grace period), but not again until that ends.
    """
    cap = settings.API_KEYS_MAX_ACTIVE_PER_APP
    type(app).objects.select_for_update().filter(pk=app.pk).first()
    now = timezone.now()
    active = (
        ApiKey.objects.filter(app=app, revoked_at__isnull=True)
        .exclude(expires_at__lte=now)
        .count()
    )
    if active >= cap + (1 if replacing else 0):
        raise Conflict(
            f"An app can have at most {cap} active keys: revoke one first.",
            code="limit_reached",
        )


def _audit(action: str, key: ApiKey, actor, request, **data) -> None:
    record(
        action=action,
        actor=actor,
        team=key.app.team,
        target=key,
        request=request,
        data={"app": key.app.qualified_slug, "lookup_id": key.lookup_id, **data},
    )


def api_key_issue(
    *,
    app: App,
    name: str,
    scopes: list[str] | None = None,
    expires_at: datetime | None = None,
    allowed_ips: list[str] | None = None,
    rate_override: list[str] | None = None,
    actor: User | None = None,
    request: HttpRequest | None = None,
    replaces: ApiKey | None = None,
) -> IssuedKey:
    """Create a key for ``app``; the full key is in the result and nowhere else.

    ``scopes`` must be within what the app's active subscriptions grant
    (None: all of them). Raises ``InvalidInput`` naming the bad field, and
    ``Conflict`` (``limit_reached``) when the app has as many active keys as
    ``API_KEYS_MAX_ACTIVE_PER_APP`` allows.
    """
    if not (app.is_active and app.team.is_active):
        raise Conflict(
            "The app or its team is suspended: it cannot get new keys.",
            code="app_suspended",
        )
    name = _clean_name(name)
    scope_list = _clean_scopes(app, scopes)
    expires_at = _clean_expiry(expires_at)
    ips = clean_ip_ranges(allowed_ips or [])
    rates = clean_rates(rate_override or [])
    environment = conf.environment()
    for _attempt in range(5):
        lookup_id = new_lookup_id()
        full_key = build_key(environment, lookup_id)
        try:
            with transaction.atomic():
                _check_active_cap(app, replacing=replaces is not None)
                key = ApiKey.objects.create(
                    app=app,
                    name=name,
                    lookup_id=lookup_id,
                    environment=environment,
                    secret_hash=key_hash(full_key),
                    scopes=scope_list,
                    expires_at=expires_at,
                    allowed_ips=ips,
                    rate_override=rates,
                    created_by=actor if getattr(actor, "pk", None) else None,
                    replaces=replaces,
                )
                _audit("api_key.issue", key, actor, request, scopes=scope_list)
                if replaces is None:
                    webhooks.emit(
                        key.app.team_id, "key.created", webhooks.key_data(key)
                    )
        except IntegrityError:
            continue  # a lookup-id collision (1 in 2^60): draw again
        return IssuedKey(key=key, full_key=full_key)
    raise RuntimeError("Could not draw a unique key lookup id.")


def api_key_rename(*, key: ApiKey, name: str, actor=None, request=None) -> ApiKey:
    name = _clean_name(name)
    with transaction.atomic():
        old = key.name
        key.name = name
        key.save(update_fields=["name"])
        _audit("api_key.rename", key, actor, request, old=old, new=name)
    return key


def api_key_set_scopes(
    *, key: ApiKey, scopes: list[str], actor=None, request=None
) -> ApiKey:
    """Change the key's scopes, only within what the app is granted."""
    scope_list = _clean_scopes(key.app, scopes)
    with transaction.atomic():
        key = _lock_usable(key)
        old = key.scopes
        key.scopes = scope_list
        key.save(update_fields=["scopes"])
        _audit("api_key.scopes_change", key, actor, request, old=old, new=scope_list)
    return key


def api_key_set_expiry(
    *, key: ApiKey, expires_at: datetime | None, actor=None, request=None
) -> ApiKey:
    """Set (or with None, clear) the key's expiry."""
    expires_at = _clean_expiry(expires_at)
    with transaction.atomic():
        key = _lock_usable(key)
        key.expires_at = expires_at
        key.save(update_fields=["expires_at"])
        _audit(
            "api_key.expiry_change",
            key,
            actor,
            request,
            expires_at=expires_at.isoformat() if expires_at else None,
        )
    return key


def api_key_set_allowed_ips(
    *, key: ApiKey, allowed_ips: list[str], actor=None, request=None
) -> ApiKey:
    """Restrict the key to these CIDR ranges (empty: any address)."""
    ips = clean_ip_ranges(allowed_ips)
    with transaction.atomic():
        key = _lock_usable(key)
        key.allowed_ips = ips
        key.save(update_fields=["allowed_ips"])
        _audit("api_key.allowed_ips_change", key, actor, request, allowed_ips=ips)
    return key


def api_key_revoke(
    *, key: ApiKey, reason: str = "", actor=None, request=None
) -> ApiKey:
    """Revoke the key now: its next call anywhere is refused with 401.

    Revoking an already revoked key changes nothing and records nothing.
    """
    reason = (reason or "").strip()[:200]
    with transaction.atomic():
        key = (
            ApiKey.objects.select_for_update()
            .select_related("app__team")
            .get(pk=key.pk)
        )
        if key.revoked_at is not None:
            return key
        key.revoked_at = timezone.now()
        key.revoked_reason = reason
        key.save(update_fields=["revoked_at", "revoked_reason"])
        _audit("api_key.revoke", key, actor, request, reason=reason)
        webhooks.emit(
            key.app.team_id,
            "key.revoked",
            {**webhooks.key_data(key), "reason": reason},
        )
    return key


def api_key_rotate(
    *, key: ApiKey, grace: timedelta, actor=None, request=None
) -> IssuedKey:
    """Issue a replacement with the same settings; the old key keeps working
    until ``grace`` has passed (0 to 7 days), then expires.
    """
    if grace < timedelta(0) or grace > conf.MAX_ROTATION_GRACE:
        raise InvalidInput("The grace period is between 0 and 7 days.", field="grace")
    with transaction.atomic():
        key = _lock_usable(key)
        issued = api_key_issue(
            app=key.app,
            name=key.name,
            scopes=key.scopes,
            expires_at=key.expires_at,
            allowed_ips=key.allowed_ips,
            rate_override=key.rate_override,
            actor=actor,
            request=request,
            replaces=key,
        )
        if grace:
            end = timezone.now() + grace
            key.expires_at = min(end, key.expires_at) if key.expires_at else end
            key.save(update_fields=["expires_at"])
        else:
            key.revoked_at = timezone.now()
            key.revoked_reason = "rotated"
            key.save(update_fields=["revoked_at", "revoked_reason"])
        _audit(
            "api_key.rotate",
            key,
            actor,
            request,
            new_lookup_id=issued.key.lookup_id,
            grace_seconds=int(grace.total_seconds()),
        )
        webhooks.emit(
            key.app.team_id,
            "key.rotated",
            {
                **webhooks.key_data(key),
                "replacement": webhooks.key_data(issued.key)["key"],
                "grace_seconds": int(grace.total_seconds()),
            },
        )
    return issued
