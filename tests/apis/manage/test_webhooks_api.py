"""The management API's webhooks: register (secret once), read, change,
rotate, test, delivery log, redeliver; roles; another team's endpoint is 404."""

from __future__ import annotations

import pytest

from portal.accounts.models import Role
from portal.webhooks import services
from portal.webhooks.models import Attempt, Endpoint
from portal.webhooks.signing import unseal
from tests.apis.manage.conftest import BASE

pytestmark = pytest.mark.django_db

ENDPOINT_FIELDS = {
    "id",
    "url",
    "description",
    "event_types",
    "is_active",
    "disabled_reason",
    "failing_since",
    "created_at",
}


@pytest.fixture
def hooks_url(developer_team) -> str:
    return f"{BASE}teams/{developer_team.pk}/webhooks/"


@pytest.fixture
def loopback(settings):
    settings.WEBHOOKS_ALLOW_LOOPBACK = True


def test_register_returns_the_secret_once(caller, hooks_url, developer_team):
    response = caller.post(
        hooks_url,
        {"url": "https://93.184.216.34/hooks", "event_types": ["key.created"]},
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == ENDPOINT_FIELDS | {"secret"}
    endpoint = Endpoint.objects.get(pk=body["id"], team=developer_team)
    assert body["secret"] == unseal(endpoint.secret_encrypted)
    listed = caller.get(hooks_url).json()
    assert [set(e) for e in listed["results"]] == [ENDPOINT_FIELDS]
    detail = caller.get(f"{hooks_url}{endpoint.pk}/").json()
    assert "secret" not in detail


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "https://10.0.0.1/x", "event_types": ["key.created"]}, "url"),
        ({"url": "https://169.254.169.254/", "event_types": ["key.created"]}, "url"),
        ({"url": "https://93.184.216.34/", "event_types": []}, "event_types"),
        ({"url": "https://93.184.216.34/", "event_types": ["nope"]}, "event_types"),
        (
            {"url": "https://93.184.216.34/", "event_types": "key.created"},
            "event_types",
        ),
        (
            {"url": "https://93.184.216.34/", "event_types": ["key.created"], "x": 1},
            "x",
        ),
    ],
)
def test_bad_input_is_a_400_naming_the_field(caller, hooks_url, body, field):
    response = caller.post(hooks_url, body)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert field in problem.get("errors", {}) or field in problem["detail"]
    assert not Endpoint.objects.exists()


def test_change_rotate_test_log_and_redeliver(
    caller, hooks_url, developer_team, receiver, loopback,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    endpoint, secret = services.endpoint_create(
        team=developer_team, url=receiver.url, event_types=["key.created"]
    )
    receiver.secret = secret
    url = f"{hooks_url}{endpoint.pk}/"
    changed = caller.patch(url, {"event_types": ["key.revoked", "key.created"]})
    assert changed.status_code == 200
    assert changed.json()["event_types"] == ["key.created", "key.revoked"]

    rotated = caller.post(url + "rotate-secret/")
    assert rotated.status_code == 200
    receiver.secret = rotated.json()["secret"]
    assert receiver.secret != secret

    receiver.reply(500, b"down")
    queued = caller.post(url + "test/")
    assert queued.status_code == 202
    delivery_id = queued.json()["delivery_id"]
    log = caller.get(url + "deliveries/").json()["results"]
    assert log[0]["id"] == delivery_id
    assert log[0]["event_type"] == "webhook.test"
    assert log[0]["attempt_log"][0]["status_code"] == 500
    assert log[0]["attempt_log"][0]["response_excerpt"] == "down"

    with django_capture_on_commit_callbacks(execute=True):
        again = caller.post(url + f"deliveries/{delivery_id}/redeliver/")
    assert again.status_code == 202
    assert Attempt.objects.filter(delivery_id=delivery_id).count() == 2
    ids = {r["headers"]["webhook-id"] for r in receiver.requests}
    assert ids == {queued.json()["event_id"]}
    assert receiver.events()[-1]["type"] == "webhook.test"  # new secret verifies

    assert caller.delete(url).status_code == 204
    assert not Endpoint.objects.filter(pk=endpoint.pk).exists()


def test_a_member_may_read_but_not_change(
    session_caller, hooks_url, developer, developer_team
):
    developer.memberships.filter(team=developer_team).update(role=Role.MEMBER)
    endpoint, _ = services.endpoint_create(
        team=developer_team, url="https://93.184.216.34/", event_types=["key.created"]
    )
    assert session_caller.get(hooks_url).status_code == 200
    response = session_caller.patch(f"{hooks_url}{endpoint.pk}/", {"is_active": False})
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert Endpoint.objects.get(pk=endpoint.pk).is_active


def test_another_teams_endpoints_are_404_and_unchanged(caller, other):
    endpoint, _ = services.endpoint_create(
        team=other.team, url="https://93.184.216.34/", event_types=["key.created"]
    )
    theirs = f"{BASE}teams/{other.team.pk}/webhooks/"
    ours_with_their_id = f"{BASE}teams/{caller.team.pk}/webhooks/{endpoint.pk}/"
    assert caller.get(theirs).status_code == 404
    body = {"url": "https://93.184.216.34/", "event_types": ["key.created"]}
    assert caller.post(theirs, body).status_code == 404
    for url in [f"{theirs}{endpoint.pk}/", ours_with_their_id]:
        assert caller.get(url).status_code == 404
        assert caller.patch(url, {"is_active": False}).status_code == 404
        assert caller.post(url + "rotate-secret/").status_code == 404
        assert caller.post(url + "test/").status_code == 404
        assert caller.get(url + "deliveries/").status_code == 404
        assert caller.delete(url).status_code == 404
    endpoint.refresh_from_db()
    assert endpoint.is_active
    assert Endpoint.objects.filter(team=other.team).count() == 1


def test_a_read_only_token_cannot_change(read_only_caller, hooks_url):
    response = read_only_caller.post(
        hooks_url, {"url": "https://93.184.216.34/", "event_types": ["key.created"]}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
