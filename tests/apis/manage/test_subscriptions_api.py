"""/api/manage/v1/apps/<id>/subscriptions/: subscribe, change plan, cancel.

The same service as the portal's Subscribe and Cancel buttons decides: plans
that need approval wait for staff. Each operation as a signed-in person
(session + CSRF) and as a token.
"""

from __future__ import annotations

import pytest
from django.test import Client

from portal.audit.models import AuditEvent
from portal.catalog.models import Api, Plan, Subscription
from tests.apis.assertions import assert_problem
from tests.apis.manage.conftest import BASE

pytestmark = pytest.mark.django_db

BOOKS = "/api/books/v1/books/"
SUBSCRIPTION_FIELDS = {
    "id",
    "status",
    "api",
    "plan",
    "requested_plan",
    "reason",
    "created_at",
    "decided_at",
}


def subs_url(app) -> str:
    return f"{BASE}apps/{app.pk}/subscriptions/"


def sub_url(sub, suffix: str = "") -> str:
    return f"{BASE}apps/{sub.app_id}/subscriptions/{sub.pk}/{suffix}"


@pytest.fixture
def business_plan(catalog) -> Plan:
    """Books "business": staff approve each subscription."""
    return catalog.plans.get(slug="business")


@pytest.fixture
def fresh_app(developer_team, app_factory):
    """An app of the caller's team with no subscription."""
    return app_factory(team=developer_team, name="Fresh", slug="fresh")


@pytest.fixture
def maps_plan(db) -> Plan:
    """A public plan of a second API."""
    api = Api.objects.create(name="Maps", slug="maps", base_path="/api/maps/v1/")
    return Plan.objects.create(api=api, name="Free", slug="free")


def test_subscriptions_are_listed(caller, books_app, starter_plan):
    response = caller.get(subs_url(books_app.app))

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    sub = body["results"][0]
    assert set(sub) == SUBSCRIPTION_FIELDS
    assert sub["id"] == books_app.subscription.pk
    assert sub["status"] == "active"
    assert sub["api"]["slug"] == "books"
    assert sub["plan"] == {
        "id": starter_plan.pk,
        "slug": "starter",
        "name": "Starter",
        "requires_approval": False,
    }
    assert sub["requested_plan"] is None


def test_an_app_subscribes_to_a_plan_at_once(caller, fresh_app, starter_plan):
    response = caller.post(subs_url(fresh_app), {"plan": starter_plan.pk})

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "active"
    sub = Subscription.objects.get(pk=body["id"])
    assert (sub.app, sub.plan, sub.status) == (fresh_app, starter_plan, "active")
    event = AuditEvent.objects.get(action="subscription.create")
    assert event.actor_label == caller.actor_label
    assert event.team == fresh_app.team


def test_a_plan_that_needs_approval_is_pending(caller, fresh_app, business_plan):
    response = caller.post(subs_url(fresh_app), {"plan": business_plan.pk})

    assert response.status_code == 201, response.content
    assert response.json()["status"] == "pending"
    assert response.json()["decided_at"] is None
    assert AuditEvent.objects.filter(action="subscription.request").exists()


def test_subscribing_to_the_same_plan_twice_is_a_conflict(
    caller, books_app, starter_plan
):
    before = list(Subscription.objects.values_list("pk", "plan_id", "status"))

    response = caller.post(subs_url(books_app.app), {"plan": starter_plan.pk})

    assert_problem(response, 409, "already_subscribed")
    assert list(Subscription.objects.values_list("pk", "plan_id", "status")) == before


def test_subscribing_again_to_the_same_api_changes_the_plan(
    caller, books_app, read_only_plan
):
    response = caller.post(subs_url(books_app.app), {"plan": read_only_plan.pk})

    assert response.status_code == 200, response.content
    assert response.json()["id"] == books_app.subscription.pk
    assert response.json()["plan"]["slug"] == "read-only"
    assert Subscription.objects.filter(app=books_app.app).count() == 1


