"""The Django admin over every model: each page renders for a superuser,
refuses staff without the permission, never shows a secret, and a change
list costs the same number of queries for one row as for two.
"""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse

from portal.accounts.models import User
from portal.audit.models import AuditEvent
from portal.oauth.models import App
from tests.portal.dashboard.admin_world import (
    admin_url,
    form_data,
    populate,
    registered,
    some_row,
    totp_secrets,
)
from tests.staff import staff_login

# Framework tables with nothing for staff to act on. Recovery codes
# (StaticToken) are shown only as a count on their device's page.
NOT_IN_ADMIN = {
    "admin.LogEntry",
    "auth.Permission",
    "contenttypes.ContentType",
    "sessions.Session",
    "otp_static.StaticToken",
}


@pytest.fixture
def superuser(user_factory):
    return user_factory(
        email="root@example.com", is_staff=True, is_superuser=True, password=None
    )


@pytest.fixture
def staff_client(client, superuser):
    device = staff_login(client, superuser)
    client.own_secrets = totp_secrets(device)
    return client


@pytest.fixture
def world(starter_plan):
    return populate("one", plan=starter_plan)


def test_every_model_of_the_project_is_in_the_admin():
    labels = {model._meta.label for model in apps.get_models()}
    in_admin = {model._meta.label for model, _ in registered()}

    assert sorted(labels - in_admin - NOT_IN_ADMIN) == []


def test_the_world_has_a_row_of_every_model_in_the_admin(world):
    empty = [model._meta.label for model, _ in registered() if some_row(model) is None]

    assert empty == []


def test_every_change_list_search_and_change_page_renders(staff_client, world):
    assert staff_client.get(reverse("admin:index")).status_code == 200
    failures = []
    for model, model_admin in registered():
        label = model._meta.label
        changelist = admin_url(model, "changelist")
        pages = [changelist]
        if model_admin.search_fields:
            pages.append(f"{changelist}?q=one")
        row = some_row(model)
        if row is not None:
            pages.append(admin_url(model, "change", row.pk))
        for url in pages:
            response = staff_client.get(url)
            if response.status_code != 200:
                failures.append((label, url, response.status_code))
    assert failures == []


def test_a_search_finds_rows_by_their_names(staff_client, world):
    key = world.objects["key"]
    searches = {
        User: ("dev-one@", world.objects["user"]),
        App: ("team-one", world.objects["app"]),
        type(key): (key.lookup_id, key),
    }
    for model, (term, row) in searches.items():
        response = staff_client.get(admin_url(model, "changelist"), {"q": term})
        assert [obj.pk for obj in response.context["cl"].result_list] == [row.pk]


def test_no_secret_appears_on_any_admin_page(staff_client, world):
    secrets = world.secrets + staff_client.own_secrets
    assert len(secrets) >= 20
    leaks = []
    for model, _ in registered():
        urls = [admin_url(model, "changelist")]
        urls += [admin_url(model, "change", row.pk) for row in model.objects.all()]
        for url in urls:
            response = staff_client.get(url)
            assert response.status_code == 200, url
            html = response.content.decode()
            leaks += [(url, secret[:6]) for secret in secrets if secret in html]
    assert leaks == []


def test_the_user_page_says_a_password_is_set_and_shows_nothing_of_the_hash(
    staff_client, world
):
    user = world.objects["user"]
    algorithm, *_, salt, digest = user.password.split("$")

    response = staff_client.get(admin_url(User, "change", user.pk))

    html = response.content.decode()
    assert "Password set" in html
    assert "stored hashed (argon2)" in html
    assert salt[:6] not in html
    assert digest[:6] not in html
    assert "Reset password" in html


def test_changelists_cost_the_same_queries_for_one_row_as_for_two(
    staff_client, starter_plan
):
    def counts():
        result = {}
        for model, _ in registered():
            url = admin_url(model, "changelist")
            staff_client.get(url)  # warm per-process caches (content types)
            with CaptureQueriesContext(connection) as queries:
                assert staff_client.get(url).status_code == 200
            result[model._meta.label] = len(queries)
        return result

    populate("one", plan=starter_plan)
    with_one = counts()
    populate("two", plan=starter_plan)
    with_two = counts()

    grown = {
        label: (with_one[label], with_two[label])
        for label in with_one
        if with_two[label] != with_one[label]
    }
    assert grown == {}


