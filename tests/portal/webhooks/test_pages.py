"""The portal's webhook pages: register (secret shown once), edit, test event,
delivery log, redeliver, rotate, delete, email opt-in; team isolation."""

from __future__ import annotations

import pytest
from django.core import mail
from django.urls import reverse

from portal.accounts.models import Role
from portal.audit.models import AuditEvent
from portal.keys.services import api_key_issue
from portal.webhooks.models import Attempt, Endpoint
from portal.webhooks.signing import unseal

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner_client(client, developer):
    client.force_login(developer)
    return client


def register(client, team, url, types=("key.created",)):
    return client.post(
        reverse("portal:webhook-list", args=[team.slug]),
        {"url": url, "event_types": list(types), "description": "CI"},
    )


def test_register_shows_the_secret_once_and_stores_it_sealed(
    owner_client, developer_team, receiver, loopback_allowed
):
    response = register(owner_client, developer_team, receiver.url)
    assert response.status_code == 200
    endpoint = Endpoint.objects.get(team=developer_team)
    secret = unseal(endpoint.secret_encrypted)
    assert secret.startswith("whsec_")
    assert secret in response.content.decode()
    assert secret not in endpoint.secret_encrypted  # sealed at rest
    again = owner_client.get(reverse("portal:webhook-list", args=[developer_team.slug]))
    assert secret not in again.content.decode()
    assert receiver.url in again.content.decode()
    assert AuditEvent.objects.filter(action="webhook.endpoint_create").exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://10.1.2.3/hooks", "private address"),
        ("https://169.254.169.254/latest/meta-data", "cloud metadata"),
        ("not a url", "https://"),
    ],
)
def test_bad_urls_get_a_form_message(owner_client, developer_team, url, message):
    response = register(owner_client, developer_team, url)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Endpoint.objects.exists()


def test_event_types_must_be_chosen_and_known(owner_client, developer_team):
    team = developer_team
    response = register(owner_client, team, "https://93.184.216.34/", types=[])
    assert "Choose at least one event type." in response.content.decode()
    response = register(owner_client, team, "https://93.184.216.34/", types=["nope"])
    assert response.status_code == 400
    assert not Endpoint.objects.exists()


def test_test_event_button_delivery_log_and_redeliver(
    owner_client, developer_team, endpoint, receiver, django_capture_on_commit_callbacks
):
    base = f"/teams/{developer_team.slug}/webhooks/{endpoint.pk}/"
    receiver.reply(500, b"receiver broke")
    owner_client.post(base + "test/")
    page = owner_client.get(base).content.decode()
    assert "webhook.test" in page
    assert "receiver broke" in page
    attempt = Attempt.objects.get()
    assert attempt.status_code == 500
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(base + f"deliveries/{attempt.delivery_id}/redeliver/")
    assert Attempt.objects.count() == 2
    ids = [r["headers"]["webhook-id"] for r in receiver.requests]
    assert len(ids) == 2 and ids[0] == ids[1]
    assert receiver.events()[0]["type"] == "webhook.test"


def test_rotate_secret_signs_the_next_delivery_with_the_new_one(
    owner_client, developer_team, endpoint, receiver
):
    base = f"/teams/{developer_team.slug}/webhooks/{endpoint.pk}/"
    response = owner_client.post(base + "rotate-secret/")
    endpoint.refresh_from_db()
    new_secret = unseal(endpoint.secret_encrypted)
    assert new_secret != receiver.secret
    assert new_secret in response.content.decode()
    receiver.secret = new_secret
    owner_client.post(base + "test/")
    assert receiver.events()[0]["type"] == "webhook.test"  # verifies


def test_edit_disable_and_delete(owner_client, developer_team, endpoint):
    base = f"/teams/{developer_team.slug}/webhooks/{endpoint.pk}/"
    response = owner_client.post(
        base, {"url": endpoint.url, "event_types": ["key.revoked"], "description": ""}
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.event_types == ["key.revoked"]
    assert not endpoint.is_active  # the box was left unticked
    owner_client.post(base + "delete/")
    assert not Endpoint.objects.filter(pk=endpoint.pk).exists()


def test_members_see_but_cannot_change(
    client, developer_team, endpoint, user_factory, membership_factory
):
    member = user_factory(password=None)
    membership_factory(user=member, team=developer_team, role=Role.MEMBER)
    client.force_login(member)
    base = f"/teams/{developer_team.slug}/webhooks/"
    assert client.get(base).status_code == 200
    assert client.get(f"{base}{endpoint.pk}/").status_code == 200
    pk = endpoint.pk
    for path in ["", f"{pk}/", f"{pk}/test/", f"{pk}/rotate-secret/", f"{pk}/delete/"]:
        assert (
            client.post(base + path, {"url": "https://93.184.216.34/"}).status_code
            == 404
        )
    assert Endpoint.objects.filter(pk=endpoint.pk, is_active=True).exists()


def test_another_teams_endpoint_is_404(
    client, endpoint, user_factory, team_factory, membership_factory
):
    stranger = user_factory(password=None)
    their_team = team_factory()
    membership_factory(user=stranger, team=their_team, role=Role.OWNER)
    client.force_login(stranger)
    team = endpoint.team
    for path in [f"/teams/{team.slug}/webhooks/",
                 f"/teams/{team.slug}/webhooks/{endpoint.pk}/",
                 f"/teams/{their_team.slug}/webhooks/{endpoint.pk}/"]:  # fmt: skip
        assert client.get(path).status_code == 404
    for path in ["", "test/", "rotate-secret/", "delete/"]:
        url = f"/teams/{their_team.slug}/webhooks/{endpoint.pk}/{path}"
        assert client.post(url).status_code == 404
    assert Endpoint.objects.filter(pk=endpoint.pk, is_active=True).exists()


def test_members_opt_in_to_event_emails(
    owner_client,
    developer,
    developer_team,
    books_app,
    django_capture_on_commit_callbacks,
):
    response = owner_client.post(
        f"/teams/{developer_team.slug}/webhooks/email/",
        {"event_types": ["key.created"]},
    )
    assert response.status_code == 302
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        api_key_issue(app=books_app.app, name="mailed", actor=developer)
    [message] = mail.outbox
    assert message.to == [developer.email]
    assert "key.created" in message.subject
    assert "mailed" in message.body
    # Opting out stops them.
    owner_client.post(f"/teams/{developer_team.slug}/webhooks/email/", {})
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        api_key_issue(app=books_app.app, name="quiet", actor=developer)
    assert mail.outbox == []


def test_forms_need_csrf(developer, developer_team):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(developer)
    response = register(client, developer_team, "https://93.184.216.34/")
    assert response.status_code == 403
