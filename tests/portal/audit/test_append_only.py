"""Audit events can be written, never changed or deleted: not by a model
method, not by a bulk query, and on PostgreSQL not even by raw SQL. Deleting
a user or a team only unlinks their events, which keep the labels."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from portal.audit.models import AuditEvent
from portal.audit.services import record


@pytest.fixture
def event(user, team):
    return record(action="team.create", actor=user, team=team, target=team)


def unchanged(event: AuditEvent) -> bool:
    stored = AuditEvent.objects.get(pk=event.pk)
    return (stored.action, stored.actor_id, stored.team_id, stored.data) == (
        event.action,
        event.actor_id,
        event.team_id,
        event.data,
    )


def test_an_event_is_written_with_its_labels(event, user, team):
    assert event.actor_label == user.email
    assert event.team_label == team.slug
    assert event.target_label == team.name


def test_saving_an_existing_event_is_refused(event):
    event.action = "team.delete"
    with pytest.raises(PermissionError, match="append-only"):
        event.save()
    with pytest.raises(PermissionError):
        event.save(update_fields=["action"])
    event.action = "team.create"
    assert unchanged(event)


def test_deleting_an_event_is_refused(event):
    with pytest.raises(PermissionError, match="append-only"):
        event.delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_bulk_updates_are_refused(event):
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(PermissionError):
        AuditEvent.objects.update(action="x")
    event.action = "x"
    with pytest.raises(PermissionError):
        AuditEvent.objects.bulk_update([event], ["action"])
    event.action = "team.create"
    assert unchanged(event)


def test_bulk_deletes_are_refused(event):
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.count() == 1


def test_deleting_the_actor_keeps_the_event_and_its_label(event, user):
    email = user.email

    user.delete()

    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.actor is None
    assert stored.actor_label == email
    assert stored.action == "team.create"


def test_deleting_the_team_keeps_the_event_and_its_label(event, team):
    slug = team.slug

    team.delete()

    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.team is None
    assert stored.team_label == slug
    assert stored.target_label == event.target_label


# --- the database itself (PostgreSQL's trigger) -----------------------------------


def refused(sql: str, params: list) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
    except DatabaseError as error:
        assert "append-only" in str(error)
        return True
    return False


@pytest.mark.postgres
def test_postgresql_refuses_an_update_by_raw_sql(event):
    assert refused(
        "UPDATE audit_auditevent SET action = %s WHERE id = %s", ["x", event.pk]
    )
    assert refused(
        "UPDATE audit_auditevent SET ip = '10.0.0.1', data = '{\"x\": 1}'::jsonb "
        "WHERE id = %s",
        [event.pk],
    )
    assert unchanged(event)


@pytest.mark.postgres
def test_postgresql_refuses_a_delete_by_raw_sql(event):
    assert refused("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@pytest.mark.postgres
def test_postgresql_refuses_the_base_manager_too(event):
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent._base_manager.filter(pk=event.pk).update(action="x")
    assert unchanged(event)


@pytest.mark.postgres
def test_postgresql_lets_only_a_plain_unlinking_through(event, user_factory):
    other = user_factory(password=None)
    # Pointing the event at someone else, or unlinking while changing
    # anything else, is refused.
    assert refused(
        "UPDATE audit_auditevent SET actor_id = %s WHERE id = %s", [other.pk, event.pk]
    )
    assert refused(
        "UPDATE audit_auditevent SET actor_id = NULL, actor_label = '' WHERE id = %s",
        [event.pk],
    )
    assert unchanged(event)
    # What Django does when the user or the team is deleted goes through.
    assert not refused(
        "UPDATE audit_auditevent SET actor_id = NULL, team_id = NULL WHERE id = %s",
        [event.pk],
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor_id, stored.team_id) == (None, None)
    assert stored.actor_label == event.actor_label
