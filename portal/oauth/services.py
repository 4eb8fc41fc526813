"""Use cases for apps."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.utils.text import slugify

from portal.audit.services import record
from portal.errors import Conflict, InvalidInput
from portal.oauth.models import App

if TYPE_CHECKING:
    from django.http import HttpRequest

    from portal.accounts.models import Membership


def app_create(
    *,
    actor_membership: Membership,
    name: str,
    slug: str = "",
    description: str = "",
    request: HttpRequest | None = None,
) -> App:
    """Create an app in the actor's team. Any member may.

    Raises ``InvalidInput`` for an empty name and ``Conflict`` (code
    ``slug_taken``) when the team already has an app with that slug.
    """
    name = name.strip()
    if not name:
        raise InvalidInput("Give the app a name.", field="name")
    slug = slug or slugify(name)[:60].strip("-")
    if not slug:
        raise InvalidInput("Choose an address with letters or digits.", field="slug")
    if slug == "new":
        raise InvalidInput("This address is reserved; choose another.", field="slug")
    team = actor_membership.team
    try:
        with transaction.atomic():
            app = App.objects.create(
                team=team,
                name=name,
                slug=slug,
                description=description.strip(),
                user=actor_membership.user,
                client_type=App.CLIENT_CONFIDENTIAL,
                authorization_grant_type=App.GRANT_CLIENT_CREDENTIALS,
            )
            record(
                action="app.create",
                actor=actor_membership.user,
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
