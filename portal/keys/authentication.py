"""DRF authentication for API keys: ``X-API-Key`` or ``Authorization: Bearer``."""

from __future__ import annotations

import time

from django.core.cache import cache
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication

from apis.exceptions import CredentialForbidden, InvalidCredential
from portal.keys import conf
from portal.keys.credentials import Credential, key_entry_get
from portal.keys.hashing import key_matches
from portal.keys.keyformat import PREFIX, parse_key
from portal.usage.served import refused_credential
from portal.web.client import client_ip


class CredentialUser:
    """``request.user`` for a call made by an app rather than a person."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = id = None

    def __init__(self, credential: Credential):
        self.credential = credential

    def __str__(self) -> str:
        return f"app:{self.credential.team_slug}/{self.credential.app_slug}"


_last_touch: dict[int, float] = {}


def _touch_last_used(key_id: int) -> None:
    # At most one database write a minute per key across every process: the
    # local dict spares the shared cache, cache.add elects one writer.
    now = time.time()
    if now - _last_touch.get(key_id, 0.0) < conf.LAST_USED_INTERVAL_SECONDS:
        return
    if len(_last_touch) >= conf.LOCAL_CACHE_MAX_ENTRIES:
        _last_touch.clear()
    _last_touch[key_id] = now
    if cache.add(f"gk:used:{key_id}", 1, conf.LAST_USED_INTERVAL_SECONDS):
        from portal.keys.models import ApiKey

        ApiKey.objects.filter(pk=key_id).update(last_used_at=timezone.now())


def last_used_memo_clear() -> None:
    """Forget which keys this process touched recently (tests)."""
    _last_touch.clear()


def _refusal(entry) -> InvalidCredential | None:
    """Why a genuine key is refused (revoked, expired, suspended), if it is."""
    if entry.revoked:
        return InvalidCredential("The API key has been revoked.", "key_revoked")
    if entry.expires_at is not None and entry.expires_at <= time.time():
        return InvalidCredential("The API key has expired.", "key_expired")
    if entry.suspended:
        return InvalidCredential(
            "The app, its team or the key's owner is suspended.",
            "credential_suspended",
        )
    return None


def presented_key(request) -> str | None:
    """The API key the request carries, or None if it carries none.

    ``Authorization: Bearer`` values that are not Gatehouse keys are left to
    the OAuth token authentication.
    """
    raw = request.META.get("HTTP_X_API_KEY")
    if raw is not None:
        return raw.strip()
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip().startswith(PREFIX + "_"):
        return value.strip()
    return None


class ApiKeyAuthentication(BaseAuthentication):
    """Resolve an API key to a ``Credential`` on ``request.auth``.

    Returns None when no key is presented. Raises ``InvalidCredential`` (401)
    for a malformed, unknown, revoked, expired or suspended key, and
    ``CredentialForbidden`` (403, ``ip_not_allowed``) for a caller outside the
    key's allowed ranges. A malformed key costs no database or cache query; a
    key used within the last second costs none either.
    """

    def authenticate(self, request):
        raw = presented_key(request)
        if raw is None:
            return None
        parsed = parse_key(raw, environment=conf.environment())
        if parsed is None:
            raise InvalidCredential("The API key is malformed or not valid here.")
        entry = key_entry_get(parsed.lookup_id)
        if entry is None or not key_matches(parsed.full, entry.secret_hash):
            raise InvalidCredential("The API key is not valid.")
        refusal = _refusal(entry)
        if refusal is not None:
            refused_credential(request, entry.credential)
            raise refusal
        credential = entry.credential
        if credential.allowed_networks and not credential.allows_ip(client_ip(request)):
            refused_credential(request, credential)
            raise CredentialForbidden(
                "This key may not be used from your IP address.", "ip_not_allowed"
            )
        _touch_last_used(credential.key_id)
        return CredentialUser(credential), credential

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'
