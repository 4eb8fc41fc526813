"""A team's pages and actions exist only for its members: others get 404."""

from __future__ import annotations

import pytest
from django.urls import reverse

from portal.accounts.models import Membership, Role, Team
from portal.audit.models import AuditEvent

# Every page and action of a team, as (method, URL name, takes a membership id).
TEAM_ENDPOINTS = [
    pytest.param(("get", "portal:team-detail", False), id="team-detail"),
    pytest.param(("post", "portal:member-add", False), id="member-add"),
    pytest.param(("post", "portal:member-role", True), id="member-role"),
    pytest.param(("post", "portal:member-remove", True), id="member-remove"),
    pytest.param(("post", "portal:team-leave", False), id="team-leave"),
]
MEMBER_ENDPOINTS = [p for p in TEAM_ENDPOINTS if p.values[0][2]]


@pytest.fixture
def other_team(team_factory, membership_factory):
    """Team X: an owner and a member, neither of them the logged-in user."""
    team = team_factory(name="Team X", slug="team-x")
    membership_factory(team=team, role=Role.OWNER)
    membership_factory(team=team, role=Role.MEMBER)
    return team


@pytest.fixture
def other_member(other_team):
    return other_team.memberships.get(role=Role.MEMBER)


def db_state():
    return (
        list(Team.objects.values_list("pk", "slug", "name", "is_active")),
        list(Membership.objects.values_list("pk", "team_id", "user_id", "role")),
        AuditEvent.objects.count(),
    )


def call(client, endpoint, team_slug, membership_id, user):
    """Request ``endpoint`` of ``team_slug`` as ``user``; returns (url, response)."""
    method, url_name, with_member = endpoint
    args = [team_slug, membership_id] if with_member else [team_slug]
    url = reverse(url_name, args=args)
    if method == "get":
        return url, client.get(url)
    # One hostile payload for every action: add or promote the caller as owner.
    return url, client.post(url, {"email": user.email, "role": Role.OWNER})


@pytest.mark.parametrize("endpoint", TEAM_ENDPOINTS)
def test_a_non_member_gets_404_from_another_team(
    logged_in_client, user, team, other_team, other_member, endpoint
):
    before = db_state()

    _, response = call(
        logged_in_client, endpoint, other_team.slug, other_member.pk, user
    )

    assert response.status_code == 404
    assert other_team.name not in response.content.decode()
    assert db_state() == before


@pytest.mark.parametrize("endpoint", TEAM_ENDPOINTS)
def test_a_team_that_does_not_exist_is_404(
    logged_in_client, user, team, other_member, endpoint
):
    before = db_state()

    _, response = call(
        logged_in_client, endpoint, "no-such-team", other_member.pk, user
    )

    assert response.status_code == 404
    assert db_state() == before


@pytest.mark.parametrize("endpoint", MEMBER_ENDPOINTS)
def test_another_teams_membership_under_my_own_team_is_404(
    logged_in_client, user, team, other_member, endpoint
):
    before = db_state()

    _, response = call(logged_in_client, endpoint, team.slug, other_member.pk, user)

    assert response.status_code == 404
    assert db_state() == before


@pytest.mark.parametrize("endpoint", TEAM_ENDPOINTS)
def test_anonymous_users_are_sent_to_login(
    client, user, other_team, other_member, endpoint
):
    before = db_state()

    url, response = call(client, endpoint, other_team.slug, other_member.pk, user)

    assert response.status_code == 302
    assert response.url == f"{reverse('portal:login')}?next={url}"
    assert db_state() == before
