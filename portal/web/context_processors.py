from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from portal.accounts.selectors import team_list
from portal.oauth.selectors import app_list


def navigation(request: HttpRequest) -> dict:
    """The logged-in developer's teams and apps, for the navigation bar.

    Lazy, so pages that do not show the navigation pay no query.
    """
    user = getattr(request, "user", None)
    # An API call's user is its credential (no pk): an error page rendered
    # for it has no developer navigation to show.
    if user is None or not user.is_authenticated or user.pk is None:
        return {}
    return {
        "nav_teams": SimpleLazyObject(lambda: list(team_list(user=user))),
        "nav_apps": SimpleLazyObject(lambda: list(app_list(user=user))),
    }
