"""The portal's catalog pages and an app's subscriptions, as a developer uses
them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from portal.accounts.models import Role
from portal.audit.models import AuditEvent
from portal.catalog.models import Plan, Subscription, SubscriptionStatus

BOOKS = "/api/books/v1/books/"
# Mid-month, far from any window edge.
MID_MONTH = datetime(2026, 6, 15, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def business_plan(catalog):
    return catalog.plans.get(slug="business")


@pytest.fixture
def member(user_factory, membership_factory, developer_team):
    """A plain member (not an owner) of ``developer_team``."""
    user = user_factory(password=None)
    membership_factory(user=user, team=developer_team, role=Role.MEMBER)
    return user


@pytest.fixture
def shelf(developer_team, app_factory, catalog):
    """An app of ``developer_team`` without any subscription."""
    return app_factory(team=developer_team, name="Shelf", slug="shelf")


@pytest.fixture
def member_client(client, member):
    client.force_login(member)
    return client


def app_url(name: str, app, *args) -> str:
    return reverse(f"portal:{name}", args=[app.team.slug, app.slug, *args])


def subscribe(client, app, plan):
    return client.post(app_url("subscribe", app), {"plan": plan}, follow=True)


def page(response) -> str:
    return response.content.decode()


# --- The catalog ---------------------------------------------------------------


def test_anyone_sees_the_api_list(client, catalog):
    response = client.get(reverse("portal:api-list"))

    assert response.status_code == 200
    assert reverse("portal:api-detail", args=["books"]) in page(response)
    assert "3 plans" in page(response)


def test_the_api_list_does_not_count_private_plans(client, catalog):
    Plan.objects.create(api=catalog, slug="partner", name="Partner", is_public=False)

    response = client.get(reverse("portal:api-list"))

    # The detail page offers three plans; the list must not hint at a fourth.
    assert "3 plans" in page(response)


def test_anyone_sees_each_plans_limits_quota_and_approval(client, catalog):
    Plan.objects.create(
        api=catalog, slug="partner", name="Secret Partner", is_public=False
    )

    response = client.get(reverse("portal:api-detail", args=["books"]))

    html = page(response)
    assert response.status_code == 200
    for text in ("Starter", "Read only", "Business"):
        assert text in html
    for rate in ("10/s", "600/m", "5/s", "300/m", "50/s", "2000/m", "1000000/d"):
        assert f"<code>{rate}</code>" in html
    for quota in ("100000", "50000", "10000000"):
        assert f"<td>{quota}</td>" in html
    assert html.count("<td>staff approve each subscription</td>") == 1
    assert html.count("<td>instant</td>") == 2
    assert "Secret Partner" not in html
    assert "Sign up" in html


def test_an_unknown_api_is_404(client, catalog):
    assert client.get(reverse("portal:api-detail", args=["nope"])).status_code == 404


# --- Subscribing from the app page ----------------------------------------------


def test_a_member_subscribes_an_app(member_client, member, shelf, starter_plan):
    response = subscribe(member_client, shelf, starter_plan.pk)

    assert response.redirect_chain == [(app_url("app-detail", shelf), 302)]
    assert "Shelf is now on Books Starter." in page(response)
    sub = Subscription.objects.get(app=shelf)
    assert (sub.plan, sub.status) == (starter_plan, SubscriptionStatus.ACTIVE)
    event = AuditEvent.objects.get(action="subscription.create")
    assert event.actor == member


def test_a_member_asks_for_an_approval_plan(member_client, shelf, business_plan):
    response = subscribe(member_client, shelf, business_plan.pk)

    assert "Business needs approval; staff have been asked." in page(response)
    assert Subscription.objects.get(app=shelf).status == SubscriptionStatus.PENDING
    assert "Pending approval" in page(response)


def test_subscribing_twice_shows_the_conflict(member_client, shelf, starter_plan):
    subscribe(member_client, shelf, starter_plan.pk)

    response = subscribe(member_client, shelf, starter_plan.pk)

    assert f"{shelf.qualified_slug} is already on the Starter plan." in page(response)
    assert Subscription.objects.filter(app=shelf).count() == 1


@pytest.mark.parametrize(
    "garbage", ["abc", "999999", "", "-1", "1.5", " 1", "²", "9" * 30]
)
def test_a_garbage_plan_id_is_refused_politely(member_client, shelf, garbage):
    response = subscribe(member_client, shelf, garbage)

    assert response.status_code == 200
    assert "Choose one of the listed plans." in page(response)
    assert not Subscription.objects.filter(app=shelf).exists()
    assert not AuditEvent.objects.filter(action__startswith="subscription.").exists()


def test_a_private_plan_is_not_offered(member_client, shelf, read_only_plan):
    read_only_plan.is_public = False
    read_only_plan.save()

    response = subscribe(member_client, shelf, read_only_plan.pk)

    assert "Choose one of the listed plans." in page(response)
    assert not Subscription.objects.filter(app=shelf).exists()


def test_a_member_cancels(member_client, books_app):
    sub = books_app.subscription

    response = member_client.post(
        app_url("subscription-cancel", books_app.app, sub.pk), follow=True
    )

    assert "Subscription to Books cancelled." in page(response)
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.CANCELLED
    assert "This app has no subscription yet" in page(response)


def test_an_outsider_gets_404_and_changes_nothing(
    logged_in_client, books_app, read_only_plan
):
    sub = books_app.subscription

    subscribing = logged_in_client.post(
        app_url("subscribe", books_app.app), {"plan": read_only_plan.pk}
    )
    cancelling = logged_in_client.post(
        app_url("subscription-cancel", books_app.app, sub.pk)
    )

    assert (subscribing.status_code, cancelling.status_code) == (404, 404)
    sub.refresh_from_db()
    assert (sub.plan.slug, sub.status) == ("starter", SubscriptionStatus.ACTIVE)
    assert not AuditEvent.objects.filter(
        action__in=["subscription.change", "subscription.cancel"]
    ).exists()


def test_another_apps_subscription_cannot_be_cancelled_through_mine(
    logged_in_client, team, app_factory, books_app, starter_plan
):
    mine = app_factory(team=team, slug="mine")

    response = logged_in_client.post(
        app_url("subscription-cancel", mine, books_app.subscription.pk)
    )

    assert response.status_code == 404
    books_app.subscription.refresh_from_db()
    assert books_app.subscription.status == SubscriptionStatus.ACTIVE


def test_subscribing_needs_a_login(client, shelf, starter_plan):
    response = client.post(app_url("subscribe", shelf), {"plan": starter_plan.pk})

    assert response.status_code == 302
    assert not Subscription.objects.filter(app=shelf).exists()


# --- Quota usage on the app page --------------------------------------------------


@pytest.fixture
def small_quota(books_app):
    """``books_app``'s plan cut to 10 calls a month, with room in every tier."""
    plan = books_app.subscription.plan
    plan.monthly_quota = 10
    plan.rate_tiers = ["100/s"]
    plan.save()
    return books_app


