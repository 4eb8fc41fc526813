"""Staff in Chromium: log in with a TOTP code, approve a pending subscription,
suspend a team, and that team's key is refused on its very next call."""

from __future__ import annotations

import gc
import re
import threading

import pytest
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from portal.catalog.models import Subscription, SubscriptionStatus
from portal.catalog.services import subscription_create_active, subscription_request
from tests import factories
from tests.servers import call

pytestmark = pytest.mark.usefixtures("transactional_db")


@pytest.fixture(autouse=True)
def _server_threads_finish():
    yield
    # A kept-alive connection holds a live-server thread and its database
    # connection, which would keep the PostgreSQL test database from being
    # dropped (see tests/e2e/test_oauth_flows.py).
    gc.collect()
    for thread in threading.enumerate():
        if thread.name.endswith("(process_request_thread)"):
            thread.join(timeout=10)


def current_code(device: TOTPDevice) -> str:
    """What the staff member's authenticator app shows right now."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{totp.token():0{device.digits}d}"


def test_staff_log_in_with_totp_approve_and_suspend(
    page, live_server, catalog, starter_plan, issue_key
):
    staff = factories.UserFactory(
        email="ops@example.com", is_staff=True, is_superuser=True
    )
    device = TOTPDevice.objects.create(user=staff, name="Phone", confirmed=True)
    team = factories.TeamFactory(name="Acme", slug="acme")
    reader = factories.AppFactory(team=team, name="Reader", slug="reader")
    subscription_create_active(app=reader, plan=starter_plan)
    key = issue_key(reader).full_key
    bulk = factories.AppFactory(team=team, name="Bulk", slug="bulk")
    pending = subscription_request(app=bulk, plan=catalog.plans.get(slug="business"))
    assert pending.status == SubscriptionStatus.PENDING
    assert call(live_server.url, key)[0] == 200

    # The admin sends a stranger to the portal's login, then asks for the code.
    page.goto("/admin/")
    assert "/accounts/login/" in page.url
    page.locator("#id_username").fill(staff.email)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r"/account/two-factor/verify/"))
    page.get_by_label("Code").fill(current_code(device))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(re.compile(r"/admin/$"))
    expect(page.get_by_text("Gatehouse staff").first).to_be_visible()

    # Approve the pending subscription from the list of those awaiting a decision.
    page.goto("/admin/catalog/subscription/?awaiting=yes")
    page.locator(f'input[name="_selected_action"][value="{pending.pk}"]').check()
    page.locator('select[name="action"]').select_option("approve")
    page.get_by_role("button", name="Go").click()
    page.get_by_label("Reason").fill("Welcome aboard")
    page.locator('input[type="submit"][value="Approved"]').click()
    expect(page.locator(".messagelist")).to_contain_text("1 subscription(s) approved")
    pending.refresh_from_db()
    assert pending.status == SubscriptionStatus.ACTIVE
    assert pending.reason == "Welcome aboard"

    # Suspend the team from its change page.
    page.goto(f"/admin/accounts/team/{team.pk}/change/")
    page.get_by_role("link", name="Suspend…").click()
    page.get_by_label("Reason").fill("Abuse report #42")
    page.get_by_role("button", name="Suspend").click()
    expect(page.locator(".messagelist")).to_contain_text("suspended")

    # The team's key is refused on its next call.
    status, body, _ = call(live_server.url, key)
    assert status == 401
    assert body["code"] == "key_revoked"
    team.refresh_from_db()
    assert not team.is_active
    assert Subscription.objects.get(pk=pending.pk).status == SubscriptionStatus.ACTIVE
