"""Account, team and membership use cases, called directly."""

from __future__ import annotations

import pytest

from portal.accounts import services
from portal.accounts.models import Membership, Role, Team, User
from portal.audit.models import AuditEvent
from portal.errors import Conflict, Forbidden, InvalidInput

PASSWORD = "a-brand-new-passphrase-77"


def rows() -> tuple[int, int, int, int]:
    return (
        User.objects.count(),
        Team.objects.count(),
        Membership.objects.count(),
        AuditEvent.objects.count(),
    )


# --- user_signup --------------------------------------------------------------


def test_user_signup_creates_a_personal_team_owned_by_the_user(db):
    user = services.user_signup(email="ada@example.com", password=PASSWORD, name="Ada")

    assert user.check_password(PASSWORD)
    assert not user.is_email_verified
    membership = Membership.objects.get(user=user)
    assert membership.role == Role.OWNER
    assert membership.team.is_personal
    assert membership.team.name == "Ada's team"
    assert AuditEvent.objects.filter(action="user.signup", actor=user).exists()


def test_user_signup_gives_each_personal_team_a_unique_slug(db):
    first = services.user_signup(email="sam@a.com", password=PASSWORD)
    second = services.user_signup(email="sam@b.com", password=PASSWORD)

    slugs = [Team.objects.get(members=u).slug for u in (first, second)]
    assert slugs == ["sam", "sam-2"]


def test_user_signup_refuses_an_email_taken_in_other_letter_case(user_factory):
    user_factory(email="sam@example.com")
    before = rows()

    with pytest.raises(Conflict) as excinfo:
        services.user_signup(email="SAM@Example.COM", password=PASSWORD)

    assert excinfo.value.code == "email_taken"
    assert excinfo.value.field == "email"
    assert rows() == before


# --- team_create --------------------------------------------------------------


def test_team_create_refuses_a_reserved_slug(user):
    before = rows()

    with pytest.raises(InvalidInput) as excinfo:
        services.team_create(actor=user, name="New", slug="new")

    assert excinfo.value.code == "slug_reserved"
    assert rows() == before


def test_team_create_refuses_a_taken_slug(user, team_factory):
    team_factory(slug="acme")
    before = rows()

    with pytest.raises(Conflict) as excinfo:
        services.team_create(actor=user, name="Acme", slug="acme")

    assert excinfo.value.code == "slug_taken"
    assert rows() == before


def test_team_create_derives_a_free_slug_from_the_name(user, team_factory):
    team_factory(slug="acme")

    assert services.team_create(actor=user, name="Acme").slug == "acme-2"
    assert services.team_create(actor=user, name="New").slug == "new-2"


# --- memberships --------------------------------------------------------------


@pytest.fixture
def owner(user, team):
    """``user``'s membership: the only owner of ``team``."""
    return Membership.objects.get(user=user, team=team)


@pytest.fixture
def join(team, membership_factory):
    def join(role: Role) -> Membership:
        return membership_factory(team=team, role=role)

    return join


def test_an_admin_cannot_demote_an_owner(owner, join):
    admin = join(Role.ADMIN)

    with pytest.raises(Forbidden):
        services.membership_change_role(
            actor_membership=admin, membership=owner, role=Role.MEMBER
        )

    owner.refresh_from_db()
    assert owner.role == Role.OWNER


def test_an_admin_cannot_add_an_owner(join, user_factory):
    admin = join(Role.ADMIN)
    newcomer = user_factory()

    with pytest.raises(Forbidden):
        services.membership_add(
            actor_membership=admin, email=newcomer.email, role=Role.OWNER
        )

    assert not Membership.objects.filter(user=newcomer).exists()


def test_a_plain_member_cannot_manage_members(join):
    member, other = join(Role.MEMBER), join(Role.MEMBER)

    with pytest.raises(Forbidden):
        services.membership_remove(actor_membership=member, membership=other)

    assert Membership.objects.filter(pk=other.pk).exists()


def test_the_last_owner_cannot_be_demoted(owner):
    before = rows()

    with pytest.raises(Conflict) as excinfo:
        services.membership_change_role(
            actor_membership=owner, membership=owner, role=Role.ADMIN
        )

    assert excinfo.value.code == "last_owner"
    owner.refresh_from_db()
    assert owner.role == Role.OWNER
    assert rows() == before


def test_the_last_owner_cannot_be_removed_or_leave(owner):
    before = rows()
    # "Remove" on one's own row (a fresh copy, as the view loads it) is leaving.
    for target in (owner, Membership.objects.get(pk=owner.pk)):
        with pytest.raises(Conflict) as excinfo:
            services.membership_remove(actor_membership=owner, membership=target)
        assert excinfo.value.code == "last_owner"

    assert rows() == before


def test_the_last_owner_stays_even_when_admins_remain(owner, join):
    join(Role.ADMIN)

    with pytest.raises(Conflict) as excinfo:
        services.membership_remove(actor_membership=owner, membership=owner)

    assert excinfo.value.code == "last_owner"
    assert Membership.objects.filter(pk=owner.pk).exists()


def test_an_owner_can_step_down_when_another_owner_remains(owner, join):
    join(Role.OWNER)

    services.membership_change_role(
        actor_membership=owner, membership=owner, role=Role.ADMIN
    )

    owner.refresh_from_db()
    assert owner.role == Role.ADMIN
    event = AuditEvent.objects.get(action="team.member_role_change")
    assert event.data == {"from": Role.OWNER, "to": Role.ADMIN}


def test_an_owner_can_leave_when_another_owner_remains(owner, join):
    join(Role.OWNER)

    services.membership_remove(actor_membership=owner, membership=owner)

    assert not Membership.objects.filter(pk=owner.pk).exists()
    assert AuditEvent.objects.filter(action="team.leave").exists()
