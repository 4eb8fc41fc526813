from __future__ import annotations

from django.db.models import QuerySet

from portal.accounts.models import User
from portal.oauth.models import App


def app_list(*, user: User) -> QuerySet[App]:
    """Every app of every team the user belongs to."""
    return App.objects.filter(team__memberships__user=user).select_related("team")
