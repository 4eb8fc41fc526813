"""The Django admin opens only for active staff who passed their second factor.

The URLs are collected from ``admin.site`` when the test runs, so every
``ModelAdmin`` registered anywhere in the project (and any custom view it
adds) is covered.
"""

from __future__ import annotations

import datetime as dt
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import time_machine
from django.contrib import admin
from django.urls import URLResolver, reverse
from django.urls.converters import IntConverter, UUIDConverter
from django.urls.resolvers import RoutePattern
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from portal.audit.models import AuditEvent
from portal.dashboard.sites import GatehouseAdminSite
from tests.staff import staff_login, totp_device


def admin_paths() -> list[str]:
    """A path for every named view of the admin site, plus an unknown one."""
    app_label = next(iter(admin.site._registry))._meta.app_label
    paths = []

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
                continue
            if not pattern.name or pattern.name == "login":
                continue
            kwargs = {}
            if isinstance(pattern.pattern, RoutePattern):
                for name, converter in pattern.pattern.converters.items():
                    if isinstance(converter, IntConverter):
                        kwargs[name] = 1
                    elif isinstance(converter, UUIDConverter):
                        kwargs[name] = uuid.uuid4()
                    else:
                        kwargs[name] = "1"
            else:
                for name in pattern.pattern.regex.groupindex:
                    kwargs[name] = app_label if name == "app_label" else "1"
            paths.append(reverse(f"admin:{pattern.name}", kwargs=kwargs))

    walk(admin.site.get_urls())
    return [*paths, "/admin/nowhere/"]


def changelist_paths() -> list[str]:
    return [
        reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        for model in admin.site._registry
    ]


def redirect_of(response) -> tuple[str, str | None]:
    """Where a redirect goes: its path and its ``next``, decoded."""
    assert response.status_code == 302
    url = urlsplit(response["Location"])
    return url.path, parse_qs(url.query).get("next", [None])[0]


def code_for(device: TOTPDevice) -> str:
    device.refresh_from_db()
    value = totp(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return f"{value:0{device.digits}d}"


@pytest.fixture
def staff(user_factory):
    return user_factory(is_staff=True, is_superuser=True)


@pytest.fixture
def clock():
    now = timezone.now().replace(microsecond=0)
    start = now - dt.timedelta(seconds=now.timestamp() % 30) + dt.timedelta(seconds=5)
    with time_machine.travel(start, tick=False) as traveller:
        yield traveller


def test_the_default_admin_site_is_gatehouses():
    assert isinstance(admin.site._wrapped, GatehouseAdminSite) or isinstance(
        admin.site, GatehouseAdminSite
    )
    assert admin.site.site_header == "Gatehouse staff"
    paths = admin_paths()
    # Every registered model's list page is among the paths checked below.
    assert set(changelist_paths()) <= set(paths)
    assert len(changelist_paths()) == len(admin.site._registry) > 0


def test_anonymous_visitors_go_to_the_portal_login(client, db):
    for path in admin_paths():
        response = client.get(path)
        assert response.status_code == 302, path
        assert redirect_of(response) == (reverse("portal:login"), path)


def test_the_admin_login_form_is_the_portal_login(client, db):
    response = client.get(reverse("admin:login"), {"next": "/admin/catalog/"})

    assert redirect_of(response) == (reverse("portal:login"), "/admin/catalog/")
    # A password posted to it logs no one in.
    client.post(reverse("admin:login"), {"username": "x", "password": "y"})
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    "flags",
    [
        {"is_staff": False, "is_superuser": False},
        {"is_staff": False, "is_superuser": True},
    ],
    ids=["developer", "superuser-flag-without-staff"],
)
def test_users_who_are_not_staff_get_404_everywhere(client, user_factory, flags):
    user = user_factory(**flags)
    # Even with a verified second factor: the admin is not theirs.
    staff_login(client, user)

    for path in admin_paths():
        assert client.get(path).status_code == 404, path


def test_staff_without_2fa_reach_no_admin_page(client, staff):
    client.force_login(staff)

    for path in admin_paths():
        response = client.get(path)
        assert response.status_code == 302, path
        assert redirect_of(response) == (reverse("portal:twofactor-setup"), path)


