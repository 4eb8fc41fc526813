"""The subscription workflow: services, staff decisions in the admin, and what
the app's key can do at each step."""

from __future__ import annotations

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from portal.audit.models import AuditEvent
from portal.catalog.models import Subscription, SubscriptionStatus
from portal.catalog.services import (
    subscription_approve,
    subscription_cancel,
    subscription_reject,
    subscription_request,
)
from portal.errors import Conflict, InvalidInput
from tests.apis.assertions import assert_problem
from tests.staff import staff_login

BOOKS = "/api/books/v1/books/"
CHANGELIST = "admin:catalog_subscription_changelist"


@pytest.fixture
def business_plan(catalog):
    """Books "business": needs staff approval."""
    return catalog.plans.get(slug="business")


@pytest.fixture
def staff(user_factory):
    return user_factory(password=None, is_staff=True, is_superuser=True)


@pytest.fixture
def pending(books_app, business_plan):
    """``books_app`` moved to business: its key (issued while on starter, with
    books:read and books:write) now waits for staff."""
    subscription_cancel(subscription=books_app.subscription)
    subscription_request(app=books_app.app, plan=business_plan)
    return books_app


def live(app) -> Subscription:
    return Subscription.objects.get(
        app=app, status__in=[SubscriptionStatus.PENDING, SubscriptionStatus.ACTIVE]
    )


def actions(app) -> list[str]:
    return list(
        AuditEvent.objects.filter(team=app.team, action__startswith="subscription.")
        .order_by("id")
        .values_list("action", flat=True)
    )


def recipients(mailoutbox) -> list[str]:
    return sorted(address for mail in mailoutbox for address in mail.to)


def post_book(client, books_app, author_factory):
    return client.post(
        BOOKS,
        {"title": "Tell", "author_id": author_factory().pk, "year": 1989},
        content_type="application/json",
        **books_app.headers,
    )


# --- Subscribing -------------------------------------------------------------


def test_a_plan_without_approval_is_active_at_once(
    developer, developer_team, app_factory, read_only_plan
):
    app = app_factory(team=developer_team)

    sub = subscription_request(app=app, plan=read_only_plan, actor=developer)

    assert sub.status == SubscriptionStatus.ACTIVE
    assert sub.decided_at is not None
    assert live(app).plan == read_only_plan
    event = AuditEvent.objects.get(action="subscription.create", team=developer_team)
    assert event.actor == developer
    assert event.data == {"plan": "read-only", "api": "books", "status": "active"}


def test_an_approval_plan_leaves_the_key_waiting(
    client, pending, business_plan, mailoutbox
):
    sub = live(pending.app)
    assert (sub.plan, sub.status, sub.decided_at) == (
        business_plan,
        SubscriptionStatus.PENDING,
        None,
    )
    assert actions(pending.app)[-1] == "subscription.request"

    response = client.get(BOOKS, **pending.headers)

    assert_problem(response, 403, "subscription_pending")
    assert mailoutbox == []


def test_the_same_plan_again_is_a_conflict(books_app, starter_plan):
    with pytest.raises(Conflict) as caught:
        subscription_request(app=books_app.app, plan=starter_plan)

    assert caught.value.code == "already_subscribed"
    assert Subscription.objects.filter(app=books_app.app).count() == 1
    assert actions(books_app.app) == ["subscription.create"]


def test_the_same_pending_plan_again_is_a_conflict(pending, business_plan):
    with pytest.raises(Conflict) as caught:
        subscription_request(app=pending.app, plan=business_plan)

    assert caught.value.code == "already_subscribed"
    assert live(pending.app).status == SubscriptionStatus.PENDING


def test_a_private_plan_is_refused(developer_team, app_factory, read_only_plan):
    read_only_plan.is_public = False
    read_only_plan.save()
    app = app_factory(team=developer_team)

    with pytest.raises(InvalidInput):
        subscription_request(app=app, plan=read_only_plan)

    assert not Subscription.objects.filter(app=app).exists()
    assert actions(app) == []


def test_a_pending_request_moved_to_an_instant_plan_is_active_at_once(
    client, pending, starter_plan
):
    # Asking for business, then settling for starter (which needs nobody's
    # approval) must not leave the app waiting for staff.
    sub = subscription_request(app=pending.app, plan=starter_plan)

    assert sub.plan == starter_plan
    assert sub.status == SubscriptionStatus.ACTIVE
    assert client.get(BOOKS, **pending.headers).status_code == 200


