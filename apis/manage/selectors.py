"""Read queries of the management API, always through the caller's teams.

Each takes ``team_ids``, the teams the caller acts for
(``ManageApiView.team_ids()``), and finds only what those teams own: another
team's object raises Http404 exactly like one that does not exist, and lists
never include it.
"""

from __future__ import annotations

from collections.abc import Collection

from django.db.models import CharField, OuterRef, Prefetch, QuerySet, Subquery, Value
from django.http import Http404

from portal.accounts.models import Membership, Team, User
from portal.catalog.models import Plan, Subscription
from portal.catalog.selectors import subscription_live_list
from portal.oauth.models import App


def team_list(*, team_ids: Collection[int], user: User | None) -> QuerySet[Team]:
    """The caller's teams, each annotated with ``caller_role``: ``user``'s role
    in it (None for a token, which acts for its team without a membership)."""
    if user is None:
        role = Value(None, output_field=CharField())
    else:
        role = Subquery(
            Membership.objects.filter(team=OuterRef("pk"), user=user).values("role")[:1]
        )
    return (
        Team.objects.filter(pk__in=team_ids)
        .annotate(caller_role=role)
        .order_by("-is_personal", "name", "pk")
    )


def team_get(*, team_ids: Collection[int], team_id: int, user: User | None) -> Team:
    """One of the caller's teams with its members (``member_list``), each with
    their user; Http404 for any other team."""
    team = (
        team_list(team_ids=team_ids, user=user)
        .filter(pk=team_id)
        .prefetch_related(
            Prefetch(
                "memberships",
                queryset=Membership.objects.select_related("user").order_by(
                    "role", "user__email"
                ),
                to_attr="member_list",
            )
        )
        .first()
    )
    if team is None:
        raise Http404("No such team.")
    return team


def membership_get(*, user: User, team_id: int) -> Membership | None:
    """``user``'s membership of team ``team_id`` (None if they are not in it)."""
    return (
        Membership.objects.select_related("team", "user")
        .filter(user=user, team_id=team_id)
        .first()
    )


def app_list(*, team_ids: Collection[int], team_id: int | None = None) -> QuerySet[App]:
    """The apps of the caller's teams (of one of them, with ``team_id``)."""
    apps = App.objects.filter(team_id__in=team_ids).select_related("team")
    if team_id is not None:
        apps = apps.filter(team_id=team_id)
    return apps.order_by("team__slug", "slug", "pk")


def app_get(*, team_ids: Collection[int], app_id: int) -> App:
    """An app of one of the caller's teams; Http404 for any other app."""
    app = app_list(team_ids=team_ids).filter(pk=app_id).first()
    if app is None:
        raise Http404("No such app.")
    return app


def subscription_list(*, app: App, status: str | None = None) -> QuerySet[Subscription]:
    """Every subscription of ``app``, newest first: live ones and ended ones
    (rejected, cancelled), so a decision stays visible with its reason."""
    subscriptions = Subscription.objects.filter(app=app).select_related(
        "plan", "api", "requested_plan"
    )
    if status:
        subscriptions = subscriptions.filter(status=status)
    return subscriptions.order_by("-created_at", "-pk")


def subscription_get(*, app: App, subscription_id: int) -> Subscription:
    """A subscription of ``app``; Http404 for any other."""
    subscription = subscription_list(app=app).filter(pk=subscription_id).first()
    if subscription is None:
        raise Http404("No such subscription.")
    return subscription


def subscription_live_for_api(*, app: App, api_id: int) -> Subscription | None:
    """``app``'s pending or active subscription to the API ``api_id``."""
    return subscription_live_list(app=app).filter(api_id=api_id).first()


def plan_get_public(*, plan_id: int) -> Plan | None:
    """A plan open for subscription (the plans the portal lists), or None."""
    return Plan.objects.select_related("api").filter(pk=plan_id, is_public=True).first()
