"""The management API: a team's webhook endpoints and their deliveries.

A signing secret appears once, in the response that makes it (create,
rotate-secret). Anyone acting for the team may read; changing needs a token
with ``manage:write`` or, for a person, the team's owner or admin role (as
on the portal's Webhooks page).
"""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apis.manage import selectors as manage_selectors
from apis.manage.access import INVALID, NOT_FOUND, TeamScopedApiView, validated_query
from apis.manage.serializers import NoInput, PageQuery
from apis.serializers import StrictInputSerializer
from portal.errors import Forbidden
from portal.webhooks import selectors, services
from portal.webhooks.catalogue import SUBSCRIBABLE
from portal.webhooks.models import Attempt, Delivery, Endpoint

TAGS = ["manage: webhooks"]
NOT_MANAGER = OpenApiResponse(
    description="`forbidden`: only the team's owners and admins (or a token) "
    "change its webhooks (problem+json)."
)
LIMIT = OpenApiResponse(
    description="`limit_reached`: the team has as many endpoints as it may "
    "(problem+json)."
)


class EndpointOutput(serializers.ModelSerializer):
    class Meta:
        model = Endpoint
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "is_active",
            "disabled_reason",
            "failing_since",
            "created_at",
        ]
        read_only_fields = fields


class EndpointSecretOutput(EndpointOutput):
    secret = serializers.SerializerMethodField(
        help_text="The Standard Webhooks signing secret (`whsec_…`), shown "
        "this once: sign-checks need it, and no later response shows it."
    )

    class Meta(EndpointOutput.Meta):
        fields = [*EndpointOutput.Meta.fields, "secret"]
        read_only_fields = fields

    def get_secret(self, obj) -> str:
        return self.context["secret"]


class EndpointCreateInput(StrictInputSerializer):
    url = serializers.CharField(max_length=500, help_text="https only.")
    description = serializers.CharField(max_length=200, required=False, default="")
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE),
        min_length=1,
        max_length=len(SUBSCRIBABLE),
    )


class EndpointUpdateInput(StrictInputSerializer):
    url = serializers.CharField(max_length=500, required=False)
    description = serializers.CharField(
        max_length=200, required=False, allow_blank=True
    )
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE),
        min_length=1,
        max_length=len(SUBSCRIBABLE),
        required=False,
    )
    is_active = serializers.BooleanField(required=False)


class AttemptOutput(serializers.ModelSerializer):
    class Meta:
        model = Attempt
        fields = [
            "number",
            "at",
            "status_code",
            "latency_ms",
            "error",
            "response_excerpt",
        ]
        read_only_fields = fields


class DeliveryOutput(serializers.ModelSerializer):
    event_id = serializers.CharField(source="event.pk", read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)
    attempt_log = AttemptOutput(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "created_at",
            "finished_at",
            "attempt_log",
        ]
        read_only_fields = fields


class QueuedOutput(serializers.Serializer):
    event_id = serializers.CharField(read_only=True)
    delivery_id = serializers.IntegerField(read_only=True)


class WebhookApiView(TeamScopedApiView):
    def team_for(self, team_id: int):
        return manage_selectors.team_get(
            team_ids=self.team_ids(), team_id=team_id, user=self.person
        )

    def managed_team(self, team_id: int):
        """The team, when the caller may change its webhooks (403 otherwise)."""
        team = self.team_for(team_id)
        if self.person is not None and team.caller_role not in ("owner", "admin"):
            raise Forbidden("Only the team's owners and admins manage its webhooks.")
        return team

    def endpoint_for(self, team, endpoint_id: int) -> Endpoint:
        return selectors.endpoint_get(team=team, endpoint_id=endpoint_id)


class EndpointListApi(WebhookApiView):
    @extend_schema(
        summary="List a team's webhook endpoints",
        tags=TAGS,
        parameters=[PageQuery],
        responses={200: EndpointOutput(many=True), 404: NOT_FOUND},
    )
    def get(self, request, team_id: int):
        """The team's webhook endpoints (never their signing secrets)."""
        team = self.team_for(team_id)
        validated_query(PageQuery, request)
        page = self.paginate_queryset(selectors.endpoint_list(team=team))
        return self.get_paginated_response(EndpointOutput(page, many=True).data)

    @extend_schema(
        summary="Register a webhook endpoint",
        tags=TAGS,
        request=EndpointCreateInput,
        responses={
            201: EndpointSecretOutput,
            400: INVALID,
            403: NOT_MANAGER,
            404: NOT_FOUND,
            409: LIMIT,
        },
    )
    def post(self, request, team_id: int):
        """Register an https endpoint for the chosen event types. The URL must
        not resolve to a private, loopback, link-local, multicast or
        cloud-metadata address. The response carries the signing secret in
        ``secret``, shown this once."""
        team = self.managed_team(team_id)
        data = EndpointCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        endpoint, secret = services.endpoint_create(
            team=team, actor=self.actor, request=request, **data.validated_data
        )
        return Response(
            EndpointSecretOutput(endpoint, context={"secret": secret}).data,
            status=status.HTTP_201_CREATED,
        )


