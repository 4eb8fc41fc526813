"""Gatehouse's additions to django-oauth-toolkit's request validator."""

from __future__ import annotations

import hashlib

from django.db import transaction
from oauth2_provider.models import get_access_token_model, get_refresh_token_model
from oauth2_provider.oauth2_validators import OAuth2Validator

from portal.audit.services import record
from portal.oauth.models import UsedAuthorizationCode


def _checksum(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def revoke_token_family(refresh_checksum: str, access_checksum: str = "") -> None:
    """Revoke a refresh token with every token rotated from it, and an access
    token (the ones an authorization code was exchanged for)."""
    AccessToken = get_access_token_model()
    RefreshToken = get_refresh_token_model()
    with transaction.atomic():
        first = RefreshToken.objects.filter(token_checksum=refresh_checksum).first()
        if first is not None and first.token_family:
            RefreshToken.revoke_family(first.token_family)
        elif first is not None:
            first.revoke()
        if access_checksum:
            AccessToken.objects.filter(token_checksum=access_checksum).delete()


class _ClientDetails:
    """What the audit trail reads of a request (IP, user agent), taken from
    oauthlib's request: django-oauth-toolkit fills its headers from META."""

    def __init__(self, oauthlib_request):
        self.META = oauthlib_request.headers


def _live_tokens(token: str, app) -> list:
    """The client's unrevoked access and refresh tokens with this value."""
    lookup = {"token_checksum": _checksum(token), "application": app}
    access = get_access_token_model().objects.filter(**lookup).select_related("user")
    refresh = (
        get_refresh_token_model()
        .objects.filter(**lookup, revoked__isnull=True)
        .select_related("user")
    )
    return [*access, *refresh]


class GatehouseOAuth2Validator(OAuth2Validator):
    """django-oauth-toolkit's validator, plus:

    - a replayed authorization code revokes the tokens issued from it
      (RFC 6749 §4.1.2), not only gets refused;
    - userinfo and ID-token claims from the portal's user (email, name);
    - a token revoked at the RFC 7009 endpoint is audited.
    """

    def revoke_token(self, token, token_type_hint, request, *args, **kwargs):
        # One event per live token of this client that goes; an unknown token
        # (or another client's) is revoked and recorded as nothing.
        app = request.client
        with transaction.atomic():
            found = _live_tokens(token, app) if getattr(app, "pk", None) else []
            super().revoke_token(token, token_type_hint, request, *args, **kwargs)
            for revoked in found:
                record(
                    action="oauth.token_revoke",
                    actor_label=f"app:{app.qualified_slug}",
                    team=app.team,
                    target=revoked,
                    request=_ClientDetails(request),
                    data={
                        "app": app.qualified_slug,
                        "token_type": "refresh_token"
                        if isinstance(revoked, get_refresh_token_model())
                        else "access_token",
                        "user": revoked.user.email if revoked.user else None,
                    },
                )

    def save_bearer_token(self, token, request, *args, **kwargs):
        super().save_bearer_token(token, request, *args, **kwargs)
        # Remembered for invalidate_authorization_code, which runs next.
        request.gatehouse_issued = (
            token.get("access_token", ""),
            token.get("refresh_token", ""),
        )

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs):
        super().invalidate_authorization_code(client_id, code, request, *args, **kwargs)
        access, refresh = getattr(request, "gatehouse_issued", ("", ""))
        UsedAuthorizationCode.objects.get_or_create(
            code_checksum=_checksum(code),
            defaults={
                "application": request.client,
                "access_token_checksum": _checksum(access) if access else "",
                "refresh_token_checksum": _checksum(refresh) if refresh else "",
            },
        )

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        if super().validate_code(client_id, code, client, request, *args, **kwargs):
            return True
        used = UsedAuthorizationCode.objects.filter(
            code_checksum=_checksum(code), application=client
        ).first()
        if used is not None:
            revoke_token_family(used.refresh_token_checksum, used.access_token_checksum)
        return False

    def get_additional_claims(self, request):
        user = request.user
        claims = {}
        scopes = set(request.scopes or [])
        if "email" in scopes:
            claims["email"] = user.email
            claims["email_verified"] = user.is_email_verified
        if "profile" in scopes:
            claims["name"] = user.get_full_name()
        return claims
