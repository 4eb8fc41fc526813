"""/api/manage/v1/teams/ and /apps/: read teams, create, read and change apps.

Each operation as a signed-in person (session + CSRF) and as a token.
"""

from __future__ import annotations

import pytest
from django.test import Client

from portal.accounts.models import Role
from portal.audit.models import AuditEvent
from portal.oauth.models import App
from tests.apis.assertions import assert_problem
from tests.apis.manage.conftest import BASE, Caller, signed_in_client

pytestmark = pytest.mark.django_db


def app_url(app) -> str:
    return f"{BASE}apps/{app.pk}/"


# --- teams --------------------------------------------------------------------


def test_a_person_lists_their_teams_with_their_role(
    developer, developer_team, team_factory, membership_factory, session_caller
):
    second = team_factory(name="Another", slug="another")
    membership_factory(user=developer, team=second, role=Role.MEMBER)
    team_factory(name="Not mine", slug="not-mine")

    response = session_caller.get(BASE + "teams/")

    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert body["count"] == 2
    assert {(t["slug"], t["role"]) for t in body["results"]} == {
        (developer_team.slug, "owner"),
        ("another", "member"),
    }
    assert set(body["results"][0]) == {
        "id",
        "slug",
        "name",
        "is_personal",
        "is_active",
        "created_at",
        "role",
    }


def test_a_token_lists_its_apps_team_without_a_role(token_caller, developer_team):
    body = token_caller.get(BASE + "teams/").json()

    assert [(t["id"], t["role"]) for t in body["results"]] == [
        (developer_team.pk, None)
    ]


def test_team_lists_are_paginated(
    developer, team_factory, membership_factory, session_caller
):
    for n in range(3):
        membership_factory(user=developer, team=team_factory(name=f"T{n}"))

    body = session_caller.get(BASE + "teams/", {"page_size": 2}).json()

    assert body["count"] == 4
    assert len(body["results"]) == 2
    assert "page=2" in body["next"]


def test_a_team_is_read_with_its_members_and_roles(
    caller, developer, developer_team, user_factory, membership_factory
):
    admin = user_factory(password=None, email="admin@example.com", name="Ad Min")
    membership_factory(user=admin, team=developer_team, role=Role.ADMIN)
    member = user_factory(password=None, email="member@example.com")
    membership_factory(user=member, team=developer_team, role=Role.MEMBER)

    response = caller.get(f"{BASE}teams/{developer_team.pk}/")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == developer_team.pk
    assert body["slug"] == developer_team.slug
    assert body["role"] == ("owner" if caller.kind == "session" else None)
    assert [(m["email"], m["role"]) for m in body["members"]] == [
        ("admin@example.com", "admin"),
        ("member@example.com", "member"),
        (developer.email, "owner"),
    ]
    assert set(body["members"][0]) == {"id", "email", "name", "role", "joined_at"}
    assert body["members"][0]["name"] == "Ad Min"


# --- apps: list and read ------------------------------------------------------


def test_apps_are_listed_with_id_and_slug(caller, developer_team, app_factory):
    shop = app_factory(team=developer_team, name="Shop", slug="shop")

    response = caller.get(BASE + "apps/")

    assert response.status_code == 200
    results = response.json()["results"]
    assert [(a["slug"], a["id"]) for a in results] == [
        ("manager", App.objects.get(slug="manager").pk),
        ("shop", shop.pk),
    ]
    assert results[1] == {
        "id": shop.pk,
        "slug": "shop",
        "name": "Shop",
        "description": "",
        "status": "active",
        "team": {
            "id": developer_team.pk,
            "slug": developer_team.slug,
            "name": developer_team.name,
        },
        "oauth_enabled": False,
        "created_at": results[1]["created_at"],
        "updated_at": results[1]["updated_at"],
    }


def test_apps_of_one_team(
    developer, developer_team, team_factory, membership_factory, app_factory
):
    second = team_factory(slug="second")
    membership_factory(user=developer, team=second, role=Role.MEMBER)
    app_factory(team=developer_team, slug="first-app")
    theirs = app_factory(team=second, slug="second-app")
    client, _ = signed_in_client(developer)

    body = client.get(BASE + "apps/", {"team": second.pk}).json()

    assert [a["id"] for a in body["results"]] == [theirs.pk]
    assert client.get(BASE + "apps/").json()["count"] == 2


def test_an_app_is_read(caller, developer_team, app_factory):
    app = app_factory(team=developer_team, description="Syncs orders")

    body = caller.get(app_url(app)).json()

    assert (body["id"], body["slug"], body["description"]) == (
        app.pk,
        app.slug,
        "Syncs orders",
    )
    assert "client_secret" not in body
    assert "client_id" not in body


# --- apps: create -------------------------------------------------------------


def test_an_app_is_created(caller, developer, developer_team):
    response = caller.post(
        BASE + "apps/", {"name": "Order Sync", "description": "Syncs orders"}
    )

    assert response.status_code == 201, response.content
    body = response.json()
    app = App.objects.get(pk=body["id"])
    assert (app.team, app.slug, app.name, app.description) == (
        developer_team,
        "order-sync",
        "Order Sync",
        "Syncs orders",
    )
    assert body["slug"] == "order-sync"
    assert body["team"]["id"] == developer_team.pk
    assert app.status == "active"
    assert not app.oauth_enabled
    event = AuditEvent.objects.get(action="app.create", target_id=str(app.pk))
    assert event.team == developer_team
    assert event.actor_label == caller.actor_label
    if caller.kind == "session":
        assert event.actor == developer
        assert app.user == developer
    else:
        assert event.actor is None
        assert app.user is None


