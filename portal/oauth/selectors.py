from __future__ import annotations

from django.db.models import QuerySet

from portal.accounts.models import User
from portal.oauth.models import App


def app_list(*, user: User) -> QuerySet[App]:
    """Every app of every team the user belongs to."""
    return App.objects.filter(team__memberships__user=user).select_related("team")


def app_get_by_qualified_slug(qualified: str) -> App | None:
    """The app named ``<team slug>/<app slug>`` (command-line tools), or None."""
    team_slug, sep, app_slug = qualified.partition("/")
    if not sep or not team_slug or not app_slug:
        return None
    return (
        App.objects.select_related("team")
        .filter(team__slug=team_slug, slug=app_slug)
        .first()
    )


def app_get_for_user(*, user: User, team_slug: str, app_slug: str) -> App:
    """The app, if the user belongs to its team; Http404 otherwise."""
    from django.http import Http404

    app = (
        App.objects.select_related("team")
        .filter(team__slug=team_slug, slug=app_slug, team__memberships__user=user)
        .first()
    )
    if app is None:
        raise Http404("No such app.")
    return app


def authorized_app_list(*, user: User) -> QuerySet[App]:
    """Apps holding a live token for ``user`` (the "Authorized apps" page)."""
    from django.db.models import Q
    from django.utils import timezone

    return (
        App.objects.filter(
            Q(accesstoken__user=user, accesstoken__expires__gt=timezone.now())
            | Q(refreshtoken__user=user, refreshtoken__revoked__isnull=True)
        )
        .select_related("team")
        .distinct()
    )


def authorized_app_get(*, user: User, app_id: int) -> App:
    from django.http import Http404

    app = authorized_app_list(user=user).filter(pk=app_id).first()
    if app is None:
        raise Http404("No such authorized app.")
    return app
