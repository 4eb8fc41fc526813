"""Every portal form turns bad input into a message on the form, saving nothing."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.html import escape
from django.utils.http import urlsafe_base64_encode

from portal.accounts.models import Membership, Role, Team, User
from portal.accounts.tokens import email_verification_token

STRONG = "a-brand-new-passphrase-77"
REQUIRED = "This field is required."
INVALID_EMAIL = "Enter a valid email address."
LAST_OWNER = "A team must keep at least one owner. Make someone else an owner first."


def assert_form_error(response, field, message, *, form="form"):
    """The form came back (200) with ``message`` on ``field`` and on the page."""
    assert response.status_code == 200
    errors = response.context[form].errors
    assert message in errors.get(field, []), errors
    assert escape(message) in response.content.decode()


def account_rows() -> tuple[int, int, int]:
    return User.objects.count(), Team.objects.count(), Membership.objects.count()


def tamper(token: str) -> str:
    return token[:-1] + ("a" if token[-1] != "a" else "b")


def link_in(mail) -> str:
    """The path of the one link in a portal email."""
    return re.search(r"https?://[^/\s]+(/\S+)", mail.body).group(1)


def later(seconds: int):
    return time_machine.travel(timezone.now() + timedelta(seconds=seconds + 1))


def is_logged_in(client, user) -> bool:
    return client.session.get("_auth_user_id") == str(user.pk)


# --- sign-up ------------------------------------------------------------------


def signup(client, **overrides):
    data = {
        "email": "new@example.com",
        "name": "New Developer",
        "password1": STRONG,
        "password2": STRONG,
    }
    return client.post(reverse("portal:signup"), data | overrides)


def test_signup_with_empty_fields_requires_email_and_passwords(client, db):
    response = signup(client, email="", name="", password1="", password2="")

    for field in ("email", "password1", "password2"):
        assert_form_error(response, field, REQUIRED)
    assert account_rows() == (0, 0, 0)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        pytest.param(
            {"email": "a" * 250 + "@example.com"},
            "email",
            "Ensure this value has at most 254 characters (it has 262).",
            id="email-too-long",
        ),
        pytest.param(
            {"name": "n" * 151},
            "name",
            "Ensure this value has at most 150 characters (it has 151).",
            id="name-too-long",
        ),
        pytest.param(
            {"email": "ada.example.com"}, "email", INVALID_EMAIL, id="bad-email"
        ),
        pytest.param(
            {"password2": STRONG + "!"},
            "password2",
            "The two passwords differ.",
            id="password-mismatch",
        ),
        pytest.param(
            {"password1": "Zx9!", "password2": "Zx9!"},
            "password1",
            "This password is too short. It must contain at least 8 characters.",
            id="password-too-short",
        ),
        pytest.param(
            {"password1": "password123", "password2": "password123"},
            "password1",
            "This password is too common.",
            id="password-too-common",
        ),
        pytest.param(
            {"password1": "40718259364", "password2": "40718259364"},
            "password1",
            "This password is entirely numeric.",
            id="password-numeric",
        ),
    ],
)
def test_signup_rejects_bad_input(client, user, overrides, field, message):
    before = account_rows()

    response = signup(client, **overrides)

    assert_form_error(response, field, message)
    assert account_rows() == before


def test_signup_rejects_an_existing_email_in_other_letter_case(client, user_factory):
    user_factory(email="ada@example.com")
    before = account_rows()

    response = signup(client, email="ADA@Example.COM")

    assert_form_error(response, "email", "An account with this email already exists.")
    assert account_rows() == before


def test_signup_creates_account_and_personal_team_and_mails_a_link(
    client, db, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = signup(client, email="ada@example.com", name="Ada")

    assert response.status_code == 200
    assert "We sent a confirmation link to" in response.content.decode()
    user = User.objects.get(email="ada@example.com")
    assert user.name == "Ada"
    assert user.check_password(STRONG)
    assert not user.is_email_verified
    membership = Membership.objects.get(user=user)
    assert membership.role == Role.OWNER
    assert membership.team.is_personal
    assert [mail.to for mail in mailoutbox] == [["ada@example.com"]]
    assert link_in(mailoutbox[0]).startswith("/accounts/verify/")


# --- email verification -------------------------------------------------------


@pytest.fixture
def unverified(user_factory):
    return user_factory(email_verified_at=None)


def verify(client, token):
    return client.get(reverse("portal:verify-email", args=[token]))


def test_verify_email_with_a_tampered_token_is_refused(client, unverified):
    response = verify(client, tamper(email_verification_token(unverified)))

    assert response.status_code == 400
    assert "This confirmation link is not valid" in response.content.decode()
    unverified.refresh_from_db()
    assert not unverified.is_email_verified


def test_verify_email_with_an_expired_token_is_refused(client, unverified):
    token = email_verification_token(unverified)

    with later(settings.EMAIL_VERIFICATION_TIMEOUT):
        response = verify(client, token)

    assert response.status_code == 400
    assert "This confirmation link is not valid" in response.content.decode()
    unverified.refresh_from_db()
    assert not unverified.is_email_verified


def test_verify_email_confirms_the_address_and_sends_to_login(client, unverified):
    response = verify(client, email_verification_token(unverified))

    assert response.status_code == 302
    assert response.url == reverse("portal:login")
    unverified.refresh_from_db()
    assert unverified.is_email_verified


# --- password reset -----------------------------------------------------------


def reset_confirm_url(user, token: str) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("portal:password-reset-confirm", args=[uid, token])


def assert_reset_link_refused(client, url, user, password):
    for response in (
        client.get(url),
        client.post(url, {"new_password1": STRONG, "new_password2": STRONG}),
    ):
        assert response.status_code == 200
        assert "This reset link is not valid" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(password)


def test_password_reset_with_a_tampered_token_is_refused(client, user, password):
    url = reset_confirm_url(user, tamper(default_token_generator.make_token(user)))

    assert_reset_link_refused(client, url, user, password)


def test_password_reset_with_an_expired_token_is_refused(client, user, password):
    url = reset_confirm_url(user, default_token_generator.make_token(user))

    with later(settings.PASSWORD_RESET_TIMEOUT):
        assert_reset_link_refused(client, url, user, password)


def test_password_reset_request_with_a_malformed_email(
    client, user, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("portal:password-reset"), {"email": "nope"})

    assert_form_error(response, "email", INVALID_EMAIL)
    assert mailoutbox == []


def test_password_reset_by_mail_sets_a_password_that_logs_in(
    client, user, password, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("portal:password-reset"), {"email": user.email})
    assert response.status_code == 302
    assert response.url == reverse("portal:password-reset-done")
    assert [mail.to for mail in mailoutbox] == [[user.email]]

    set_password_page = client.get(link_in(mailoutbox[0]), follow=True)
    assert set_password_page.context["validlink"]
    response = client.post(
        set_password_page.redirect_chain[-1][0],
        {"new_password1": STRONG, "new_password2": STRONG},
    )
    assert response.status_code == 302
    assert response.url == reverse("portal:password-reset-complete")

    assert log_in(client, user.email, password).status_code == 200
    response = log_in(client, user.email, STRONG)
    assert response.status_code == 302
    assert is_logged_in(client, user)


# --- password change ----------------------------------------------------------


def change_password(client, old, new1, new2=None):
    return client.post(
        reverse("portal:password-change"),
        {"old_password": old, "new_password1": new1, "new_password2": new2 or new1},
    )


def test_password_change_with_a_wrong_old_password(logged_in_client, user, password):
    response = change_password(logged_in_client, "not-my-password", STRONG)

    assert_form_error(
        response,
        "old_password",
        "Your old password was entered incorrectly. Please enter it again.",
    )
    user.refresh_from_db()
    assert user.check_password(password)


def test_password_change_with_mismatched_new_passwords(
    logged_in_client, user, password
):
    response = change_password(logged_in_client, password, STRONG, STRONG + "!")

    assert_form_error(
        response, "new_password2", "The two password fields didn’t match."
    )
    user.refresh_from_db()
    assert user.check_password(password)


# --- login --------------------------------------------------------------------


def log_in(client, email, password):
    return client.post(
        reverse("portal:login"), {"username": email, "password": password}
    )


def test_login_with_a_wrong_password(client, user):
    response = log_in(client, user.email, "not-my-password")

    assert_form_error(
        response,
        "__all__",
        "That email and password do not match an active account.",
    )
    assert not is_logged_in(client, user)


def test_login_accepts_the_email_in_other_letter_case(client, user_factory, password):
    user = user_factory(email="ada@example.com")

    response = log_in(client, "ADA@Example.COM", password)

    assert response.status_code == 302
    assert response.url == reverse("portal:dashboard")
    assert is_logged_in(client, user)


def test_login_of_an_unverified_user_asks_to_confirm_the_email(
    client, unverified, password
):
    response = log_in(client, unverified.email, password)

    assert_form_error(
        response,
        "__all__",
        "Please confirm your email address first: follow the link we sent "
        "you, or ask for a new one below.",
    )
    assert not is_logged_in(client, unverified)


def test_login_of_an_inactive_user_is_refused(client, user_factory, password):
    user = user_factory(is_active=False)

    response = log_in(client, user.email, password)

    assert_form_error(
        response,
        "__all__",
        "That email and password do not match an active account.",
    )
    assert not is_logged_in(client, user)


# --- teams --------------------------------------------------------------------


def create_team(client, name="Acme", slug=""):
    return client.post(reverse("portal:team-create"), {"name": name, "slug": slug})


@pytest.mark.parametrize(
    ("name", "slug", "field", "message"),
    [
        pytest.param("", "", "name", REQUIRED, id="empty-name"),
        pytest.param(
            "n" * 101,
            "",
            "name",
            "Ensure this value has at most 100 characters (it has 101).",
            id="name-too-long",
        ),
        pytest.param(
            "Acme",
            "Bad Slug!",
            "slug",
            "Enter a valid “slug” consisting of letters, numbers, underscores or "
            "hyphens.",
            id="invalid-slug",
        ),
        pytest.param(
            "Acme",
            "new",
            "slug",
            "This address is reserved; choose another.",
            id="reserved-slug",
        ),
    ],
)
def test_team_create_rejects_bad_input(logged_in_client, name, slug, field, message):
    before = account_rows()

    response = create_team(logged_in_client, name, slug)

    assert_form_error(response, field, message)
    assert account_rows() == before


def test_team_create_rejects_a_taken_slug(logged_in_client, team_factory):
    team_factory(slug="acme")
    before = account_rows()

    response = create_team(logged_in_client, "Acme", "acme")

    assert_form_error(response, "slug", "A team with this address already exists.")
    assert account_rows() == before


def test_team_create_makes_the_user_its_owner(logged_in_client, user):
    response = create_team(logged_in_client, "Acme", "acme")

    assert response.status_code == 302
    assert response.url == reverse("portal:team-detail", args=["acme"])
    assert Membership.objects.get(team__slug="acme").user == user
    assert Membership.objects.get(team__slug="acme").role == Role.OWNER


# --- team members -------------------------------------------------------------


@pytest.fixture
def colleague(user_factory, membership_factory, team):
    user = user_factory(email="colleague@example.com")
    return membership_factory(user=user, team=team, role=Role.MEMBER)


@pytest.fixture
def outsider(user_factory):
    return user_factory(email="outsider@example.com")


@pytest.fixture
def joined_as(user, team_factory, membership_factory):
    """Make ``user`` a member of a new team (with another owner) in ``role``."""

    def join(role: Role) -> Team:
        team = team_factory()
        membership_factory(team=team, role=Role.OWNER)
        membership_factory(user=user, team=team, role=role)
        return team

    return join


def add_member(client, team, email, role=Role.MEMBER):
    return client.post(
        reverse("portal:member-add", args=[team.slug]), {"email": email, "role": role}
    )


@pytest.mark.parametrize(
    ("email", "role", "field", "message"),
    [
        pytest.param(
            "outsider.example.com", "member", "email", INVALID_EMAIL, id="bad-email"
        ),
        pytest.param(
            "nobody@example.com",
            "member",
            "email",
            "No Gatehouse account uses this email. Ask them to sign up first.",
            id="unknown-email",
        ),
        pytest.param(
            "COLLEAGUE@example.com",
            "member",
            "email",
            "They are already a member of this team.",
            id="already-member",
        ),
        pytest.param(
            "outsider@example.com",
            "superuser",
            "role",
            "Select a valid choice. superuser is not one of the available choices.",
            id="invalid-role",
        ),
    ],
)
def test_member_add_rejects_bad_input(
    logged_in_client, team, colleague, outsider, email, role, field, message
):
    before = account_rows()

    response = add_member(logged_in_client, team, email, role)

    assert_form_error(response, field, message, form="add_form")
    assert account_rows() == before


def test_member_add_of_an_owner_by_an_admin_is_forbidden(
    logged_in_client, joined_as, outsider
):
    team = joined_as(Role.ADMIN)
    before = account_rows()

    response = add_member(logged_in_client, team, outsider.email, Role.OWNER)

    assert response.status_code == 403
    assert account_rows() == before


def test_member_add_by_a_plain_member_is_forbidden(
    logged_in_client, joined_as, outsider
):
    team = joined_as(Role.MEMBER)
    before = account_rows()

    response = add_member(logged_in_client, team, outsider.email)

    assert response.status_code == 403
    assert account_rows() == before


@pytest.mark.parametrize(
    ("url_name", "data"),
    [
        pytest.param("portal:member-remove", {}, id="remove-self"),
        pytest.param("portal:member-role", {"role": Role.ADMIN}, id="demote-self"),
        pytest.param("portal:team-leave", {}, id="leave"),
    ],
)
def test_the_last_owner_cannot_go(logged_in_client, user, team, url_name, data):
    own = Membership.objects.get(user=user, team=team)
    args = [team.slug] if url_name == "portal:team-leave" else [team.slug, own.pk]

    response = logged_in_client.post(reverse(url_name, args=args), data, follow=True)

    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == reverse(
        "portal:team-detail", args=[team.slug]
    )
    assert escape(LAST_OWNER) in response.content.decode()
    own.refresh_from_db()
    assert own.role == Role.OWNER
