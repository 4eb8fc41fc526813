"""The management API: teams, apps and their usage.

Keys, OAuth clients and subscriptions of an app are in ``key_views``,
``oauth_views`` and ``subscription_views``. Every view reaches objects only
through the caller's teams (``apis.manage.access``).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from apis.exceptions import InvalidQuery
from apis.manage import selectors
from apis.manage.access import (
    INVALID,
    NOT_FOUND,
    TeamScopedApiView,
    validated_query,
)
from apis.manage.serializers import (
    AppCreateInput,
    AppOutput,
    AppQuery,
    AppUpdateInput,
    PageQuery,
    TeamDetailOutput,
    TeamOutput,
)
from portal.oauth import services as app_services
from portal.usage.queries import DEFAULT_RANGE, RANGES, usage_report

# --- teams -------------------------------------------------------------------


class TeamListApi(TeamScopedApiView):
    @extend_schema(
        summary="List your teams",
        tags=["manage: teams"],
        parameters=[PageQuery],
        responses={200: TeamOutput(many=True)},
    )
    def get(self, request):
        """List the teams you act for, personal team first, with your role in
        each. A token acts for its app's team only (its role is null)."""
        validated_query(PageQuery, request)
        teams = selectors.team_list(team_ids=self.team_ids(), user=self.person)
        page = self.paginate_queryset(teams)
        return self.get_paginated_response(TeamOutput(page, many=True).data)


class TeamDetailApi(TeamScopedApiView):
    @extend_schema(
        summary="Read a team and its members",
        tags=["manage: teams"],
        responses={200: TeamDetailOutput, 404: NOT_FOUND},
    )
    def get(self, request, team_id: int):
        """Read one of your teams with its members and their roles (owner,
        admin, member). Any other team is a 404."""
        team = selectors.team_get(
            team_ids=self.team_ids(), team_id=team_id, user=self.person
        )
        return Response(TeamDetailOutput(team).data)


# --- apps --------------------------------------------------------------------


class AppListApi(TeamScopedApiView):
    @extend_schema(
        summary="List apps",
        tags=["manage: apps"],
        parameters=[AppQuery],
        responses={200: AppOutput(many=True)},
    )
    def get(self, request):
        """List the apps of your teams (``?team=<id>``: of one of them), each
        with its ``id`` and ``slug``."""
        query = validated_query(AppQuery, request)
        apps = selectors.app_list(team_ids=self.team_ids(), team_id=query.get("team"))
        page = self.paginate_queryset(apps)
        return self.get_paginated_response(AppOutput(page, many=True).data)

    @extend_schema(
        summary="Create an app",
        tags=["manage: apps"],
        request=AppCreateInput,
        responses={
            201: AppOutput,
            400: INVALID,
            409: OpenApiResponse(
                description="`slug_taken`: the team has an app with this slug; "
                "`limit_reached`: the team has as many apps as allowed."
            ),
        },
    )
    def post(self, request):
        """Create an app in one of your teams; any member of the team may, as
        in the portal. ``team`` may be left out when you act for one team only
        (a token always creates in its own app's team). The slug is made from
        the name unless given, and is fixed once the app exists."""
        data = AppCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        app = app_services.app_create(
            **self._acting_in(fields.get("team")),
            name=fields["name"],
            slug=fields.get("slug", ""),
            description=fields.get("description", ""),
            request=request,
        )
        return Response(AppOutput(app).data, status=status.HTTP_201_CREATED)

    def _acting_in(self, team_id: int | None) -> dict:
        """Who creates the app in which team, as ``app_create`` takes it: a
        person's membership, or a token's team and itself. Another team (or
        none) is a 400 on ``team``, the same as a team that does not exist."""
        team_ids = self.team_ids()
        if team_id is None:
            if len(team_ids) != 1:
                raise ValidationError({"team": ["Choose one of your teams."]})
            team_id = next(iter(team_ids))
        if team_id in team_ids:
            if self.by_token:
                team = selectors.team_get(team_ids=team_ids, team_id=team_id, user=None)
                return {"team": team, "actor": self.actor}
            membership = selectors.membership_get(user=self.person, team_id=team_id)
            if membership is not None:
                return {"actor_membership": membership}
        raise ValidationError({"team": ["No such team among yours."]})


class AppDetailApi(TeamScopedApiView):
    @extend_schema(
        summary="Read an app",
        tags=["manage: apps"],
        responses={200: AppOutput, 404: NOT_FOUND},
    )
    def get(self, request, app_id: int):
        """Read one of your teams' apps. Any other app is a 404."""
        return Response(AppOutput(self.app_for(app_id)).data)

    @extend_schema(
        summary="Rename or describe an app",
        tags=["manage: apps"],
        request=AppUpdateInput,
        responses={200: AppOutput, 400: INVALID, 404: NOT_FOUND},
    )
    def patch(self, request, app_id: int):
        """Rename an app or change its description; any member of its team
        may. Only ``name`` and ``description`` can change: ``slug``, ``team``,
        ``status`` (staff suspend apps) or any other field is a 400.

        Apps cannot be deleted or deactivated here, as in the portal."""
        app = self.app_for(app_id)
        data = AppUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        app = app_services.app_update(
            app=app, **data.validated_data, actor=self.actor, request=request
        )
        return Response(AppOutput(app).data)


class AppUsageApi(TeamScopedApiView):
    """``GET /api/manage/v1/apps/<id>/usage/?range=24h``: the numbers of the
    app's usage charts (calls, 4xx, 5xx, 429s, p50/p95 latency per period,
    top endpoints)."""

    @extend_schema(
        summary="Read an app's usage",
        tags=["manage: apps"],
        parameters=[
            OpenApiParameter(
                "range",
                str,
                enum=list(RANGES),
                description=f"Default: {DEFAULT_RANGE}.",
            )
        ],
        responses={200: OpenApiTypes.OBJECT, 404: NOT_FOUND},
    )
    def get(self, request, app_id: int):
        """The numbers of the app's usage charts for ``?range=`` (1h, 24h,
        7d or 30d): calls, 4xx, 5xx and 429s, p50/p95 latency per period, and
        the top endpoints."""
        range_name = request.query_params.get("range", DEFAULT_RANGE)
        if range_name not in RANGES:
            raise InvalidQuery(
                {"range": [f"Must be one of {', '.join(RANGES)}."]}, "invalid_query"
            )
        app = self.app_for(app_id)
        report = usage_report(range_name, app_id=app.pk)
        return Response({"app": {"id": app.pk, "slug": app.slug}, **report.as_dict()})