@pytest.mark.parametrize("plan", ["private", 0, 2**62, "abc", None])
def test_only_a_public_plan_can_be_chosen(caller, fresh_app, read_only_plan, plan):
    if plan == "private":
        read_only_plan.is_public = False
        read_only_plan.save(update_fields=["is_public"])
        plan = read_only_plan.pk

    response = caller.post(subs_url(fresh_app), {"plan": plan})

    problem = assert_problem(response, 400, "invalid")
    assert "plan" in problem["errors"]
    assert not Subscription.objects.filter(app=fresh_app).exists()


def test_a_plan_is_changed_at_once(caller, books_app, read_only_plan):
    response = caller.patch(
        sub_url(books_app.subscription), {"plan": read_only_plan.pk}
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["plan"]["slug"], body["status"], body["requested_plan"]) == (
        "read-only",
        "active",
        None,
    )
    books_app.subscription.refresh_from_db()
    assert books_app.subscription.plan == read_only_plan
    event = AuditEvent.objects.get(action="subscription.change")
    assert event.data == {"from": "starter", "to": "read-only"}
    write = Client().post(
        BOOKS, {"title": "x"}, content_type="application/json", **books_app.headers
    )
    assert write.status_code == 403  # the read-only plan grants no books:write


def test_a_change_to_a_plan_that_needs_approval_waits(
    caller, books_app, starter_plan, business_plan
):
    response = caller.patch(sub_url(books_app.subscription), {"plan": business_plan.pk})

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["plan"]["slug"] == "starter"  # in force until staff decide
    assert body["requested_plan"]["slug"] == "business"
    assert body["status"] == "active"
    assert AuditEvent.objects.filter(action="subscription.change_request").exists()


def test_a_plan_of_another_api_is_refused(caller, books_app, maps_plan):
    response = caller.patch(sub_url(books_app.subscription), {"plan": maps_plan.pk})

    problem = assert_problem(response, 400, "invalid")
    assert problem["errors"] == {"plan": ["Choose a plan of this subscription's API."]}
    assert not Subscription.objects.filter(plan=maps_plan).exists()


def test_a_subscription_is_cancelled(caller, books_app):
    assert Client().get(BOOKS, **books_app.headers).status_code == 200

    response = caller.post(sub_url(books_app.subscription, "cancel/"))

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "cancelled"
    books_app.subscription.refresh_from_db()
    assert books_app.subscription.status == "cancelled"
    assert Client().get(BOOKS, **books_app.headers).status_code == 403
    event = AuditEvent.objects.get(action="subscription.cancel")
    assert event.actor_label == caller.actor_label


def test_an_ended_subscription_cannot_be_cancelled_or_changed(
    caller, books_app, read_only_plan
):
    caller.post(sub_url(books_app.subscription, "cancel/"))
    events = AuditEvent.objects.count()

    again = caller.post(sub_url(books_app.subscription, "cancel/"))
    change = caller.patch(sub_url(books_app.subscription), {"plan": read_only_plan.pk})

    assert_problem(again, 409, "not_live")
    assert_problem(change, 409, "not_live")
    assert Subscription.objects.filter(app=books_app.app).count() == 1
    assert AuditEvent.objects.count() == events


def test_ended_subscriptions_stay_listed_and_readable(caller, books_app, starter_plan):
    caller.post(sub_url(books_app.subscription, "cancel/"))
    renewed = caller.post(subs_url(books_app.app), {"plan": starter_plan.pk}).json()

    listed = caller.get(subs_url(books_app.app)).json()
    cancelled = caller.get(subs_url(books_app.app), {"status": "cancelled"}).json()
    read = caller.get(sub_url(books_app.subscription)).json()

    assert [s["id"] for s in listed["results"]] == [
        renewed["id"],
        books_app.subscription.pk,
    ]
    assert [s["id"] for s in cancelled["results"]] == [books_app.subscription.pk]
    assert read["status"] == "cancelled"
