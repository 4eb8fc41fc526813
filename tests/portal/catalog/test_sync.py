"""Syncing the catalog from the APIs' specs, subscriptions, and plan rate tiers."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone

from apis.books.spec import BOOKS
from portal.audit.models import AuditEvent
from portal.catalog.models import (
    Api,
    Plan,
    Scope,
    Subscription,
    SubscriptionStatus,
    validate_rate_tiers,
)
from portal.catalog.rates import parse_rate
from portal.catalog.services import catalog_sync, subscription_create_active
from portal.errors import Conflict
from tests.apis.assertions import assert_problem

PLAN_SCOPES = {
    "starter": ["books:read", "books:write"],
    "read-only": ["books:read"],
    "business": ["books:read", "books:write"],
}


def catalog_state():
    return (
        list(Api.objects.order_by("pk").values()),
        list(Scope.objects.order_by("pk").values()),
        list(Plan.objects.order_by("pk").values()),
        sorted(Plan.scopes.through.objects.values_list("plan_id", "scope_id")),
    )


def plan_scopes() -> dict[str, list[str]]:
    return {
        plan.slug: sorted(s.name for s in plan.scopes.all())
        for plan in Plan.objects.prefetch_related("scopes")
    }


# --- sync ---------------------------------------------------------------------


def test_sync_catalog_creates_the_api_its_scopes_and_plans(db):
    out = StringIO()

    call_command("sync_catalog", stdout=out)

    api = Api.objects.get()
    assert (api.slug, api.name, api.version, api.base_path) == (
        "books",
        "Books",
        "v1",
        "/api/books/v1/",
    )
    assert list(api.scopes.values_list("name", flat=True)) == [
        "books:read",
        "books:write",
    ]
    assert plan_scopes() == PLAN_SCOPES
    starter = api.plans.get(slug="starter")
    assert starter.rate_tiers == ["10/s", "600/m"]
    assert starter.monthly_quota == 100_000
    assert starter.is_default
    assert api.plans.get(slug="business").requires_approval
    assert "1 API(s), 2 scope(s), 3 plan(s) created" in out.getvalue()


def test_sync_catalog_twice_changes_nothing(db):
    call_command("sync_catalog", stdout=StringIO())
    before = catalog_state()
    out = StringIO()

    call_command("sync_catalog", stdout=out)

    assert catalog_state() == before
    assert "0 API(s), 0 scope(s), 0 plan(s) created; 0 scope(s) removed" in (
        out.getvalue()
    )


def test_sync_leaves_a_staff_edited_plan_alone(catalog):
    starter = catalog.plans.get(slug="starter")
    starter.rate_tiers = ["2/s", "100/h"]
    starter.monthly_quota = 500
    starter.save()
    starter.scopes.remove(Scope.objects.get(name="books:write"))

    report = catalog_sync(specs=[BOOKS])

    starter.refresh_from_db()
    assert starter.rate_tiers == ["2/s", "100/h"]
    assert starter.monthly_quota == 500
    assert plan_scopes()["starter"] == ["books:read"]
    assert report.plans_created == 0


def test_sync_recreates_a_declared_plan_that_was_deleted(catalog):
    catalog.plans.filter(slug="business").delete()

    report = catalog_sync(specs=[BOOKS])

    assert report.plans_created == 1
    assert plan_scopes() == PLAN_SCOPES


def test_sync_follows_changed_api_details(catalog):
    spec = dataclasses.replace(BOOKS, name="Books & Authors", description="New.")

    catalog_sync(specs=[spec])

    api = Api.objects.get(pk=catalog.pk)
    assert (api.name, api.description) == ("Books & Authors", "New.")


def test_a_scope_removed_from_the_spec_is_removed_everywhere(catalog):
    spec = dataclasses.replace(BOOKS, scopes={"books:read": "Read books."})

    report = catalog_sync(specs=[spec])

    assert report.scopes_removed == 1
    assert list(Scope.objects.values_list("name", flat=True)) == ["books:read"]
    assert plan_scopes() == {slug: ["books:read"] for slug in PLAN_SCOPES}


def test_a_scope_removed_from_the_catalog_stops_granting_on_the_next_call(
    books_app, api_client, author_factory, time_machine
):
    # A key used for a while has its entry in the shared cache (an entry is
    # only cached there once the key's last change is half a second old).
    time_machine.move_to(timezone.now() + timedelta(seconds=5))
    author = author_factory()
    book = {"title": "x", "author_id": author.pk, "year": 2000}

    def post():
        return api_client.post(
            "/api/books/v1/books/", book, format="json", **books_app.headers
        )

    assert post().status_code == 201

    catalog_sync(specs=[dataclasses.replace(BOOKS, scopes={"books:read": "Read."})])

    assert_problem(post(), 403, "insufficient_scope")


def test_a_new_scope_in_the_spec_is_created_but_not_granted(catalog):
    spec = dataclasses.replace(
        BOOKS, scopes={**BOOKS.scopes, "books:admin": "Administer."}
    )

    report = catalog_sync(specs=[spec])

    assert report.scopes_created == 1
    assert Scope.objects.get(name="books:admin").api == catalog
    assert plan_scopes() == PLAN_SCOPES  # plans belong to staff once they exist


# --- subscriptions ------------------------------------------------------------


def test_subscription_create_active_subscribes_and_records(
    developer_team, app_factory, starter_plan, developer
):
    app = app_factory(team=developer_team)

    subscription = subscription_create_active(
        app=app, plan=starter_plan, actor=developer
    )

    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.api == starter_plan.api
    assert subscription.decided_at is not None
    event = AuditEvent.objects.get(action="subscription.create")
    assert event.actor == developer
    assert event.data == {"plan": "starter", "api": "books", "status": "active"}


@pytest.mark.parametrize("second_plan", ["starter", "read-only"])
def test_an_app_has_at_most_one_live_subscription_per_api(
    books_app, catalog, second_plan
):
    before = Subscription.objects.count(), AuditEvent.objects.count()

    with pytest.raises(Conflict) as excinfo:
        subscription_create_active(
            app=books_app.app, plan=catalog.plans.get(slug=second_plan)
        )

    assert excinfo.value.code == "already_subscribed"
    assert (Subscription.objects.count(), AuditEvent.objects.count()) == before


def test_the_database_also_refuses_a_second_live_subscription(books_app, catalog):
    with pytest.raises(IntegrityError), transaction.atomic():
        Subscription.objects.create(
            app=books_app.app,
            plan=catalog.plans.get(slug="read-only"),
            status=SubscriptionStatus.PENDING,
        )


def test_a_cancelled_subscription_can_be_replaced(books_app, read_only_plan):
    books_app.subscription.status = SubscriptionStatus.CANCELLED
    books_app.subscription.save()

    subscription = subscription_create_active(app=books_app.app, plan=read_only_plan)

    assert subscription.plan == read_only_plan
    assert Subscription.objects.filter(app=books_app.app).count() == 2


# --- rate tiers ---------------------------------------------------------------


@pytest.mark.parametrize(
    "tiers",
    [
        ["ten per second"],
        ["10/s", "ten per second"],
        ["0/s"],
        ["10/0s"],
        ["10/w"],
        ["-1/m"],
        [10],
        "10/s",
    ],
)
def test_plan_rate_tiers_refuse_what_is_not_a_rate(starter_plan, tiers):
    starter_plan.rate_tiers = tiers

    with pytest.raises(ValidationError) as excinfo:
        starter_plan.full_clean()

    assert "rate_tiers" in excinfo.value.message_dict


def test_plan_rate_tiers_accept_rates(starter_plan):
    starter_plan.rate_tiers = ["10/s", "600/m", "100/15m", "20000/d", "5/h"]

    starter_plan.full_clean()
    validate_rate_tiers([])


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [
        ("10/s", (10, 1)),
        ("600/m", (600, 60)),
        ("100/15m", (100, 900)),
        (" 5/h", (5, 3600)),
    ],
)
def test_parse_rate(rate, parsed):
    assert parse_rate(rate) == parsed
