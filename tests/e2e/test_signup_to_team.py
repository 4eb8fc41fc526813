import re

from django.core import mail

from portal.accounts.models import Membership, Role, Team, User
from tests.factories import UserFactory


def test_sign_up_verify_log_in_create_team_add_member(page, transactional_db):
    colleague = UserFactory(email="grace@example.com")
    password = "a-long-unusual-passphrase-9"

    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Name (optional)").fill("Ada")
    page.get_by_label("Password:", exact=True).fill(password)
    page.get_by_label("Password again").fill(password)
    page.get_by_role("button", name="Sign up").click()
    page.get_by_role("heading", name="Check your email").wait_for()

    # Logging in before confirming is refused with a clear message.
    page.goto("/accounts/login/")
    login_form = page.locator("main form.card")
    login_form.get_by_label("Email").fill("ada@example.com")
    login_form.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_text("Please confirm your email address first").wait_for()

    assert len(mail.outbox) == 1
    link = re.search(r"https?://\S+/accounts/verify/\S+/", mail.outbox[0].body)
    assert link, mail.outbox[0].body
    page.goto(link.group(0))
    page.get_by_text("Your email address is confirmed").wait_for()

    login_form.get_by_label("Email").fill("ada@example.com")
    login_form.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Dashboard").wait_for()
    assert page.get_by_role("link", name="Ada's team").count() >= 1

    page.get_by_role("link", name="Create a team").click()
    page.get_by_label("Name").fill("Analytical Engines")
    page.get_by_role("button", name="Create team").click()
    page.get_by_role("heading", name="Analytical Engines").wait_for()
    assert page.url.endswith("/teams/analytical-engines/")

    page.get_by_label("Email").fill("GRACE@example.com")
    page.get_by_label("Role:", exact=True).select_option("admin")
    page.get_by_role("button", name="Add member").click()
    page.get_by_text("grace@example.com added as admin").wait_for()

    team = Team.objects.get(slug="analytical-engines")
    ada = User.objects.get(email="ada@example.com")
    assert Membership.objects.get(team=team, user=ada).role == Role.OWNER
    assert Membership.objects.get(team=team, user=colleague).role == Role.ADMIN