def test_a_member_creates_an_app_as_in_the_portal(
    developer_team, user_factory, membership_factory
):
    member = user_factory(password=None)
    membership_factory(user=member, team=developer_team, role=Role.MEMBER)
    client, csrf = signed_in_client(member)
    caller = Caller("session", client, developer_team, "", {"HTTP_X_CSRFTOKEN": csrf})

    response = caller.post(
        BASE + "apps/", {"team": developer_team.pk, "name": "Mine", "slug": "mine"}
    )

    assert response.status_code == 201, response.content
    assert App.objects.filter(team=developer_team, slug="mine").exists()


def test_a_person_in_two_teams_names_the_team(
    developer, developer_team, team_factory, membership_factory, session_caller
):
    second = team_factory(slug="second")
    membership_factory(user=developer, team=second, role=Role.ADMIN)

    unnamed = session_caller.post(BASE + "apps/", {"name": "Where"})
    named = session_caller.post(BASE + "apps/", {"name": "Here", "team": second.pk})

    problem = assert_problem(unnamed, 400, "invalid")
    assert problem["errors"] == {"team": ["Choose one of your teams."]}
    assert named.status_code == 201
    assert App.objects.get(slug="here").team == second


@pytest.mark.parametrize(
    ("data", "status", "code", "field"),
    [
        ({}, 400, "invalid", "name"),
        ({"name": "   "}, 400, "invalid", "name"),
        ({"name": "x" * 256}, 400, "invalid", "name"),
        ({"name": "Shop", "slug": "Bad Slug"}, 400, "invalid", "slug"),
        ({"name": "Shop", "slug": "-shop"}, 400, "invalid", "slug"),
        ({"name": "Shop", "slug": "manager"}, 409, "slug_taken", None),
        ({"name": "Shop", "slug": "new"}, 400, "invalid", None),
        ({"name": "Shop", "description": "d" * 2001}, 400, "invalid", "description"),
        ({"name": "Shop", "team": "one"}, 400, "invalid", "team"),
    ],
)
def test_bad_apps_are_refused(caller, data, status, code, field):
    before, events = App.objects.count(), AuditEvent.objects.count()

    response = caller.post(BASE + "apps/", data)

    problem = assert_problem(response, status, code)
    if field:
        assert field in problem["errors"]
    assert App.objects.count() == before
    assert AuditEvent.objects.count() == events


# --- apps: update, no delete --------------------------------------------------


def test_an_app_is_renamed_and_described(caller, developer_team, app_factory):
    app = app_factory(team=developer_team, name="Old", slug="old")

    response = caller.patch(
        app_url(app), {"name": " New name ", "description": "Now with words"}
    )

    assert response.status_code == 200, response.content
    app.refresh_from_db()
    assert (app.name, app.description, app.slug) == (
        "New name",
        "Now with words",
        "old",
    )
    assert response.json()["name"] == "New name"
    event = AuditEvent.objects.get(action="app.update")
    assert event.data == {
        "changed": ["description", "name"],
        "name": {"from": "Old", "to": "New name"},
    }
    assert event.actor_label == caller.actor_label


def test_an_unchanged_patch_records_nothing(caller, developer_team, app_factory):
    app = app_factory(team=developer_team, name="Same")

    response = caller.patch(app_url(app), {"name": "Same"})

    assert response.status_code == 200
    assert not AuditEvent.objects.filter(action="app.update").exists()


@pytest.mark.parametrize(
    "data",
    [
        {"team": 1},
        {"status": "suspended"},
        {"id": 1},
        {"slug": "renamed"},
        {"oauth_enabled": True},
        {"client_secret": "s"},
        {"name": "Fine", "status": "active"},
    ],
)
def test_privileged_fields_cannot_be_patched(caller, developer_team, app_factory, data):
    app = app_factory(team=developer_team, name="Fixed", slug="fixed")
    before = App.objects.filter(pk=app.pk).values().get()

    response = caller.patch(app_url(app), data)

    problem = assert_problem(response, 400, "invalid")
    assert set(problem["errors"]) == set(data) - {"name"}
    assert App.objects.filter(pk=app.pk).values().get() == before


@pytest.mark.parametrize("data", [{"name": ""}, {"name": None}, {"name": "x" * 256}])
def test_an_app_keeps_a_name(caller, developer_team, app_factory, data):
    app = app_factory(team=developer_team, name="Kept")

    assert_problem(caller.patch(app_url(app), data), 400, "invalid")
    app.refresh_from_db()
    assert app.name == "Kept"


def test_apps_cannot_be_deleted_as_in_the_portal(caller, developer_team, app_factory):
    app = app_factory(team=developer_team)

    response = caller.delete(app_url(app))

    assert_problem(response, 405, "method_not_allowed")
    assert App.objects.filter(pk=app.pk).exists()


def test_a_suspended_app_stays_suspended(caller, developer_team, app_factory):
    app = app_factory(team=developer_team, status="suspended")

    response = caller.patch(app_url(app), {"name": "Renamed"})

    assert response.status_code == 200
    assert response.json()["status"] == "suspended"
    app.refresh_from_db()
    assert app.status == "suspended"


def test_anonymous_sees_nothing(developer_team, app_factory):
    app = app_factory(team=developer_team)

    assert_problem(Client().get(app_url(app)), 401, "not_authenticated")