class EndpointDetailApi(WebhookApiView):
    @extend_schema(
        summary="Read a webhook endpoint",
        tags=TAGS,
        responses={200: EndpointOutput, 404: NOT_FOUND},
    )
    def get(self, request, team_id: int, endpoint_id: int):
        """One endpoint of the team (never its signing secret)."""
        endpoint = self.endpoint_for(self.team_for(team_id), endpoint_id)
        return Response(EndpointOutput(endpoint).data)

    @extend_schema(
        summary="Change a webhook endpoint",
        tags=TAGS,
        request=EndpointUpdateInput,
        responses={
            200: EndpointOutput,
            400: INVALID,
            403: NOT_MANAGER,
            404: NOT_FOUND,
        },
    )
    def patch(self, request, team_id: int, endpoint_id: int):
        """Change the URL, description, event types, or enable/disable it
        (enabling clears its failure record). All given fields change, or
        none."""
        endpoint = self.endpoint_for(self.managed_team(team_id), endpoint_id)
        data = EndpointUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            endpoint = services.endpoint_update(
                endpoint=endpoint,
                actor=self.actor,
                request=request,
                **data.validated_data,
            )
        return Response(EndpointOutput(endpoint).data)

    @extend_schema(
        summary="Delete a webhook endpoint",
        tags=TAGS,
        request=None,
        responses={204: None, 403: NOT_MANAGER, 404: NOT_FOUND},
    )
    def delete(self, request, team_id: int, endpoint_id: int):
        """Delete the endpoint and its delivery log."""
        endpoint = self.endpoint_for(self.managed_team(team_id), endpoint_id)
        services.endpoint_delete(endpoint=endpoint, actor=self.actor, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointRotateSecretApi(WebhookApiView):
    @extend_schema(
        summary="Make a new signing secret",
        tags=TAGS,
        request=NoInput,
        responses={
            200: EndpointSecretOutput,
            400: INVALID,
            403: NOT_MANAGER,
            404: NOT_FOUND,
        },
    )
    def post(self, request, team_id: int, endpoint_id: int):
        """Replace the signing secret; the next attempt is signed with the new
        one, shown in ``secret`` this once."""
        endpoint = self.endpoint_for(self.managed_team(team_id), endpoint_id)
        NoInput(data=request.data).is_valid(raise_exception=True)
        secret = services.endpoint_rotate_secret(
            endpoint=endpoint, actor=self.actor, request=request
        )
        return Response(EndpointSecretOutput(endpoint, context={"secret": secret}).data)


class EndpointTestApi(WebhookApiView):
    @extend_schema(
        summary="Send a test event",
        tags=TAGS,
        request=NoInput,
        responses={
            202: QueuedOutput,
            400: INVALID,
            403: NOT_MANAGER,
            404: NOT_FOUND,
        },
    )
    def post(self, request, team_id: int, endpoint_id: int):
        """Queue a ``webhook.test`` event to this endpoint alone; its delivery
        shows in the endpoint's delivery log."""
        endpoint = self.endpoint_for(self.managed_team(team_id), endpoint_id)
        NoInput(data=request.data).is_valid(raise_exception=True)
        event = services.send_test_event(
            endpoint=endpoint, actor=self.actor, request=request
        )
        delivery = Delivery.objects.filter(event=event).values_list("pk", flat=True)
        return Response(
            {"event_id": event.pk, "delivery_id": delivery.first()},
            status=status.HTTP_202_ACCEPTED,
        )


class DeliveryListApi(WebhookApiView):
    @extend_schema(
        summary="List an endpoint's deliveries",
        tags=TAGS,
        parameters=[PageQuery],
        responses={200: DeliveryOutput(many=True), 404: NOT_FOUND},
    )
    def get(self, request, team_id: int, endpoint_id: int):
        """The endpoint's delivery log, newest first: each delivery with its
        attempts (time, status code, latency, error, start of the answer)."""
        endpoint = self.endpoint_for(self.team_for(team_id), endpoint_id)
        validated_query(PageQuery, request)
        deliveries = (
            Delivery.objects.filter(endpoint=endpoint)
            .select_related("event")
            .prefetch_related("attempt_log")
            .order_by("-created_at", "-id")
        )
        page = self.paginate_queryset(deliveries)
        return self.get_paginated_response(DeliveryOutput(page, many=True).data)


class DeliveryRedeliverApi(WebhookApiView):
    @extend_schema(
        summary="Redeliver",
        tags=TAGS,
        request=NoInput,
        responses={
            202: QueuedOutput,
            400: INVALID,
            403: NOT_MANAGER,
            404: NOT_FOUND,
        },
    )
    def post(self, request, team_id: int, endpoint_id: int, delivery_id: int):
        """Try the delivery once more, with the same ``webhook-id``."""
        endpoint = self.endpoint_for(self.managed_team(team_id), endpoint_id)
        delivery = selectors.delivery_get(endpoint=endpoint, delivery_id=delivery_id)
        NoInput(data=request.data).is_valid(raise_exception=True)
        services.redeliver(delivery=delivery, actor=self.actor, request=request)
        return Response(
            {"event_id": delivery.event_id, "delivery_id": delivery.pk},
            status=status.HTTP_202_ACCEPTED,
        )
