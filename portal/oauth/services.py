"""Use cases for apps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.text import slugify
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_refresh_token_model,
    revoke_access_token,
)

from portal.audit.services import record
from portal.errors import Conflict, InvalidInput
from portal.oauth.models import App
from portal.oauth.redirects import clean_redirect_uris
from portal.webhooks.services import emit

if TYPE_CHECKING:
    from django.http import HttpRequest

    from portal.accounts.models import Membership, Team


def app_create(
    *,
    actor_membership: Membership | None = None,
    name: str,
    slug: str = "",
    description: str = "",
    request: HttpRequest | None = None,
    team: Team | None = None,
    actor=None,
) -> App:
    """Create an app in the actor's team. Any member may.

    A person passes their ``actor_membership``. A management-API token acts
    for its own app's team without being a member: it passes that ``team``
    and itself as ``actor`` instead. Raises ``InvalidInput`` for an empty
    name, ``Conflict`` (code ``slug_taken``) when the team already has an
    app with that slug, and ``Conflict`` (``limit_reached``) when the team has
    ``APPS_MAX_PER_TEAM`` apps.
    """
    if actor_membership is not None:
        team, actor = actor_membership.team, actor_membership.user
    if team is None:
        raise TypeError("app_create needs actor_membership, or team and actor.")
    name = name.strip()
    if not name:
        raise InvalidInput("Give the app a name.", field="name")
    slug = slug or slugify(name)[:60].strip("-")
    if not slug:
        raise InvalidInput("Choose an address with letters or digits.", field="slug")
    if slug == "new":
        raise InvalidInput("This address is reserved; choose another.", field="slug")
    cap = settings.APPS_MAX_PER_TEAM
    try:
        with transaction.atomic():
            # The team row is locked so concurrent creations count each other.
            type(team).objects.select_for_update().filter(pk=team.pk).first()
            if App.objects.filter(team=team).count() >= cap:
                raise Conflict(
                    f"A team can have at most {cap} apps.", code="limit_reached"
                )
            app = App.objects.create(
                team=team,
                name=name,
                slug=slug,
                description=description.strip(),
                user=actor if getattr(actor, "pk", None) else None,
                client_type=App.CLIENT_CONFIDENTIAL,
                authorization_grant_type=App.GRANT_CLIENT_CREDENTIALS,
            )
            record(
                action="app.create",
                actor=actor,
                team=team,
                target=app,
                request=request,
            )
    except IntegrityError as exc:
        raise Conflict(
            "This team already has an app with that address.",
            code="slug_taken",
            field="slug",
        ) from exc
    return app


APP_NAME_MAX_LENGTH = App._meta.get_field("name").max_length
APP_DESCRIPTION_MAX_LENGTH = App._meta.get_field("description").max_length


def app_update(
    *,
    app: App,
    name: str | None = None,
    description: str | None = None,
    actor=None,
    request: HttpRequest | None = None,
) -> App:
    """Rename the app or change its description. Any member of its team may.

    ``None`` leaves a field as it is. The slug stays (it names the app in URLs
    and on the command line), and so do its team and status (suspension is
    staff's). Raises ``InvalidInput`` for an empty or over-long name.
    """
    changes: dict[str, str] = {}
    if name is not None:
        name = name.strip()
        if not name:
            raise InvalidInput("Give the app a name.", field="name")
        if len(name) > APP_NAME_MAX_LENGTH:
            raise InvalidInput(
                f"Names are at most {APP_NAME_MAX_LENGTH} characters.", field="name"
            )
        changes["name"] = name
    if description is not None:
        description = description.strip()
        if len(description) > APP_DESCRIPTION_MAX_LENGTH:
            raise InvalidInput(
                f"Descriptions are at most {APP_DESCRIPTION_MAX_LENGTH} characters.",
                field="description",
            )
        changes["description"] = description
    changed = sorted(f for f, value in changes.items() if getattr(app, f) != value)
    if not changed:
        return app
    data: dict = {"changed": changed}
    if "name" in changed:
        data["name"] = {"from": app.name, "to": changes["name"]}
    with transaction.atomic():
        for field in changed:
            setattr(app, field, changes[field])
        app.save(update_fields=[*changed, "updated"])
        record(
            action="app.update",
            actor=actor,
            team=app.team,
            target=app,
            request=request,
            data=data,
        )
    return app


GRANTS = {
    "authorization-code": App.GRANT_AUTHORIZATION_CODE,
    "client-credentials": App.GRANT_CLIENT_CREDENTIALS,
    "device": App.GRANT_DEVICE_CODE,
}


def oauth_client_configure(
    *,
    app: App,
    grant: str,
    public: bool = False,
    redirect_uris: list[str] | None = None,
    actor=None,
    request: HttpRequest | None = None,
) -> str | None:
    """Make ``app`` an OAuth client for ``grant`` (a key of ``GRANTS``).

    Returns the new client secret for a confidential client (shown once: only
    its hash is stored), None for a public one. Raises ``InvalidInput`` for a
    public client-credentials client, a redirect URI that is not https (or
    http on loopback), or an authorization-code client without one.
    """
    if grant not in GRANTS:
        raise InvalidInput(
            f"Choose one of {', '.join(GRANTS)}.", code="invalid_grant", field="grant"
        )
    if public and grant == "client-credentials":
        raise InvalidInput(
            "A client-credentials client must be confidential: it authenticates "
            "with its secret.",
            code="public_client_credentials",
            field="client_type",
        )
    uris = clean_redirect_uris(redirect_uris or [])
    if grant == "authorization-code" and not uris:
        raise InvalidInput(
            "An authorization-code client needs at least one redirect URI.",
            code="redirect_uri_required",
            field="redirect_uris",
        )
    secret = None if public else generate_client_secret()
    with transaction.atomic():
        app.authorization_grant_type = GRANTS[grant]
        app.client_type = App.CLIENT_PUBLIC if public else App.CLIENT_CONFIDENTIAL
        app.redirect_uris = "\n".join(uris)
        app.oauth_enabled = True
        # ID tokens are signed with the portal's RSA key (published as JWKS).
        app.algorithm = App.RS256_ALGORITHM
        if secret is not None:
            app.client_secret = secret  # hashed by the field on save
        app.save()
        record(
            action="oauth.client_configure",
            actor=actor,
            team=app.team,
            target=app,
            request=request,
            data={"grant": grant, "public": public, "redirect_uris": uris},
        )
    return secret


def oauth_client_secret_rotate(
    *, app: App, actor=None, request: HttpRequest | None = None
) -> str:
    """Give a confidential client a new secret; the old one stops working now."""
    if not app.oauth_enabled or app.client_type != App.CLIENT_CONFIDENTIAL:
        raise Conflict(
            "Only a configured confidential client has a secret.",
            code="not_confidential",
        )
    secret = generate_client_secret()
    with transaction.atomic():
        app.client_secret = secret
        app.save(update_fields=["client_secret", "updated"])
        record(
            action="oauth.client_secret_rotate",
            actor=actor,
            team=app.team,
            target=app,
            request=request,
        )
        emit(
            app.team_id,
            "oauth.client_secret_rotated",
            {"app": {"id": app.pk, "slug": app.slug, "client_id": app.client_id}},
        )
    return secret


def oauth_client_set_redirect_uris(
    *, app: App, redirect_uris: list[str], actor=None, request=None
) -> App:
    uris = clean_redirect_uris(redirect_uris)
    if app.authorization_grant_type == App.GRANT_AUTHORIZATION_CODE and not uris:
        raise InvalidInput(
            "An authorization-code client needs at least one redirect URI.",
            code="redirect_uri_required",
            field="redirect_uris",
        )
    with transaction.atomic():
        app.redirect_uris = "\n".join(uris)
        app.save(update_fields=["redirect_uris", "updated"])
        record(
            action="oauth.client_redirect_uris_change",
            actor=actor,
            team=app.team,
            target=app,
            request=request,
            data={"redirect_uris": uris},
        )
    return app


def authorization_revoke(*, user, app: App, request: HttpRequest | None = None) -> int:
    """Withdraw ``user``'s consent to ``app``: every token it holds for them
    stops working at once. Returns how many refresh/access tokens went."""
    AccessToken = get_access_token_model()
    RefreshToken = get_refresh_token_model()
    with transaction.atomic():
        # Counted first: revoking a refresh token deletes its access token.
        count = AccessToken.objects.filter(user=user, application=app).count()
        for refresh in RefreshToken.objects.filter(
            user=user, application=app, revoked__isnull=True
        ):
            refresh.revoke()
            count += 1
        AccessToken.objects.filter(user=user, application=app).delete()
        record(
            action="oauth.authorization_revoke",
            actor=user,
            team=app.team,
            target=app,
            request=request,
            data={"tokens": count},
        )
    return count


def oauth_token_revoke(
    *, token, actor=None, reason: str = "", request: HttpRequest | None = None
) -> bool:
    """Revoke one OAuth access or refresh token together with its pair.

    The access token is deleted (its next call is 401 everywhere: the cache
    entry goes with the row) and the refresh token is kept as a revoked
    tombstone, so a replay of it is still recognised. Returns False, and
    records nothing, when the token was already revoked.
    """
    AccessToken = get_access_token_model()
    RefreshToken = get_refresh_token_model()
    reason = (reason or "").strip()[:200]
    with transaction.atomic():
        if isinstance(token, RefreshToken):
            live = RefreshToken.objects.filter(pk=token.pk, revoked__isnull=True)
            token = live.select_related("application__team").first()
            if token is None:
                return False
            token.revoke()
            kind = "refresh"
        elif isinstance(token, AccessToken):
            token = (
                AccessToken.objects.filter(pk=token.pk)
                .select_related("application__team")
                .first()
            )
            if token is None:
                return False
            revoke_access_token(token)
            kind = "access"
        else:
            raise TypeError(f"Not an OAuth token: {type(token).__name__}")
        app = token.application
        record(
            action="oauth.token_revoked",
            actor=actor,
            team=app.team if app is not None else None,
            target=token,
            request=request,
            data={
                "token": kind,
                "app": app.qualified_slug if app is not None else None,
                "user_id": token.user_id,
                "reason": reason,
            },
        )
    return True


def oauth_tokens_revoke_all(
    *,
    app: App | None = None,
    user=None,
    actor=None,
    reason: str = "",
    request: HttpRequest | None = None,
) -> int:
    """Revoke every live token of ``app``, or every one issued to ``user``,
    and drop their unused authorization codes; one audit event for the lot.

    Returns how many access and refresh tokens went (0 records nothing).
    """
    if (app is None) == (user is None):
        raise TypeError("Pass exactly one of app and user.")
    AccessToken = get_access_token_model()
    RefreshToken = get_refresh_token_model()
    Grant = get_grant_model()
    owner = {"application": app} if app is not None else {"user": user}
    reason = (reason or "").strip()[:200]
    with transaction.atomic():
        # Counted first: revoking a refresh token deletes its access token.
        count = AccessToken.objects.filter(**owner).count()
        for refresh in RefreshToken.objects.filter(**owner, revoked__isnull=True):
            refresh.revoke()
            count += 1
        # Client-credentials tokens have no refresh token. A queryset delete
        # still sends post_delete per row, which drops each cached entry.
        AccessToken.objects.filter(**owner).delete()
        Grant.objects.filter(**owner).delete()
        if count:
            record(
                action="oauth.token_revoked",
                actor=actor,
                team=app.team if app is not None else None,
                target=app if app is not None else user,
                request=request,
                data={"tokens": count, "reason": reason},
            )
    return count
