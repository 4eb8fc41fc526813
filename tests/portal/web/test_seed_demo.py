from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from portal.accounts.models import Membership, Role, Team, User
from portal.oauth.models import App


def seed(monkeypatch) -> str:
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "admin-demo-pass-1")
    monkeypatch.setenv("DEMO_DEV_PASSWORD", "dev-demo-pass-1")
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_seed_demo_is_idempotent_and_its_logins_work(client, monkeypatch):
    first = seed(monkeypatch)
    second = seed(monkeypatch)

    assert "admin@example.com" in first
    assert "admin-demo-pass-1" in first and "dev-demo-pass-1" in first
    assert "Created 3000 demo books." in first
    assert "Created" not in second  # nothing made twice
    assert second in first  # the same logins, still working
    assert User.objects.count() == 2
    assert Team.objects.filter(slug="demo").count() == 1
    app = App.objects.get(team__slug="demo", slug="demo-app")
    assert app.qualified_slug == "demo/demo-app"
    dev = User.objects.get(email="dev@example.com")
    assert Membership.objects.get(user=dev, team__slug="demo").role == Role.OWNER
    assert User.objects.get(email="admin@example.com").is_staff

    response = client.post(
        "/accounts/login/",
        {"username": "dev@example.com", "password": "dev-demo-pass-1"},
    )
    assert response.status_code == 302
    assert response.url == "/dashboard/"
    assert "demo-app" in client.get("/dashboard/").content.decode()
