"""Staff actions in the admin: suspending and reactivating users and teams,
revoking keys and tokens, editing plans and roles.

Each goes through its service (one transaction, one audit event) and takes
effect on the very next API call: a suspended team's key and token are
refused with 401 at once.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.models import Group, Permission
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from portal.accounts import services
from portal.accounts.models import Membership, Role, Team, User
from portal.audit.models import AuditEvent
from portal.catalog.models import Plan
from portal.errors import Conflict, Forbidden, InvalidInput
from portal.keys.models import ApiKey
from portal.keys.services import api_key_issue
from portal.oauth.services import oauth_client_configure
from tests.portal.dashboard.admin_world import admin_url, form_data
from tests.portal.oauth.flows import (
    REDIRECT_URI,
    bearer,
    client_credentials,
    tokens,
)
from tests.staff import staff_login, totp_device

BOOKS = "/api/books/v1/books/"
AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()


@pytest.fixture
def superuser(user_factory):
    return user_factory(
        email="root@example.com", is_staff=True, is_superuser=True, password=None
    )


@pytest.fixture
def staff_client(client, superuser):
    staff_login(client, superuser)
    return client


def call_with_key(full_key: str) -> int:
    return Client().get(BOOKS, HTTP_X_API_KEY=full_key).status_code


def call_with_token(token: str) -> int:
    return Client().get(BOOKS, **bearer(token)).status_code


def user_token(app, user) -> str:
    """An access token issued to ``user`` for ``app`` (as after consent)."""
    if not app.oauth_enabled:
        oauth_client_configure(
            app=app, grant="authorization-code", redirect_uris=[REDIRECT_URI]
        )
    token = AccessToken.objects.create(
        user=user,
        application=app,
        token=f"user-token-{user.pk}-{app.pk}-0123456789abcdef",
        expires=timezone.now() + timedelta(hours=1),
        scope="books:read",
    )
    return token.token


def run_action(staff_client, model, action: str, objects, **fields):
    """Pick ``action`` for ``objects`` on the change list, then submit its
    confirmation page with ``fields``; returns (page, final response)."""
    url = admin_url(model, "changelist")
    page = staff_client.post(
        url,
        {
            "action": action,
            "index": "0",
            "_selected_action": [obj.pk for obj in objects],
        },
    )
    assert page.status_code == 200
    assert "admin/gatehouse/confirm_action.html" in [t.name for t in page.templates]
    data = form_data(page, form_id="confirm_action_form", **fields)
    return page, staff_client.post(url, data, follow=True)


def events(action: str):
    return AuditEvent.objects.filter(action=action).order_by("pk")


# --- teams ----------------------------------------------------------------------


def test_suspending_a_team_refuses_its_key_and_token_on_the_next_call(
    staff_client, client, superuser, books_app, machine_client
):
    token = tokens(client_credentials(client, machine_client))["access_token"]
    assert call_with_key(books_app.full_key) == 200
    assert call_with_token(token) == 200
    team = books_app.app.team

    page, done = run_action(staff_client, Team, "suspend", [team], reason="Card fraud")

    assert "Every API key of the team" in page.content.decode()
    assert done.status_code == 200
    assert "1 team suspended." in done.content.decode()
    assert call_with_key(books_app.full_key) == 401
    assert call_with_token(token) == 401
    team.refresh_from_db()
    assert team.is_active is False
    key = ApiKey.objects.get(pk=books_app.key.pk)
    assert key.revoked_at is not None
    assert key.revoked_reason == "Team suspended by staff: Card fraud"
    assert not AccessToken.objects.filter(application__team=team).exists()
    event = events("team.suspended").get()
    assert (event.actor, event.team, event.target_id) == (superuser, team, str(team.pk))
    assert event.data == {
        "reason": "Card fraud",
        "keys_revoked": 1,
        "tokens_revoked": 1,
    }
    assert events("api_key.revoke").get().target_id == str(key.pk)
    revoked = events("oauth.token_revoked").get()
    assert (revoked.team, revoked.data["tokens"]) == (team, 1)


def test_a_suspension_without_a_reason_is_not_applied(staff_client, books_app):
    team = books_app.app.team

    page, done = run_action(staff_client, Team, "suspend", [team], reason="  ")

    assert done.status_code == 200
    assert "This field is required." in done.content.decode()
    team.refresh_from_db()
    assert team.is_active
    assert call_with_key(books_app.full_key) == 200
    assert not events("team.suspended").exists()


def test_the_team_page_suspends_and_reactivates_with_a_button(staff_client, books_app):
    team = books_app.app.team
    change = admin_url(Team, "change", team.pk)
    suspend = reverse("admin:accounts_team_suspend", args=[team.pk])
    reactivate = reverse("admin:accounts_team_reactivate", args=[team.pk])

    assert suspend in staff_client.get(change).content.decode()
    form = staff_client.get(suspend)
    response = staff_client.post(
        suspend, form_data(form, form_id="confirm_action_form", reason="Abuse")
    )
    assert (response.status_code, response["Location"]) == (302, change)
    page = staff_client.get(change).content.decode()
    assert reactivate in page and suspend not in page

    confirmation = staff_client.get(reactivate).content.decode()
    assert "Credentials revoked by the suspension stay revoked" in confirmation
    data = form_data(staff_client.get(reactivate), form_id="confirm_action_form")
    response = staff_client.post(reactivate, data)

    assert response.status_code == 302
    team.refresh_from_db()
    assert team.is_active
    assert events("team.reactivated").count() == 1


def test_after_reactivation_old_keys_stay_revoked_and_new_ones_work(
    staff_client, superuser, books_app, developer
):
    team = books_app.app.team
    services.team_suspend(team=team, actor=superuser, reason="Review")
    assert call_with_key(books_app.full_key) == 401

    _, done = run_action(staff_client, Team, "reactivate", [team], reason="Cleared")

    assert "1 team reactivated." in done.content.decode()
    assert call_with_key(books_app.full_key) == 401
    assert ApiKey.objects.get(pk=books_app.key.pk).revoked_at is not None
    fresh = api_key_issue(app=books_app.app, name="After review", actor=developer)
    assert call_with_key(fresh.full_key) == 200
    assert events("team.reactivated").get().data == {"reason": "Cleared"}


def test_suspending_a_suspended_team_is_reported_and_changes_nothing(
    staff_client, superuser, books_app
):
    team = books_app.app.team
    services.team_suspend(team=team, actor=superuser, reason="First")

    _, done = run_action(staff_client, Team, "suspend", [team], reason="Again")

    assert "already suspended" in done.content.decode()
    assert events("team.suspended").count() == 1


# --- users ----------------------------------------------------------------------


def test_suspending_a_user_ends_their_sessions_and_revokes_their_credentials(
    staff_client, superuser, books_app, developer
):
    token = user_token(books_app.app, developer)
    browser = Client()
    browser.force_login(developer)
    dashboard = reverse("portal:dashboard")
    assert browser.get(dashboard).status_code == 200
    assert call_with_key(books_app.full_key) == 200
    assert call_with_token(token) == 200
    suspend = reverse("admin:accounts_user_suspend", args=[developer.pk])

    response = staff_client.post(
        suspend,
        form_data(
            staff_client.get(suspend), form_id="confirm_action_form", reason="Spam"
        ),
    )

    assert response.status_code == 302
    assert call_with_key(books_app.full_key) == 401
    assert call_with_token(token) == 401
    after = browser.get(dashboard)
    assert after.status_code == 302 and "login" in after["Location"]
    assert not [
        s
        for s in Session.objects.all()
        if s.get_decoded().get(SESSION_KEY) == str(developer.pk)
    ]
    developer.refresh_from_db()
    assert developer.is_active is False
    assert ApiKey.objects.get(pk=books_app.key.pk).revoked_reason == (
        "Key owner suspended by staff: Spam"
    )
    event = events("user.suspended").get()
    assert event.actor == superuser
    assert event.data == {
        "reason": "Spam",
        "keys_revoked": 1,
        "tokens_revoked": 1,
        "sessions_ended": 1,
    }
    # The staff member's own session is untouched.
    assert staff_client.get(admin_url(User, "changelist")).status_code == 200


def test_a_reactivated_user_can_log_in_again(staff_client, superuser, user, password):
    services.user_suspend(user=user, actor=superuser, reason="Check")
    assert Client().login(email=user.email, password=password) is False

    _, done = run_action(staff_client, User, "reactivate", [user])

    assert "1 user reactivated." in done.content.decode()
    assert Client().login(email=user.email, password=password) is True
    assert events("user.reactivated").get().target_id == str(user.pk)


def test_a_staff_member_cannot_suspend_themselves(staff_client, superuser):
    _, done = run_action(staff_client, User, "suspend", [superuser], reason="Oops")

    assert "You cannot suspend or reactivate yourself." in done.content.decode()
    superuser.refresh_from_db()
    assert superuser.is_active
    page = staff_client.get(admin_url(User, "change", superuser.pk)).content.decode()
    assert reverse("admin:accounts_user_suspend", args=[superuser.pk]) not in page


def test_staff_who_are_not_superusers_cannot_suspend_a_superuser(
    client, user_factory, superuser, developer
):
    helpdesk = user_factory(email="helpdesk@example.com", is_staff=True, password=None)
    helpdesk.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_user", "change_user"])
    )
    staff_login(client, helpdesk)

    _, done = run_action(client, User, "suspend", [superuser, developer], reason="Test")

    content = done.content.decode()
    assert "Only a superuser can suspend or reactivate a superuser." in content
    assert "1 user suspended." in content
    superuser.refresh_from_db()
    developer.refresh_from_db()
    assert (superuser.is_active, developer.is_active) == (True, False)
    suspend = reverse("admin:accounts_user_suspend", args=[superuser.pk])
    assert client.get(suspend).status_code == 403
    with pytest.raises(Forbidden):
        services.user_suspend(user=superuser, actor=helpdesk, reason="Test")


def test_the_services_check_their_input(superuser, user, team):
    with pytest.raises(InvalidInput):
        services.user_suspend(user=user, actor=superuser, reason="")
    with pytest.raises(InvalidInput):
        services.team_suspend(team=team, actor=superuser, reason="x" * 161)
    with pytest.raises(Forbidden):
        services.team_suspend(team=team, actor=user, reason="Not staff")
    with pytest.raises(Conflict):
        services.user_reactivate(user=user, actor=superuser)
    assert not AuditEvent.objects.filter(action__endswith="suspended").exists()


def test_actions_need_the_change_permission(client, user_factory, books_app):
    viewer = user_factory(email="viewer@example.com", is_staff=True, password=None)
    viewer.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_team", "view_apikey"])
    )
    staff_login(client, viewer)
    team = books_app.app.team

    listing = client.get(admin_url(Team, "changelist"))
    response = client.post(
        admin_url(Team, "changelist"),
        {"action": "suspend", "index": "0", "_selected_action": [team.pk]},
    )

    assert listing.context["action_form"] is None
    assert response.status_code in (200, 302)
    team.refresh_from_db()
    assert team.is_active
    suspend = reverse("admin:accounts_team_suspend", args=[team.pk])
    assert client.get(suspend).status_code == 403
    assert client.post(suspend, {"reason": "x"}).status_code == 403
    assert call_with_key(books_app.full_key) == 200


# --- keys and tokens ------------------------------------------------------------


def test_revoking_keys_in_the_admin(staff_client, superuser, books_app):
    assert call_with_key(books_app.full_key) == 200

    _, done = run_action(
        staff_client, ApiKey, "revoke", [books_app.key], reason="Leaked on GitHub"
    )

    assert "1 API key revoked." in done.content.decode()
    assert call_with_key(books_app.full_key) == 401
    key = ApiKey.objects.get(pk=books_app.key.pk)
    assert key.revoked_reason == "Leaked on GitHub"
    event = events("api_key.revoke").get()
    assert (event.actor, event.data["reason"]) == (superuser, "Leaked on GitHub")

    _, again = run_action(staff_client, ApiKey, "revoke", [key])
    assert "Already revoked." in again.content.decode()
    assert events("api_key.revoke").count() == 1


def test_revoking_access_tokens_in_the_admin(
    staff_client, client, superuser, machine_client
):
    token = tokens(client_credentials(client, machine_client))["access_token"]
    assert call_with_token(token) == 200
    row = AccessToken.objects.get(application=machine_client.app)

    _, done = run_action(staff_client, AccessToken, "revoke", [row], reason="Leak")

    assert "1 access token revoked." in done.content.decode()
    assert call_with_token(token) == 401
    event = events("oauth.token_revoked").get()
    assert event.actor == superuser
    assert event.data["token"] == "access"
    assert event.data["reason"] == "Leak"


def test_revoking_a_refresh_token_revokes_its_access_token(
    staff_client, books_app, developer
):
    token = user_token(books_app.app, developer)
    access = AccessToken.objects.get(token=token)
    refresh = RefreshToken.objects.create(
        user=developer,
        application=books_app.app,
        token="refresh-0123456789abcdef0123456789",
        access_token=access,
    )
    assert call_with_token(token) == 200

    _, done = run_action(staff_client, RefreshToken, "revoke", [refresh])

    assert "1 refresh token revoked." in done.content.decode()
    assert call_with_token(token) == 401
    refresh.refresh_from_db()
    assert refresh.revoked is not None
    assert events("oauth.token_revoked").get().data["token"] == "refresh"


# --- plans and roles --------------------------------------------------------------


def test_a_plan_edited_in_the_admin_limits_the_next_call(
    staff_client, superuser, books_app
):
    plan = books_app.subscription.plan
    first = Client().get(BOOKS, HTTP_X_API_KEY=books_app.full_key)
    assert first["RateLimit-Policy"].startswith('"10/s";q=10;w=1, "600/m";q=600;w=60')
    url = admin_url(Plan, "change", plan.pk)

    response = staff_client.post(
        url,
        form_data(staff_client.get(url), Plan, rate_tiers='["2/s", "50/m"]'),
    )

    assert response.status_code == 302
    second = Client().get(BOOKS, HTTP_X_API_KEY=books_app.full_key)
    assert second.status_code == 200
    assert second["RateLimit-Policy"].startswith('"2/s";q=2;w=1, "50/m";q=50;w=60')
    assert "600/m" not in second["RateLimit-Policy"]
    event = events("plan.changed").get()
    assert event.actor == superuser
    assert event.data == {
        "api": "books",
        "changed": {"rate_tiers": {"from": ["10/s", "600/m"], "to": ["2/s", "50/m"]}},
    }


def test_a_plan_with_bad_rate_tiers_is_not_saved(staff_client, starter_plan):
    url = admin_url(Plan, "change", starter_plan.pk)

    response = staff_client.post(
        url, form_data(staff_client.get(url), Plan, rate_tiers='["fast"]')
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["rate_tiers"]
    starter_plan.refresh_from_db()
    assert starter_plan.rate_tiers == ["10/s", "600/m"]
    assert not events("plan.changed").exists()


def test_a_plan_added_in_the_admin_is_recorded(staff_client, catalog):
    add = admin_url(Plan, "add")
    scope = catalog.scopes.get(name="books:read")

    response = staff_client.post(
        add,
        form_data(
            staff_client.get(add),
            Plan,
            api=str(catalog.pk),
            name="Partner",
            slug="partner",
            scopes=[str(scope.pk)],
            rate_tiers='["100/s"]',
            monthly_quota="5000000",
        ),
    )

    assert response.status_code == 302
    event = events("plan.created").get()
    assert event.data["slug"] == "partner"
    assert event.data["scopes"] == ["books:read"]
    assert event.data["rate_tiers"] == ["100/s"]


def test_a_role_change_in_the_admin_is_recorded(
    staff_client, superuser, developer, developer_team, user_factory
):
    member = Membership.objects.create(
        user=user_factory(password=None), team=developer_team, role=Role.MEMBER
    )
    url = admin_url(Membership, "change", member.pk)

    response = staff_client.post(
        url, form_data(staff_client.get(url), Membership, role=Role.ADMIN)
    )

    assert response.status_code == 302
    event = events("team.member_role_change").get()
    assert (event.actor, event.team) == (superuser, developer_team)
    assert event.data == {"from": "member", "to": "admin", "by_staff": True}


def test_the_last_owner_cannot_be_demoted_or_removed_in_the_admin(
    staff_client, developer, developer_team
):
    owner = Membership.objects.get(user=developer, team=developer_team)
    url = admin_url(Membership, "change", owner.pk)

    response = staff_client.post(
        url, form_data(staff_client.get(url), Membership, role=Role.MEMBER)
    )

    assert response.status_code == 200
    assert "at least one owner" in response.content.decode()
    delete = admin_url(Membership, "delete", owner.pk)
    assert staff_client.post(delete).status_code == 403
    owner.refresh_from_db()
    assert owner.role == Role.OWNER
    assert not events("team.member_role_change").exists()


def test_staff_role_changes_are_recorded(staff_client, superuser, user):
    support = Group.objects.create(name="Support")
    url = admin_url(User, "change", user.pk)

    response = staff_client.post(
        url,
        form_data(staff_client.get(url), User, is_staff="on", groups=[str(support.pk)]),
    )

    assert response.status_code == 302
    event = events("user.staff_role_changed").get()
    assert event.actor == superuser
    assert event.data == {
        "changed": {
            "is_staff": {"from": False, "to": True},
            "groups": {"from": [], "to": ["Support"]},
        }
    }


def test_staff_who_are_not_superusers_cannot_grant_staff_roles(
    client, user_factory, user
):
    helpdesk = user_factory(email="helpdesk@example.com", is_staff=True, password=None)
    helpdesk.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_user", "change_user"])
    )
    staff_login(client, helpdesk)
    url = admin_url(User, "change", user.pk)

    response = client.post(
        url, form_data(client.get(url), User, is_staff="on", is_superuser="on")
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.is_staff, user.is_superuser) == (False, False)
    assert not events("user.staff_role_changed").exists()


# --- other staff edits that are audited -------------------------------------------


def test_a_password_set_by_staff_is_recorded(staff_client, superuser, user):
    url = reverse("admin:auth_user_password_change", args=[user.pk])
    new = "another-long-unusual-passphrase-9"

    response = staff_client.post(
        url, {"usable_password": "true", "password1": new, "password2": new}
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(new)
    event = events("user.password_change").get()
    assert (event.actor, event.target_id) == (superuser, str(user.pk))
    assert event.data == {"by_staff": True}


def test_removing_a_lost_authenticator_in_the_admin_is_recorded(
    staff_client, superuser, user
):
    device = totp_device(user)
    url = admin_url(type(device), "delete", device.pk)

    response = staff_client.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not type(device).objects.filter(pk=device.pk).exists()
    event = events("user.2fa_disabled").get()
    assert (event.actor, event.target_id) == (superuser, str(user.pk))
    assert event.data == {"device": "totpdevice", "by_staff": True}


def test_an_app_suspended_in_the_admin_is_refused_and_recorded(
    staff_client, superuser, books_app
):
    app = books_app.app
    url = admin_url(type(app), "change", app.pk)
    assert call_with_key(books_app.full_key) == 200

    response = staff_client.post(
        url, form_data(staff_client.get(url), type(app), status="suspended")
    )

    assert response.status_code == 302
    assert call_with_key(books_app.full_key) == 401
    event = events("app.update").get()
    assert event.actor == superuser
    assert event.data == {
        "changed": ["status"],
        "by_staff": True,
        "status": {"from": "active", "to": "suspended"},
    }


def test_a_team_is_found_by_a_members_address(staff_client, developer, developer_team):
    response = staff_client.get(admin_url(Team, "changelist"), {"q": developer.email})

    assert [team.pk for team in response.context["cl"].result_list] == [
        developer_team.pk
    ]


def test_only_a_superuser_changes_what_a_group_may_do(
    staff_client, superuser, user_factory
):
    support = Group.objects.create(name="Support")
    grant = Permission.objects.get(codename="change_user")
    helpdesk = user_factory(email="helpdesk@example.com", is_staff=True, password=None)
    helpdesk.groups.add(support)
    helpdesk.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_group", "change_group"])
    )
    client = Client()
    staff_login(client, helpdesk)
    url = admin_url(Group, "change", support.pk)

    refused = client.post(
        url, form_data(client.get(url), Group, permissions=[str(grant.pk)])
    )
    assert refused.status_code == 302  # saved, but the field is read-only
    assert not support.permissions.exists()

    saved = staff_client.post(
        url, form_data(staff_client.get(url), Group, permissions=[str(grant.pk)])
    )
    assert saved.status_code == 302, saved.context["adminform"].form.errors
    assert list(support.permissions.all()) == [grant]
    event = events("group.permissions_changed").get()
    assert event.actor == superuser
    assert event.data == {"from": [], "to": ["accounts.change_user"]}
