"""Each security-relevant action of issue 7 writes its audit event, with who
did it, for which team, to what, from which address and with which browser.

Every test does the action the way a person or a program does: through a
portal page, the management API or an OAuth endpoint. Two-factor changes,
suspensions and plan changes are tested with their features.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from portal.accounts.models import Role
from portal.audit.models import AuditEvent
from portal.catalog.models import SubscriptionStatus
from portal.catalog.services import subscription_create_active, subscription_request
from portal.keys.models import ApiKey
from portal.keys.services import api_key_issue
from portal.oauth.models import App
from portal.oauth.services import oauth_client_configure
from tests.portal.audit.conftest import (
    assert_from_browser,
    assert_target,
    browser,
    the_event,
)
from tests.portal.oauth.flows import (
    REDIRECT_URI,
    OAuthClient,
    authorize_params,
    bearer,
    client_credentials,
    consent,
    exchange_code,
    post_form,
    revoke,
    tokens,
)
from tests.staff import staff_login

KEY_RE = re.compile(r"gk_test_[0-9a-z]{12}_[0-9A-Za-z]{38}")
NEW_PASSWORD = "a-brand-new-passphrase-77"


@pytest.fixture(autouse=True)
def _fast_client_secret_hashing(settings):
    # OAuth client secrets are hashed with the first password hasher (Argon2,
    # slow by design); what is checked here is the audit trail, not it.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        *settings.PASSWORD_HASHERS,
    ]


# --- accounts -------------------------------------------------------------------


def log_in(client: Client, email: str, password: str):
    return client.post(
        reverse("portal:login"), {"username": email, "password": password}
    )


def test_a_login_is_recorded(visitor, user, password):
    response = log_in(visitor, user.email, password)
    assert response.status_code == 302

    event = the_event("user.login")
    assert event.actor == user
    assert event.actor_label == user.email
    assert event.team is None
    assert_target(event, user)
    assert_from_browser(event)


def test_a_failed_login_is_recorded_against_the_account_it_named(visitor, user):
    response = log_in(visitor, user.email.upper(), "not-the-password")
    assert response.status_code == 200

    event = the_event("user.login_failed")
    assert event.actor is None
    assert event.actor_label == ""
    assert event.team is None
    assert_target(event, user)
    assert event.data == {"email": user.email.upper()}
    assert_from_browser(event)


def test_a_failed_login_for_no_account_names_no_target(visitor, db):
    log_in(visitor, "nobody@example.com", "whatever-it-is")

    event = the_event("user.login_failed")
    assert (event.target_type, event.target_id) == ("", "")
    assert event.data == {"email": "nobody@example.com"}
    assert_from_browser(event)


def test_a_password_change_is_recorded(member_browser, user, password):
    response = member_browser.post(
        reverse("portal:password-change"),
        {
            "old_password": password,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302

    event = the_event("user.password_change")
    assert event.actor == user
    assert event.team is None
    assert_target(event, user)
    assert_from_browser(event)


def test_a_password_reset_is_recorded_when_asked_for_and_when_done(
    visitor, user, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        visitor.post(reverse("portal:password-reset"), {"email": user.email})

    asked = the_event("user.password_reset_request")
    assert asked.actor is None  # nobody is logged in yet
    assert asked.team is None
    assert_target(asked, user)
    assert_from_browser(asked)

    link = re.search(r"https?://[^/\s]+(/\S+)", mailoutbox[0].body).group(1)
    form_page = visitor.get(link, follow=True)
    response = visitor.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert response.status_code == 302

    done = the_event("user.password_reset")
    assert done.actor == user
    assert done.team is None
    assert_target(done, user)
    assert_from_browser(done)


def test_a_role_change_is_recorded(member_browser, user, team, membership_factory):
    colleague = membership_factory(team=team, role=Role.MEMBER)

    response = member_browser.post(
        reverse("portal:member-role", args=[team.slug, colleague.pk]),
        {"role": Role.ADMIN},
    )
    assert response.status_code == 302

    event = the_event("team.member_role_change")
    assert event.actor == user
    assert event.team == team
    assert event.team_label == team.slug
    assert_target(event, colleague.user)
    assert event.data == {"from": "member", "to": "admin"}
    assert_from_browser(event)


# --- API keys -------------------------------------------------------------------


@pytest.fixture
def shop(team, app_factory, starter_plan):
    """An app of ``team`` on the Books starter plan."""
    app = app_factory(team=team, name="Shop", slug="shop")
    subscription_create_active(app=app, plan=starter_plan)
    return app


def key_url(name: str, app: App, *args) -> str:
    return reverse(f"portal:{name}", args=[app.team.slug, app.slug, *args])


def create_key(client: Client, app: App) -> ApiKey:
    response = client.post(
        key_url("key-create", app), {"name": "server", "scopes": ["books:read"]}
    )
    assert KEY_RE.search(response.content.decode())
    return ApiKey.objects.get(app=app, name="server", revoked_at__isnull=True)


def test_issuing_a_key_is_recorded(member_browser, user, team, shop):
    key = create_key(member_browser, shop)

    event = the_event("api_key.issue")
    assert event.actor == user
    assert event.team == team
    assert_target(event, key)
    assert event.data["app"] == f"{team.slug}/shop"
    assert event.data["scopes"] == ["books:read"]
    assert_from_browser(event)


def test_rotating_a_key_is_recorded(member_browser, user, team, shop):
    key = create_key(member_browser, shop)

    response = member_browser.post(
        key_url("key-rotate", shop, key.lookup_id), {"grace": "3600"}
    )
    assert KEY_RE.search(response.content.decode())

    event = the_event("api_key.rotate")
    replacement = ApiKey.objects.get(replaces=key)
    assert event.actor == user
    assert event.team == team
    assert_target(event, key)
    assert event.data["new_lookup_id"] == replacement.lookup_id
    assert event.data["grace_seconds"] == 3600
    assert_from_browser(event)


def test_revoking_a_key_is_recorded(member_browser, user, team, shop):
    key = create_key(member_browser, shop)

    response = member_browser.post(
        key_url("key-revoke", shop, key.lookup_id), {"reason": "leaked in a log"}
    )
    assert response.status_code == 302

    event = the_event("api_key.revoke")
    assert event.actor == user
    assert event.team == team
    assert_target(event, key)
    assert event.data["reason"] == "leaked in a log"
    assert_from_browser(event)


def test_revoking_a_key_through_the_management_api_names_the_calling_app(
    user, team, shop, app_factory
):
    # A token of the team's own "manager" app acts for the team: the event
    # names that app, as no person is behind the call.
    manager = app_factory(team=team, name="Manager", slug="manager")
    secret = oauth_client_configure(app=manager, grant="client-credentials")
    token = tokens(
        client_credentials(
            Client(), OAuthClient(manager, secret), scope="manage:read manage:write"
        )
    )["access_token"]
    key = api_key_issue(app=shop, name="batch", actor=user).key

    response = browser().post(
        f"/api/manage/v1/apps/{shop.pk}/keys/{key.lookup_id}/revoke/",
        "{}",
        content_type="application/json",
        **bearer(token),
    )
    assert response.status_code == 200, response.content

    event = the_event("api_key.revoke")
    assert event.actor is None
    assert event.actor_label == f"app:{team.slug}/manager"
    assert event.team == team
    assert_target(event, key)
    assert_from_browser(event)


# --- OAuth clients ----------------------------------------------------------------


def test_creating_an_app_and_its_oauth_client_is_recorded(member_browser, user, team):
    response = member_browser.post(
        reverse("portal:app-create", args=[team.slug]), {"name": "Reading List"}
    )
    assert response.status_code == 302
    app = App.objects.get(team=team, slug="reading-list")

    response = member_browser.post(
        key_url("oauth-client", app),
        {
            "grant": "authorization-code",
            "client_type": "confidential",
            "redirect_uris": REDIRECT_URI,
        },
    )
    assert response.status_code == 200

    created = the_event("app.create")
    configured = the_event("oauth.client_configure")
    for event in (created, configured):
        assert event.actor == user
        assert event.team == team
        assert_target(event, app)
        assert_from_browser(event)
    assert configured.data == {
        "grant": "authorization-code",
        "public": False,
        "redirect_uris": [REDIRECT_URI],
    }
    # The secret shown once is nowhere in the trail.
    assert app.client_secret not in str(configured.data)


def test_rotating_a_client_secret_is_recorded(member_browser, user, team, app_factory):
    app = app_factory(team=team, name="Nightly", slug="nightly")
    member_browser.post(
        key_url("oauth-client", app),
        {"grant": "client-credentials", "client_type": "confidential"},
    )

    response = member_browser.post(key_url("oauth-secret-rotate", app))
    assert response.status_code == 200

    event = the_event("oauth.client_secret_rotate")
    assert event.actor == user
    assert event.team == team
    assert_target(event, app)
    assert event.data == {}
    assert_from_browser(event)


# --- tokens and consent ------------------------------------------------------------


def test_revoking_a_token_at_the_rfc7009_endpoint_is_recorded(
    machine_client, developer_team
):
    access_token = tokens(client_credentials(Client(), machine_client))["access_token"]
    token_row = get_access_token_model().objects.get(application=machine_client.app)

    response = revoke(browser(), machine_client, access_token)
    assert response.status_code == 200
    assert not get_access_token_model().objects.filter(pk=token_row.pk).exists()

    event = the_event("oauth.token_revoke")
    assert event.actor is None
    assert event.actor_label == f"app:{machine_client.app.qualified_slug}"
    assert event.team == developer_team
    assert event.target_type == "oauth2_provider.AccessToken"
    assert event.target_id == str(token_row.pk)
    assert event.data == {
        "app": machine_client.app.qualified_slug,
        "token_type": "access_token",
        "user": None,
    }
    assert access_token not in str(event.__dict__)
    assert_from_browser(event)


def test_revoking_a_users_refresh_token_names_the_user(
    owner_client, code_client, resource_owner, developer_team, pkce
):
    code = consent(owner_client, code_client, pkce)
    issued = tokens(exchange_code(Client(), code_client, code, pkce))
    refresh_row = get_refresh_token_model().objects.get(user=resource_owner)

    response = revoke(
        browser(), code_client, issued["refresh_token"], hint="refresh_token"
    )
    assert response.status_code == 200

    event = the_event("oauth.token_revoke")
    assert event.actor_label == f"app:{code_client.app.qualified_slug}"
    assert event.team == developer_team
    assert event.target_type == "oauth2_provider.RefreshToken"
    assert event.target_id == str(refresh_row.pk)
    assert event.data["token_type"] == "refresh_token"
    assert event.data["user"] == resource_owner.email
    assert_from_browser(event)


def test_revoking_an_unknown_token_records_nothing(machine_client):
    response = revoke(browser(), machine_client, "not-a-token-we-issued")

    assert response.status_code == 200
    assert not AuditEvent.objects.filter(action="oauth.token_revoke").exists()


def test_revoking_an_authorized_app_in_the_portal_is_recorded(
    code_client, resource_owner, developer_team, pkce
):
    owner = browser()
    owner.force_login(resource_owner)
    code = consent(owner, code_client, pkce)
    tokens(exchange_code(Client(), code_client, code, pkce))

    response = owner.post(
        reverse("portal:authorized-app-revoke", args=[code_client.app.pk])
    )
    assert response.status_code == 302

    event = the_event("oauth.authorization_revoke")
    assert event.actor == resource_owner
    assert event.team == developer_team
    assert_target(event, code_client.app)
    assert event.data == {"tokens": 2}
    assert_from_browser(event)


@pytest.mark.parametrize(
    ("button", "action"),
    [("allow", "oauth.consent"), ("deny", "oauth.consent_denied")],
)
def test_a_consent_decision_is_recorded(
    code_client, resource_owner, developer_team, pkce, button, action
):
    owner = browser()
    owner.force_login(resource_owner)
    params = authorize_params(code_client, pkce)
    form = {**params, "allow": "Authorize"} if button == "allow" else params

    response = post_form(owner, "/o/authorize/", form)
    assert response.status_code == 302

    event = the_event(action)
    assert event.actor == resource_owner
    assert event.team == developer_team
    assert_target(event, code_client.app)
    assert event.data == {"scopes": ["books:read"]}
    assert_from_browser(event)


# --- subscription decisions (staff, in the admin) -------------------------------


@pytest.fixture
def pending(developer, developer_team, app_factory, catalog):
    app = app_factory(team=developer_team, name="Bulk", slug="bulk")
    subscription = subscription_request(
        app=app, plan=catalog.plans.get(slug="business"), actor=developer
    )
    assert subscription.status == SubscriptionStatus.PENDING
    return subscription


@pytest.fixture
def staff_browser(user_factory) -> tuple[Client, object]:
    staff = user_factory(
        password=None, email="ops@example.com", is_staff=True, is_superuser=True
    )
    client = browser()
    staff_login(client, staff)
    return client, staff


@pytest.mark.parametrize(
    ("admin_action", "action", "status"),
    [
        ("approve", "subscription.approve", SubscriptionStatus.ACTIVE),
        ("reject", "subscription.reject", SubscriptionStatus.REJECTED),
    ],
)
def test_a_subscription_decision_is_recorded(
    staff_browser, pending, developer_team, admin_action, action, status
):
    client, staff = staff_browser

    response = client.post(
        reverse("admin:catalog_subscription_changelist"),
        {
            "action": admin_action,
            "_selected_action": [pending.pk],
            "apply": "1",
            "reason": "Volume checked with the team",
        },
    )
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.status == status

    event = the_event(action)
    assert event.actor == staff
    assert event.actor_label == "ops@example.com"
    assert event.team == developer_team
    assert_target(event, pending)
    assert event.data == {"plan": "business", "reason": "Volume checked with the team"}
    assert_from_browser(event)
