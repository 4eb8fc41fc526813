"""Read queries for accounts and teams, always scoped to the asking user."""

from __future__ import annotations

from django.db.models import QuerySet
from django.http import Http404

from portal.accounts.models import Membership, Team, User


def team_list(*, user: User) -> QuerySet[Team]:
    return Team.objects.filter(memberships__user=user).order_by("-is_personal", "name")


def membership_get(*, user: User, team_slug: str) -> Membership:
    """The user's membership of the team ``team_slug``.

    Raises Http404 when the team does not exist *or* the user is not a member:
    a non-member must not learn that the team exists.
    """
    membership = (
        Membership.objects.select_related("team", "user")
        .filter(user=user, team__slug=team_slug)
        .first()
    )
    if membership is None:
        raise Http404("No such team.")
    return membership


def team_members(*, team: Team) -> QuerySet[Membership]:
    return team.memberships.select_related("user").order_by("role", "user__email")


def team_membership_get(*, team: Team, membership_id: int) -> Membership:
    membership = (
        Membership.objects.select_related("user", "team")
        .filter(team=team, pk=membership_id)
        .first()
    )
    if membership is None:
        raise Http404("No such member.")
    return membership
