"""Throttling, audit trail, logout and CSRF around the account pages."""

from __future__ import annotations

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from portal.accounts.models import Membership, Role, User
from portal.audit.models import AuditEvent

STRONG = "a-brand-new-passphrase-77"


def log_in(client, email, password):
    return client.post(
        reverse("portal:login"), {"username": email, "password": password}
    )


def sign_up(client, email):
    return client.post(
        reverse("portal:signup"),
        {"email": email, "name": "", "password1": STRONG, "password2": STRONG},
    )


def is_logged_in(client, user) -> bool:
    return client.session.get("_auth_user_id") == str(user.pk)


def audit(action: str) -> AuditEvent:
    return AuditEvent.objects.get(action=action)


# --- throttling ---------------------------------------------------------------


@pytest.fixture
def tight_rates(settings):
    settings.ACCOUNT_RATES = {"ip": "3/m", "account": "2/m"}
    # Frozen, so the one-minute window cannot roll over mid-test.
    with time_machine.travel(timezone.now(), tick=False):
        yield


def assert_throttled(response):
    assert response.status_code == 429
    retry_after = response["Retry-After"]
    assert retry_after.isdigit()
    assert int(retry_after) in range(1, 61)
    page = response.content.decode().lower()
    assert f"too many attempts, try again in {retry_after} s" in page


def test_login_is_throttled_per_account(client, user, password, tight_rates):
    for _ in range(2):
        assert log_in(client, user.email, "not-my-password").status_code == 200

    # Even the right password, in another letter case, waits out the window.
    response = log_in(client, user.email.upper(), password)

    assert_throttled(response)
    assert not is_logged_in(client, user)


def test_signup_is_throttled_per_ip_across_emails(client, db, tight_rates):
    for n in range(3):
        assert sign_up(client, f"dev{n}@example.com").status_code == 200

    response = sign_up(client, "dev3@example.com")

    assert_throttled(response)
    assert not User.objects.filter(email="dev3@example.com").exists()
    assert User.objects.count() == 3


# --- audit trail --------------------------------------------------------------


def test_login_is_audited(client, user, password):
    log_in(client, user.email, password)

    event = audit("user.login")
    assert event.actor == user
    assert event.target_id == str(user.pk)
    assert event.ip == "127.0.0.1"


def test_failed_login_is_audited_without_the_password(client, user):
    log_in(client, user.email, "not-my-password")

    event = audit("user.login_failed")
    assert event.actor is None
    assert event.data == {"email": user.email}
    assert "not-my-password" not in str(event.data)


def test_signup_is_audited(client, db):
    sign_up(client, "ada@example.com")

    event = audit("user.signup")
    new_user = User.objects.get(email="ada@example.com")
    assert event.actor == new_user
    assert event.team == Membership.objects.get(user=new_user).team


@pytest.fixture
def colleague(user_factory):
    return user_factory(email="colleague@example.com")


def test_member_add_is_audited(logged_in_client, user, team, colleague):
    logged_in_client.post(
        reverse("portal:member-add", args=[team.slug]),
        {"email": colleague.email, "role": Role.ADMIN},
    )

    event = audit("team.member_add")
    assert (event.actor, event.team) == (user, team)
    assert event.target_id == str(colleague.pk)
    assert event.data == {"role": Role.ADMIN}


def test_member_role_change_is_audited(
    logged_in_client, user, team, colleague, membership_factory
):
    membership = membership_factory(user=colleague, team=team, role=Role.MEMBER)

    logged_in_client.post(
        reverse("portal:member-role", args=[team.slug, membership.pk]),
        {"role": Role.ADMIN},
    )

    event = audit("team.member_role_change")
    assert (event.actor, event.team) == (user, team)
    assert event.target_id == str(colleague.pk)
    assert event.data == {"from": Role.MEMBER, "to": Role.ADMIN}


def test_member_remove_is_audited(
    logged_in_client, user, team, colleague, membership_factory
):
    membership = membership_factory(user=colleague, team=team, role=Role.MEMBER)

    logged_in_client.post(
        reverse("portal:member-remove", args=[team.slug, membership.pk])
    )

    assert not Membership.objects.filter(pk=membership.pk).exists()
    event = audit("team.member_remove")
    assert (event.actor, event.team) == (user, team)
    assert event.target_id == str(colleague.pk)


# --- logout and CSRF ----------------------------------------------------------


def test_logout_by_get_is_refused(logged_in_client, user):
    response = logged_in_client.get(reverse("portal:logout"))

    assert response.status_code == 405
    assert is_logged_in(logged_in_client, user)


def test_logout_by_post_logs_out(logged_in_client, user):
    response = logged_in_client.post(reverse("portal:logout"))

    assert response.status_code == 302
    assert response.url == reverse("portal:login")
    assert not is_logged_in(logged_in_client, user)
    assert logged_in_client.get(reverse("portal:dashboard")).status_code == 302


@pytest.fixture
def csrf_client(db):
    return Client(enforce_csrf_checks=True)


def test_signup_without_a_csrf_token_is_refused(csrf_client):
    response = sign_up(csrf_client, "ada@example.com")

    assert response.status_code == 403
    assert "Your form expired" in response.content.decode()
    assert not User.objects.exists()


def test_signup_with_the_csrf_token_goes_through(csrf_client):
    csrf_client.get(reverse("portal:signup"))
    response = csrf_client.post(
        reverse("portal:signup"),
        {
            "email": "ada@example.com",
            "password1": STRONG,
            "password2": STRONG,
            "csrfmiddlewaretoken": csrf_client.cookies["csrftoken"].value,
        },
    )

    assert response.status_code == 200
    assert User.objects.filter(email="ada@example.com").exists()