@pytest.fixture
def usage_page(client, developer, small_quota):
    """``(calls)``: make that many served calls, then return the app page."""
    with time_machine.travel(MID_MONTH, tick=False):
        client.force_login(developer)

        def after(calls: int) -> str:
            for _ in range(calls):
                client.get(BOOKS, **small_quota.headers)
            response = client.get(app_url("app-detail", small_quota.app))
            assert response.status_code == 200
            return page(response)

        yield after


def progress(sub, used: int, quota: int) -> str:
    return f'<progress id="quota-{sub.pk}" max="{quota}" value="{used}">'


def test_the_app_page_shows_this_months_usage(usage_page, small_quota):
    html = usage_page(7)

    assert "7 of 10 calls" in html
    assert progress(small_quota.subscription, 7, 10) in html
    assert "of this month's quota used" not in html
    assert "Quota used up" not in html


def test_the_app_page_warns_at_80_percent(usage_page, small_quota):
    html = usage_page(8)

    assert "8 of 10 calls" in html
    assert "80% of this month's quota used." in html
    assert "Quota used up" not in html


def test_the_app_page_says_when_the_quota_is_used_up(usage_page, small_quota):
    html = usage_page(12)  # the last two are refused and not counted

    assert "10 of 10 calls" in html
    assert progress(small_quota.subscription, 10, 10) in html
    assert "Quota used up" in html
    assert "of this month's quota used" not in html


def test_a_plan_without_quota_says_so(client, developer, books_app):
    plan = books_app.subscription.plan
    plan.monthly_quota = None
    plan.save()
    client.force_login(developer)

    html = page(client.get(app_url("app-detail", books_app.app)))

    assert "no quota" in html
    assert "<progress" not in html
