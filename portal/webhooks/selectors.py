"""Read queries for webhooks, always through the asking member's team."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from portal.webhooks.models import Attempt, Delivery, EmailPreference, Endpoint


def endpoint_list(*, team) -> QuerySet[Endpoint]:
    return Endpoint.objects.filter(team=team).order_by("created_at", "id")


def endpoint_get(*, team, endpoint_id: int) -> Endpoint:
    endpoint = Endpoint.objects.filter(team=team, pk=endpoint_id).first()
    if endpoint is None:
        raise Http404("No such webhook endpoint.")
    return endpoint


def delivery_log(*, endpoint: Endpoint, limit: int = 50) -> list[Delivery]:
    return list(
        Delivery.objects.filter(endpoint=endpoint)
        .select_related("event")
        .prefetch_related(
            Prefetch("attempt_log", queryset=Attempt.objects.order_by("-number"))
        )
        .order_by("-created_at", "-id")[:limit]
    )


def delivery_get(*, endpoint: Endpoint, delivery_id: int) -> Delivery:
    delivery = (
        Delivery.objects.filter(endpoint=endpoint, pk=delivery_id)
        .select_related("event", "endpoint__team")
        .first()
    )
    if delivery is None:
        raise Http404("No such delivery.")
    return delivery


def email_preference(*, membership) -> list[str]:
    pref = EmailPreference.objects.filter(membership=membership).first()
    return list(pref.event_types) if pref else []