def test_staff_without_2fa_cannot_act_through_a_post(client, staff, user_factory):
    victim_device = totp_device(user_factory())
    client.force_login(staff)
    changelist = reverse("admin:otp_totp_totpdevice_changelist")

    response = client.post(
        changelist,
        {
            "action": "delete_selected",
            "_selected_action": [victim_device.pk],
            "post": "yes",
        },
    )
    delete = client.post(
        reverse("admin:otp_totp_totpdevice_delete", args=[victim_device.pk]),
        {"post": "yes"},
    )

    assert response.status_code == 302 and delete.status_code == 302
    assert response["Location"].startswith(reverse("portal:twofactor-setup"))
    assert TOTPDevice.objects.filter(pk=victim_device.pk).exists()
    for path in changelist_paths():
        assert client.post(path, {"action": "delete_selected"}).status_code == 302


def test_staff_with_an_unverified_session_are_sent_to_verify(client, staff):
    totp_device(staff)
    client.force_login(staff)

    for path in (reverse("admin:index"), *changelist_paths()):
        response = client.get(path)
        assert response.status_code == 302, path
        assert redirect_of(response) == (reverse("portal:twofactor-verify"), path)


def test_inactive_staff_are_refused(client, staff):
    staff_login(client, staff)
    staff.is_active = False
    staff.save(update_fields=["is_active"])

    response = client.get(reverse("admin:index"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("portal:login"))


def test_verified_staff_open_the_index_and_every_list(client, staff):
    staff_login(client, staff)

    index = client.get(reverse("admin:index"))

    assert index.status_code == 200
    assert "Gatehouse staff" in index.content.decode()
    for path in changelist_paths():
        assert client.get(path).status_code == 200, path


def test_staff_permissions_stay_djangos(client, user_factory):
    clerk = user_factory(is_staff=True, is_superuser=False)
    staff_login(client, clerk)

    assert client.get(reverse("admin:index")).status_code == 200
    # Staff without the model permission: Django's 403, not the page.
    response = client.get(reverse("admin:otp_totp_totpdevice_changelist"))
    assert response.status_code == 403


def test_the_device_admin_never_shows_secrets(client, staff, user_factory, password):
    from portal.accounts import twofactor

    developer = user_factory()
    pending = twofactor.totp_enrolment_get_or_start(user=developer)
    device, codes = twofactor.totp_enrolment_confirm(
        user=developer, code=code_for(pending), password=password
    )
    staff_login(client, staff)

    totp_page = client.get(
        reverse("admin:otp_totp_totpdevice_change", args=[device.pk])
    ).content.decode()
    static = developer.staticdevice_set.get()
    static_page = client.get(
        reverse("admin:otp_static_staticdevice_change", args=[static.pk])
    ).content.decode()

    assert device.key not in totp_page
    assert "qrcode" not in totp_page
    for token in static.token_set.values_list("token", flat=True):
        assert token not in static_page
    assert not any(code in static_page for code in codes)


def test_admin_logout_goes_back_to_the_portal(client, staff):
    staff_login(client, staff)

    response = client.post(reverse("admin:logout"))

    assert response.status_code == 302
    assert response["Location"] == reverse("portal:login")
    assert "_auth_user_id" not in client.session


# --- the way in: portal login, then the second factor -------------------------


def test_staff_without_2fa_set_it_up_and_then_open_the_admin(
    client, staff, password, clock
):
    response = client.post(
        reverse("portal:login"),
        {"username": staff.email, "password": password, "next": "/admin/"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    sent = client.get("/admin/")
    setup_url = f"{reverse('portal:twofactor-setup')}?{urlencode({'next': '/admin/'})}"
    assert sent["Location"] == setup_url
    assert client.get(setup_url).status_code == 200
    device = TOTPDevice.objects.get(user=staff, confirmed=False)

    done = client.post(
        setup_url,
        {"code": code_for(device), "password": password, "next": "/admin/"},
    )

    assert done.status_code == 200
    assert 'href="/admin/"' in done.content.decode()
    assert client.get("/admin/").status_code == 200
    assert AuditEvent.objects.filter(action="user.2fa_enabled", actor=staff).exists()


def test_staff_with_2fa_log_in_with_a_code_and_open_the_admin(
    client, staff, password, clock
):
    device = totp_device(staff)
    client.post(
        reverse("portal:login"),
        {"username": staff.email, "password": password, "next": "/admin/"},
    )
    assert client.get("/admin/").status_code == 302

    response = client.post(
        reverse("portal:twofactor-verify"), {"code": code_for(device)}
    )

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    assert AuditEvent.objects.filter(action="user.login", actor=staff).count() == 1