def test_staff_without_permissions_get_403_on_every_model_page(
    client, user_factory, world
):
    staff = user_factory(email="helpdesk@example.com", is_staff=True, password=None)
    staff_login(client, staff)

    allowed = []
    for model, _ in registered():
        row = some_row(model)
        urls = [admin_url(model, "changelist"), admin_url(model, "add")]
        if row is not None:
            urls.append(admin_url(model, "change", row.pk))
        for url in urls:
            status = client.get(url).status_code
            if status != 403:
                allowed.append((url, status))
    assert allowed == []
    assert client.get("/admin/").status_code == 200  # the index itself opens


def test_view_permission_opens_a_model_read_only(client, user_factory, world):
    staff = user_factory(email="viewer@example.com", is_staff=True, password=None)
    staff.user_permissions.add(Permission.objects.get(codename="view_apikey"))
    staff_login(client, staff)
    key = world.objects["key"]

    listing = client.get(admin_url(type(key), "changelist"))
    page = client.get(admin_url(type(key), "change", key.pk))

    assert listing.status_code == 200
    assert listing.context["action_form"] is None  # revoking needs change
    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert client.get(admin_url(User, "changelist")).status_code == 403


@pytest.mark.parametrize(
    "name", ["key", "access", "refresh", "grant", "id_token", "device_grant"]
)
def test_credentials_cannot_be_added_edited_or_deleted(staff_client, world, name):
    row = world.objects[name]
    model = type(row)

    assert staff_client.get(admin_url(model, "add")).status_code == 403
    assert staff_client.post(admin_url(model, "change", row.pk), {}).status_code == 403
    assert staff_client.post(admin_url(model, "delete", row.pk)).status_code == 403
    assert model.objects.filter(pk=row.pk).exists()


def test_usage_rows_are_read_only(staff_client, world):
    for name in ("usage", "app_usage", "recent", "batch"):
        row = world.objects[name]
        model = type(row)
        page = staff_client.get(admin_url(model, "change", row.pk))
        assert page.context["has_change_permission"] is False
        assert staff_client.get(admin_url(model, "add")).status_code == 403
        assert staff_client.post(admin_url(model, "delete", row.pk)).status_code == 403


def test_a_staff_member_adds_a_user_with_a_password(staff_client, db):
    response = staff_client.post(
        admin_url(User, "add"),
        {
            "email": "New.Person@Example.COM",
            "name": "New Person",
            "usable_password": "true",
            "password1": "a-long-and-unusual-passphrase-7",
            "password2": "a-long-and-unusual-passphrase-7",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    user = User.objects.get(email="New.Person@example.com")
    assert user.check_password("a-long-and-unusual-passphrase-7")
    assert user.is_active and not user.is_staff
    event = AuditEvent.objects.get(action="user.create")
    assert event.target_id == str(user.pk)


def test_adding_a_user_whose_address_exists_in_another_case_is_refused(
    staff_client, world
):
    response = staff_client.post(
        admin_url(User, "add"),
        {
            "email": "DEV-ONE@example.com",
            "usable_password": "false",
        },
    )

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert User.objects.filter(email__iexact="dev-one@example.com").count() == 1


def test_the_user_change_form_saves(staff_client, world):
    user = world.objects["user"]
    url = admin_url(User, "change", user.pk)
    page = staff_client.get(url)

    response = staff_client.post(url, form_data(page, User, name="Renamed"))

    assert response.status_code == 302, response.context["adminform"].form.errors
    user.refresh_from_db()
    assert user.name == "Renamed"
    assert user.is_active
    assert not AuditEvent.objects.filter(action="user.staff_role_changed").exists()


def test_the_totp_device_page_offers_no_qr_code_or_key(staff_client, world):
    totp = world.objects["totp"]
    change = admin_url(type(totp), "change", totp.pk)

    page = staff_client.get(change)
    config = staff_client.get(change.replace("/change/", "/config/"), follow=True)

    assert page.status_code == 200
    assert "qrcode" not in page.content.decode().lower()
    # django-otp's key and QR code views are not routed.
    for name in ("config", "qrcode"):
        with pytest.raises(NoReverseMatch):
            reverse(f"admin:otp_totp_totpdevice_{name}", kwargs={"pk": totp.pk})
    assert totp.key not in config.content.decode()
