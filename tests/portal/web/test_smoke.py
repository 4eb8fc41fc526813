import pytest
from django.urls import reverse


@pytest.mark.django_db
def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_dashboard_lists_teams(logged_in_client, team):
    response = logged_in_client.get(reverse("portal:dashboard"))
    assert response.status_code == 200
    assert team.name in response.content.decode()
