"""The management API: an app's subscriptions to plans."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from apis.manage import selectors
from apis.manage.access import (
    INVALID,
    NOT_FOUND,
    TeamScopedApiView,
    validated_query,
)
from apis.manage.serializers import (
    NoInput,
    SubscriptionOutput,
    SubscriptionPlanInput,
    SubscriptionQuery,
)
from portal.catalog import services as catalog_services
from portal.catalog.models import LIVE_STATUSES
from portal.errors import Conflict

TAGS = ["manage: subscriptions"]
ALREADY = OpenApiResponse(
    description="`already_subscribed`: the app is on this plan already."
)


class SubscriptionListApi(TeamScopedApiView):
    @extend_schema(
        summary="List an app's subscriptions",
        tags=TAGS,
        parameters=[SubscriptionQuery],
        responses={200: SubscriptionOutput(many=True), 404: NOT_FOUND},
    )
    def get(self, request, app_id: int):
        """List the app's subscriptions, newest first: pending, active, and
        ended ones (rejected with staff's reason, cancelled). ``?status=``
        keeps one status."""
        app = self.app_for(app_id)
        query = validated_query(SubscriptionQuery, request)
        subscriptions = selectors.subscription_list(app=app, status=query.get("status"))
        page = self.paginate_queryset(subscriptions)
        return self.get_paginated_response(SubscriptionOutput(page, many=True).data)

    @extend_schema(
        summary="Subscribe to a plan",
        tags=TAGS,
        request=SubscriptionPlanInput,
        responses={
            201: SubscriptionOutput,
            200: OpenApiResponse(
                SubscriptionOutput,
                description="The app's live subscription to the plan's API, "
                "moved to the plan (or with the plan requested).",
            ),
            400: INVALID,
            404: NOT_FOUND,
            409: ALREADY,
        },
    )
    def post(self, request, app_id: int):
        """Subscribe the app to a public ``plan`` (by id), as the portal's
        Subscribe button does. A plan that needs staff approval leaves the
        subscription ``pending`` until they decide; others are ``active`` at
        once (201).

        If the app already has a live subscription to the plan's API, that
        subscription moves to the plan instead (200), as with PATCH on it."""
        app = self.app_for(app_id)
        data = SubscriptionPlanInput(data=request.data)
        data.is_valid(raise_exception=True)
        plan = data.validated_data["plan"]
        live = selectors.subscription_live_for_api(app=app, api_id=plan.api_id)
        subscription = catalog_services.subscription_request(
            app=app, plan=plan, actor=self.actor, request=request
        )
        created = live is None or live.pk != subscription.pk
        return Response(
            SubscriptionOutput(subscription).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class SubscriptionDetailApi(TeamScopedApiView):
    @extend_schema(
        summary="Read a subscription",
        tags=TAGS,
        responses={200: SubscriptionOutput, 404: NOT_FOUND},
    )
    def get(self, request, app_id: int, subscription_id: int):
        """Read one of the app's subscriptions."""
        app = self.app_for(app_id)
        subscription = selectors.subscription_get(
            app=app, subscription_id=subscription_id
        )
        return Response(SubscriptionOutput(subscription).data)

    @extend_schema(
        summary="Change plan",
        tags=TAGS,
        request=SubscriptionPlanInput,
        responses={
            200: SubscriptionOutput,
            400: INVALID,
            404: NOT_FOUND,
            409: OpenApiResponse(
                description="`already_subscribed`: on this plan already; "
                "`not_live`: the subscription has ended."
            ),
        },
    )
    def patch(self, request, app_id: int, subscription_id: int):
        """Change a live subscription's ``plan`` to another public plan of the
        same API. A plan without approval applies at once. To a plan that
        needs approval, an active subscription keeps its current plan and
        shows the request in ``requested_plan`` until staff decide (a pending
        one simply waits for the new plan instead)."""
        app = self.app_for(app_id)
        subscription = selectors.subscription_get(
            app=app, subscription_id=subscription_id
        )
        data = SubscriptionPlanInput(
            data=request.data, context={"api_id": subscription.api_id}
        )
        data.is_valid(raise_exception=True)
        if subscription.status not in LIVE_STATUSES:
            # The service would start a new subscription: that is a POST.
            raise Conflict(
                "This subscription has ended; subscribe the app again instead.",
                code="not_live",
            )
        subscription = catalog_services.subscription_request(
            app=app,
            plan=data.validated_data["plan"],
            actor=self.actor,
            request=request,
        )
        return Response(SubscriptionOutput(subscription).data)


class SubscriptionCancelApi(TeamScopedApiView):
    @extend_schema(
        summary="Cancel a subscription",
        tags=TAGS,
        request=None,
        responses={
            200: SubscriptionOutput,
            400: INVALID,
            404: NOT_FOUND,
            409: OpenApiResponse(
                description="`not_live`: the subscription has already ended."
            ),
        },
    )
    def post(self, request, app_id: int, subscription_id: int):
        """Cancel a pending or active subscription: the app's calls to the API
        stop at once (its keys and tokens lose the plan's scopes). Takes no
        body (any field is a 400)."""
        app = self.app_for(app_id)
        subscription = selectors.subscription_get(
            app=app, subscription_id=subscription_id
        )
        NoInput(data=request.data).is_valid(raise_exception=True)
        subscription = catalog_services.subscription_cancel(
            subscription=subscription, actor=self.actor, request=request
        )
        return Response(SubscriptionOutput(subscription).data)
