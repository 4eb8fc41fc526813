"""The team's label on every event, and PostgreSQL's append-only trigger.

The trigger refuses every UPDATE and DELETE of an audit row except the one
Django makes when a user or a team is deleted: ``actor_id`` / ``team_id`` set
to NULL with every other column unchanged (see ``AuditEvent``'s docstring).
It is created after the backfill below, which is itself an UPDATE.
"""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery

APPEND_ONLY_SQL = """
CREATE OR REPLACE FUNCTION audit_auditevent_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND (NEW.actor_id IS NULL OR NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id)
       AND (NEW.team_id IS NULL OR NEW.team_id IS NOT DISTINCT FROM OLD.team_id)
       AND to_jsonb(NEW) - 'actor_id' - 'team_id'
           = to_jsonb(OLD) - 'actor_id' - 'team_id'
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % of audit event % refused',
        TG_OP, OLD.id
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER audit_auditevent_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_auditevent_append_only();
"""

DROP_SQL = """
DROP TRIGGER IF EXISTS audit_auditevent_append_only ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_auditevent_append_only();
"""


def backfill_team_labels(apps, schema_editor):
    AuditEvent = apps.get_model("audit", "AuditEvent")
    Team = apps.get_model("accounts", "Team")
    AuditEvent.objects.filter(team__isnull=False).update(
        team_label=Subquery(Team.objects.filter(pk=OuterRef("team_id")).values("slug"))
    )


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            # No parameters: the `%` of RAISE must reach PostgreSQL as they are.
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0001_initial"),
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="team_label",
            field=models.CharField(blank=True, max_length=60),
        ),
        migrations.RunPython(backfill_team_labels, migrations.RunPython.noop),
        migrations.RunPython(_on_postgresql(APPEND_ONLY_SQL), _on_postgresql(DROP_SQL)),
    ]
