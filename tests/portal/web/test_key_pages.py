"""The portal's app and key pages, as a developer uses them."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apis.registry import SERVED_APIS
from portal.audit.models import AuditEvent
from portal.catalog.models import Plan
from portal.catalog.services import catalog_sync, subscription_create_active
from portal.keys.credentials import local_cache_clear
from portal.keys.models import ApiKey
from portal.oauth.models import App

KEY_RE = re.compile(r"gk_test_[0-9a-z]{12}_[0-9A-Za-z]{38}")


@pytest.fixture(autouse=True)
def _fresh_local_cache():
    local_cache_clear()


@pytest.fixture
def app(team, app_factory):
    catalog_sync(specs=SERVED_APIS)
    app = app_factory(team=team, slug="shop")
    subscription_create_active(
        app=app, plan=Plan.objects.get(api__slug="books", slug="starter")
    )
    return app


def url(name, app, *args):
    return reverse(f"portal:{name}", args=[app.team.slug, app.slug, *args])


def create_key(client, app, **data) -> str:
    payload = {"name": "server", "scopes": ["books:read"], **data}
    response = client.post(url("key-create", app), payload)
    assert response.status_code == 200
    match = KEY_RE.search(response.content.decode())
    assert match, response.content.decode()[:2000]
    return match.group(0)


def test_member_creates_an_app(logged_in_client, team):
    response = logged_in_client.post(
        reverse("portal:app-create", args=[team.slug]),
        {"name": "Order Sync", "description": "Syncs orders"},
    )
    app = App.objects.get(team=team, slug="order-sync")
    assert response.status_code == 302
    assert response.url == reverse("portal:app-detail", args=[team.slug, app.slug])
    assert AuditEvent.objects.filter(action="app.create", team=team).exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({"name": "x" * 256}, "at most 255 characters"),
        ({"name": "Shop", "slug": "Bad Slug"}, "lower-case letters"),
        ({"name": "Shop", "slug": "new"}, "reserved"),
        ({"name": "Shop", "slug": "shop"}, "already has an app"),
    ],
)
def test_app_form_rejects_bad_input(logged_in_client, app, data, message):
    before = App.objects.count()
    response = logged_in_client.post(
        reverse("portal:app-create", args=[app.team.slug]), data
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert App.objects.count() == before


def test_key_is_shown_once_then_works(logged_in_client, client, app):
    response = logged_in_client.post(
        url("key-create", app), {"name": "server", "scopes": ["books:read"]}
    )
    full_key = KEY_RE.search(response.content.decode()).group(0)
    assert "no-store" in response["Cache-Control"]
    assert "only time it is shown" in response.content.decode()

    key = ApiKey.objects.get(app=app)
    assert full_key not in (key.secret_hash, key.lookup_id)
    page = logged_in_client.get(url("app-detail", app)).content.decode()
    assert key.lookup_id in page
    assert full_key not in page

    api = client.get("/api/books/v1/books/", HTTP_X_API_KEY=full_key)
    assert api.status_code == 200
    event = AuditEvent.objects.get(action="api_key.issue")
    assert full_key not in str(event.data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({"name": "k", "scopes": ["books:admin"]}, "Select a valid choice"),
        ({"name": "k", "allowed_ips": "10.0.0.0/33"}, "not an IP address"),
        ({"name": "k", "expires_in_days": "0"}, "greater than or equal to 1"),
        ({"name": "k", "expires_in_days": "abc"}, "Enter a whole number"),
    ],
)
def test_key_form_rejects_bad_input(logged_in_client, app, data, message):
    response = logged_in_client.post(url("key-create", app), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ApiKey.objects.exists()


def test_revoke_asks_for_confirmation_then_refuses_the_key(
    logged_in_client, client, app
):
    full_key = create_key(logged_in_client, app)
    key = ApiKey.objects.get(app=app)
    confirm = logged_in_client.get(url("key-revoke", app, key.lookup_id))
    assert confirm.status_code == 200
    assert "Revoke key" in confirm.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is None  # GET changes nothing

    done = logged_in_client.post(
        url("key-revoke", app, key.lookup_id), {"reason": "leaked in a log"}
    )
    assert done.status_code == 302
    key.refresh_from_db()
    assert key.revoked_reason == "leaked in a log"
    response = client.get("/api/books/v1/books/", HTTP_X_API_KEY=full_key)
    assert response.status_code == 401
    assert response.json()["code"] == "key_revoked"


def test_rotate_shows_the_new_key_and_keeps_the_old_one_for_the_grace(
    logged_in_client, client, app
):
    old_key = create_key(logged_in_client, app)
    key = ApiKey.objects.get(app=app)
    response = logged_in_client.post(
        url("key-rotate", app, key.lookup_id), {"grace": "3600"}
    )
    new_key = KEY_RE.search(response.content.decode()).group(0)
    assert new_key != old_key
    key.refresh_from_db()
    assert key.expires_at is not None
    for presented in (old_key, new_key):
        api = client.get("/api/books/v1/books/", HTTP_X_API_KEY=presented)
        assert api.status_code == 200


@pytest.mark.parametrize(
    ("action", "data", "message"),
    [
        ("rename", {"name": ""}, "This field is required."),
        ("scopes", {"scopes": ["books:admin"]}, "Select a valid choice"),
        ("expiry", {"expires_at": "2001-01-01T00:00"}, "must be in the future"),
        ("expiry", {"expires_at": "soon"}, "Enter a valid date/time"),
        ("ips", {"allowed_ips": "300.1.1.1"}, "not an IP address"),
    ],
)
def test_key_settings_reject_bad_input(logged_in_client, app, action, data, message):
    create_key(logged_in_client, app)
    key = ApiKey.objects.get(app=app)
    before = (key.name, key.scopes, key.expires_at, key.allowed_ips)
    response = logged_in_client.post(
        url("key-detail", app, key.lookup_id), {"action": action, **data}
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    key.refresh_from_db()
    assert (key.name, key.scopes, key.expires_at, key.allowed_ips) == before


def test_key_settings_change(logged_in_client, app):
    create_key(logged_in_client, app)
    key = ApiKey.objects.get(app=app)
    target = url("key-detail", app, key.lookup_id)
    logged_in_client.post(target, {"action": "rename", "name": "renamed"})
    logged_in_client.post(
        target, {"action": "scopes", "scopes": ["books:read", "books:write"]}
    )
    logged_in_client.post(
        target, {"action": "ips", "allowed_ips": "10.0.0.0/8\n2001:db8::/32"}
    )
    key.refresh_from_db()
    assert key.name == "renamed"
    assert key.scopes == ["books:read", "books:write"]
    assert key.allowed_ips == ["10.0.0.0/8", "2001:db8::/32"]


def test_another_teams_app_and_keys_are_not_found(client, app, user_factory):
    owner_client = client
    owner_client.force_login(app.team.memberships.first().user)
    create_key(owner_client, app)
    lookup_id = ApiKey.objects.get(app=app).lookup_id
    owner_client.logout()

    client.force_login(user_factory())
    for name, args in [
        ("app-detail", ()),
        ("key-detail", (lookup_id,)),
        ("key-revoke", (lookup_id,)),
        ("key-rotate", (lookup_id,)),
    ]:
        assert client.get(url(name, app, *args)).status_code == 404
        assert client.post(url(name, app, *args), {}).status_code == 404
    assert client.post(url("key-create", app), {"name": "x"}).status_code == 404
    assert (
        client.get(reverse("portal:app-create", args=[app.team.slug])).status_code
        == 404
    )
    assert ApiKey.objects.get(lookup_id=lookup_id).revoked_at is None
    assert ApiKey.objects.count() == 1