# --- Staff decide ------------------------------------------------------------


def test_approval_activates_and_the_key_works_on_the_next_call(
    client,
    pending,
    owners,
    staff,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    assert client.get(BOOKS, **pending.headers).status_code == 403

    with django_capture_on_commit_callbacks(execute=True):
        subscription_approve(subscription=live(pending.app), actor=staff)

    sub = live(pending.app)
    assert sub.status == SubscriptionStatus.ACTIVE
    assert sub.decided_at is not None
    assert client.get(BOOKS, **pending.headers).status_code == 200
    assert recipients(mailoutbox) == owners
    assert "was approved" in mailoutbox[0].subject
    assert "Business" in mailoutbox[0].body
    assert actions(pending.app)[-1] == "subscription.approve"


def test_rejection_needs_a_reason(pending, staff, mailoutbox):
    with pytest.raises(InvalidInput) as caught:
        subscription_reject(subscription=live(pending.app), actor=staff, reason="  ")

    assert caught.value.field == "reason"
    assert live(pending.app).status == SubscriptionStatus.PENDING
    assert "subscription.reject" not in actions(pending.app)
    assert mailoutbox == []


def test_rejection_ends_the_request_with_its_reason(
    client, pending, owners, staff, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        subscription_reject(
            subscription=live(pending.app), actor=staff, reason="Tell us more."
        )

    sub = Subscription.objects.get(app=pending.app, plan__slug="business")
    assert sub.status == SubscriptionStatus.REJECTED
    assert sub.reason == "Tell us more."
    assert recipients(mailoutbox) == owners
    assert "not approved" in mailoutbox[0].subject
    assert "Reason: Tell us more." in mailoutbox[0].body
    assert actions(pending.app)[-1] == "subscription.reject"
    assert_problem(client.get(BOOKS, **pending.headers), 403, "no_subscription")


# --- Changing plan and cancelling ---------------------------------------------


def test_a_downgrade_applies_at_once(client, books_app, read_only_plan, author_factory):
    assert post_book(client, books_app, author_factory).status_code == 201

    sub = subscription_request(app=books_app.app, plan=read_only_plan)

    assert (sub.pk, sub.plan, sub.status) == (
        books_app.subscription.pk,
        read_only_plan,
        SubscriptionStatus.ACTIVE,
    )
    assert_problem(
        post_book(client, books_app, author_factory), 403, "insufficient_scope"
    )
    assert client.get(BOOKS, **books_app.headers).status_code == 200
    event = AuditEvent.objects.get(action="subscription.change")
    assert event.data == {"from": "starter", "to": "read-only"}


def test_an_upgrade_applies_at_once(
    client, books_app, starter_plan, read_only_plan, author_factory
):
    subscription_request(app=books_app.app, plan=read_only_plan)
    assert post_book(client, books_app, author_factory).status_code == 403

    subscription_request(app=books_app.app, plan=starter_plan)

    assert post_book(client, books_app, author_factory).status_code == 201
    assert actions(books_app.app) == [
        "subscription.create",
        "subscription.change",
        "subscription.change",
    ]


def test_a_change_to_an_approval_plan_waits_with_the_old_plan_in_force(
    client,
    books_app,
    starter_plan,
    business_plan,
    owners,
    staff,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    sub = subscription_request(app=books_app.app, plan=business_plan)

    assert (sub.plan, sub.requested_plan, sub.status) == (
        starter_plan,
        business_plan,
        SubscriptionStatus.ACTIVE,
    )
    assert actions(books_app.app)[-1] == "subscription.change_request"
    response = client.get(BOOKS, **books_app.headers)
    assert response.status_code == 200
    assert '"10/s";q=10' in response["RateLimit-Policy"]  # starter's tiers

    with django_capture_on_commit_callbacks(execute=True):
        subscription_approve(subscription=sub, actor=staff)

    sub.refresh_from_db()
    assert (sub.plan, sub.requested_plan, sub.status) == (
        business_plan,
        None,
        SubscriptionStatus.ACTIVE,
    )
    response = client.get(BOOKS, **books_app.headers)
    assert '"50/s";q=50' in response["RateLimit-Policy"]  # business's tiers
    assert recipients(mailoutbox) == owners
    assert actions(books_app.app)[-1] == "subscription.approve"


def test_a_rejected_change_keeps_the_old_plan(
    books_app, starter_plan, business_plan, staff, django_capture_on_commit_callbacks
):
    sub = subscription_request(app=books_app.app, plan=business_plan)

    with django_capture_on_commit_callbacks(execute=True):
        subscription_reject(subscription=sub, actor=staff, reason="Not yet.")

    sub.refresh_from_db()
    assert (sub.plan, sub.requested_plan, sub.status) == (
        starter_plan,
        None,
        SubscriptionStatus.ACTIVE,
    )


def test_nothing_to_decide_is_a_conflict(books_app, staff):
    with pytest.raises(Conflict) as caught:
        subscription_approve(subscription=books_app.subscription, actor=staff)

    assert caught.value.code == "not_pending"


def test_cancel_stops_the_key_at_once(client, books_app, developer):
    assert client.get(BOOKS, **books_app.headers).status_code == 200

    subscription_cancel(subscription=books_app.subscription, actor=developer)

    books_app.subscription.refresh_from_db()
    assert books_app.subscription.status == SubscriptionStatus.CANCELLED
    assert_problem(client.get(BOOKS, **books_app.headers), 403, "no_subscription")
    assert actions(books_app.app)[-1] == "subscription.cancel"
    with pytest.raises(Conflict):
        subscription_cancel(subscription=books_app.subscription)


def test_after_cancelling_the_app_can_subscribe_again(books_app, starter_plan):
    subscription_cancel(subscription=books_app.subscription)

    again = subscription_request(app=books_app.app, plan=starter_plan)

    assert again.pk != books_app.subscription.pk
    assert again.status == SubscriptionStatus.ACTIVE


# --- The admin ---------------------------------------------------------------


@pytest.fixture
def admin_client(client, staff):
    staff_login(client, staff)  # the admin needs a verified second factor
    return client


def decide(admin_client, action: str, subs, **data):
    return admin_client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [s.pk for s in subs], **data},
    )


def page_messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_admin_action_first_asks_for_a_reason(admin_client, pending, action):
    response = decide(admin_client, action, [live(pending.app)])

    assert response.status_code == 200
    assert "Reason" in response.content.decode()
    assert live(pending.app).status == SubscriptionStatus.PENDING


def test_admin_approves(
    admin_client, pending, owners, mailoutbox, django_capture_on_commit_callbacks
):
    sub = live(pending.app)

    with django_capture_on_commit_callbacks(execute=True):
        response = decide(admin_client, "approve", [sub], apply="1", reason="Welcome")

    assert response.status_code == 302
    sub.refresh_from_db()
    assert (sub.status, sub.reason) == (SubscriptionStatus.ACTIVE, "Welcome")
    assert "1 subscription(s) approved." in page_messages(response)
    assert recipients(mailoutbox) == owners
    assert actions(pending.app)[-1] == "subscription.approve"


def test_admin_rejects_with_a_reason(
    admin_client, pending, owners, mailoutbox, django_capture_on_commit_callbacks
):
    sub = live(pending.app)

    with django_capture_on_commit_callbacks(execute=True):
        response = decide(admin_client, "reject", [sub], apply="1", reason="Who?")

    assert response.status_code == 302
    sub.refresh_from_db()
    assert (sub.status, sub.reason) == (SubscriptionStatus.REJECTED, "Who?")
    assert recipients(mailoutbox) == owners


def test_admin_reject_without_a_reason_leaves_it_pending(
    admin_client, pending, mailoutbox, django_capture_on_commit_callbacks
):
    sub = live(pending.app)

    with django_capture_on_commit_callbacks(execute=True):
        response = decide(admin_client, "reject", [sub], apply="1", reason="")

    assert response.status_code == 302
    assert any("Give the developer a reason." in m for m in page_messages(response))
    assert "0 subscription(s) rejected." in page_messages(response)
    assert live(pending.app).status == SubscriptionStatus.PENDING
    assert mailoutbox == []
    assert "subscription.reject" not in actions(pending.app)


def test_admin_lists_what_awaits_a_decision(
    admin_client,
    pending,
    developer_team,
    app_factory,
    starter_plan,
    business_plan,
):
    changing = app_factory(team=developer_team, slug="changing")
    subscription_request(app=changing, plan=starter_plan)
    subscription_request(app=changing, plan=business_plan)
    settled = app_factory(team=developer_team, slug="settled")
    subscription_request(app=settled, plan=starter_plan)

    response = admin_client.get(reverse(CHANGELIST), {"awaiting": "yes"})

    assert response.status_code == 200
    listed = {s.app.slug for s in response.context["cl"].result_list}
    assert listed == {pending.app.slug, "changing"}
