"""Every event type reaches a real receiver on loopback, signed per Standard
Webhooks (verified with the ``standardwebhooks`` library), and only after the
action's transaction commits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from portal.catalog import services as subs
from portal.keys import services as keys
from portal.limits.alerts import quota_alert_send
from portal.oauth.services import oauth_client_configure, oauth_client_secret_rotate
from portal.webhooks import services
from portal.webhooks.catalogue import SUBSCRIBABLE
from portal.webhooks.models import Event

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Run an action and the on-commit work it queued (events, deliveries)."""

    def run(action, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return action(*args, **kwargs)

    return run


def received(receiver, endpoint, type_):
    events = [e for e in receiver.events(endpoint.secret) if e["type"] == type_]
    assert events, f"no {type_} event received"
    return events


def test_key_events(run, receiver, endpoint, books_app, developer):
    issued = run(keys.api_key_issue, app=books_app.app, name="CI", actor=developer)
    created = received(receiver, endpoint, "key.created")[-1]
    assert created["data"]["key"]["lookup_id"] == issued.key.lookup_id
    assert created["data"]["app"]["slug"] == "reader"
    assert issued.full_key not in str(receiver.requests)  # never the secret

    replacement = run(keys.api_key_rotate, key=issued.key, grace=timedelta(hours=1))
    rotated = received(receiver, endpoint, "key.rotated")[-1]["data"]
    assert rotated["key"]["lookup_id"] == issued.key.lookup_id
    assert rotated["replacement"]["lookup_id"] == replacement.key.lookup_id
    assert rotated["grace_seconds"] == 3600
    # A rotation is not also announced as a new key.
    assert len(received(receiver, endpoint, "key.created")) == 1

    run(keys.api_key_revoke, key=replacement.key, reason="leaked")
    revoked = received(receiver, endpoint, "key.revoked")[-1]["data"]
    assert revoked["key"]["lookup_id"] == replacement.key.lookup_id
    assert revoked["reason"] == "leaked"


def test_key_expiring_7_days_then_1_day_before(
    receiver, endpoint, books_app, issue_key, time_machine
):
    now = timezone.now()
    time_machine.move_to(now, tick=False)
    issued = issue_key(books_app.app, expires_at=now + timedelta(days=10))
    assert services.emit_expiring_keys() == 0  # 10 days left: nothing yet
    time_machine.move_to(now + timedelta(days=3, hours=1), tick=False)
    assert services.emit_expiring_keys() == 1
    assert services.emit_expiring_keys() == 0  # once per notice
    time_machine.move_to(now + timedelta(days=9, hours=1), tick=False)
    assert services.emit_expiring_keys() == 1
    assert services.emit_expiring_keys() == 0
    notices = received(receiver, endpoint, "key.expiring")
    assert [n["data"]["expires_in"] for n in notices] == ["7d", "1d"]
    assert {n["data"]["key"]["lookup_id"] for n in notices} == {issued.key.lookup_id}


def test_subscription_events(run, receiver, endpoint, books_app, catalog):
    business = catalog.plans.get(slug="business")
    sub = run(subs.subscription_request, app=books_app.app, plan=business)
    requested = received(receiver, endpoint, "subscription.requested")[-1]["data"]
    assert requested["requested_plan"] == "business"
    assert requested["app"]["slug"] == "reader"

    run(subs.subscription_reject, subscription=sub, reason="Tell us more")
    rejected = received(receiver, endpoint, "subscription.rejected")[-1]["data"]
    assert rejected["reason"] == "Tell us more"

    run(subs.subscription_request, app=books_app.app, plan=business)
    run(subs.subscription_approve, subscription=sub)
    approved = received(receiver, endpoint, "subscription.approved")[-1]["data"]
    assert approved["subscription"]["plan"] == "business"

    run(subs.subscription_cancel, subscription=sub)
    cancelled = received(receiver, endpoint, "subscription.cancelled")[-1]["data"]
    assert cancelled["subscription"]["status"] == "cancelled"


def test_quota_threshold_once_per_threshold_per_month(
    run, receiver, endpoint, books_app
):
    plan = books_app.subscription.plan
    plan.monthly_quota = 1000
    plan.save()
    for _ in range(2):  # a repeated alert is not a second event
        run(
            quota_alert_send.call,
            subscription_id=books_app.subscription.pk,
            percent=80,
        )
    run(quota_alert_send.call, subscription_id=books_app.subscription.pk, percent=100)
    events = received(receiver, endpoint, "quota.threshold")
    assert [e["data"]["percent"] for e in events] == [80, 100]
    assert events[0]["data"]["monthly_quota"] == 1000


def test_ratelimit_exceeded_at_most_once_per_5_minutes_with_counts(
    run, client, receiver, endpoint, books_app, time_machine
):
    now = timezone.now()
    time_machine.move_to(now, tick=False)
    plan = books_app.subscription.plan
    plan.rate_tiers = ["1/m"]
    plan.save()
    statuses = [
        run(client.get, "/api/books/v1/books/", **books_app.headers).status_code
        for _ in range(4)
    ]
    assert statuses == [200, 429, 429, 429]
    events = received(receiver, endpoint, "ratelimit.exceeded")
    assert len(events) == 1  # the first refusal; the next two wait 5 minutes
    first = events[0]["data"]
    assert first["refused_calls"] == 1
    assert first["limit"] == "1/m"
    assert first["credential"]["key_lookup_id"] == books_app.key.lookup_id
    time_machine.move_to(now + timedelta(minutes=5, seconds=1), tick=False)
    assert (
        run(client.get, "/api/books/v1/books/", **books_app.headers).status_code == 200
    )
    assert (
        run(client.get, "/api/books/v1/books/", **books_app.headers).status_code == 429
    )
    events = received(receiver, endpoint, "ratelimit.exceeded")
    assert len(events) == 2
    # The two refusals held back, plus the one that sent the event.
    assert events[1]["data"]["refused_calls"] == 3


def test_oauth_client_secret_rotated(run, receiver, endpoint, books_app):
    oauth_client_configure(app=books_app.app, grant="client-credentials")
    run(oauth_client_secret_rotate, app=books_app.app)
    data = received(receiver, endpoint, "oauth.client_secret_rotated")[-1]["data"]
    assert data["app"]["client_id"] == books_app.app.client_id


def test_a_rolled_back_action_sends_nothing(receiver, endpoint, books_app, developer):
    with pytest.raises(RuntimeError), transaction.atomic():
        keys.api_key_issue(app=books_app.app, name="doomed", actor=developer)
        raise RuntimeError("something later in the request failed")
    assert not Event.objects.exists()
    assert receiver.requests == []


def test_only_the_endpoint_types_chosen_are_sent(
    run, receiver, endpoint, books_app, developer
):
    services.endpoint_update(endpoint=endpoint, event_types=["key.revoked"])
    issued = run(keys.api_key_issue, app=books_app.app, name="quiet", actor=developer)
    assert receiver.requests == []
    run(keys.api_key_revoke, key=issued.key)
    assert [e["type"] for e in receiver.events(endpoint.secret)] == ["key.revoked"]


def test_every_subscribable_type_is_covered_by_a_test():
    covered = {
        "key.created", "key.rotated", "key.revoked", "key.expiring",
        "subscription.requested", "subscription.approved",
        "subscription.rejected", "subscription.cancelled",
        "quota.threshold", "ratelimit.exceeded", "team.suspended",
        "oauth.client_secret_rotated",
    }  # fmt: skip
    assert set(SUBSCRIBABLE) == covered


def test_team_suspended(run, receiver, endpoint, books_app, user_factory):
    from portal.accounts.services import team_suspend

    staff = user_factory(password=None, is_staff=True)
    run(team_suspend, team=books_app.app.team, actor=staff, reason="abuse report")
    data = received(receiver, endpoint, "team.suspended")[-1]["data"]
    assert data["team"]["slug"] == books_app.app.team.slug
    assert data["reason"] == "abuse report"
    assert data["keys_revoked"] == 1
    # Each revoked key is announced too.
    revoked = received(receiver, endpoint, "key.revoked")
    assert [e["data"]["key"]["lookup_id"] for e in revoked] == [books_app.key.lookup_id]


def test_a_suspended_team_gets_no_new_keys(books_app, user_factory, issue_key):
    from portal.accounts.services import team_suspend
    from portal.errors import Conflict

    staff = user_factory(password=None, is_staff=True)
    team_suspend(team=books_app.app.team, actor=staff, reason="abuse report")
    books_app.app.team.refresh_from_db()
    with pytest.raises(Conflict) as refused:
        issue_key(books_app.app)
    assert refused.value.code == "app_suspended"
