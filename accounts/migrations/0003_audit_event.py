"""Audit records, the head of their hash chain, and (on PostgreSQL) the append-only trigger."""

import django.core.serializers.json
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

# Mirrors AuditEvent.save() in the database, for writers that bypass the ORM: no DELETE; a
# finished record never changes (except its actor link going NULL when the user is deleted; the
# username snapshot stays and the hash does not cover actor_id); a pending record may change
# only its outcome, key snapshot, details and chain fields. TRUNCATE stays possible: it needs
# the table owner, and the test runner flushes with it.
APPEND_ONLY_TRIGGER = """
CREATE OR REPLACE FUNCTION accounts_auditevent_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    mutable text[] := ARRAY['key_id', 'key_description', 'key_last6', 'details', 'outcome',
                            'error', 'completed_at', 'sequence', 'previous_hash', 'hash',
                            'actor_id'];
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'audit records are append-only: record % cannot be deleted', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF OLD.outcome <> 'pending' THEN
        IF NEW.actor_id IS NULL AND (to_jsonb(NEW) - 'actor_id') = (to_jsonb(OLD) - 'actor_id') THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'audit record % is finished and cannot be changed', OLD.id
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    IF (to_jsonb(NEW) - mutable) IS DISTINCT FROM (to_jsonb(OLD) - mutable) THEN
        RAISE EXCEPTION 'audit record %: only its outcome, key snapshot and details may change',
            OLD.id USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS accounts_auditevent_append_only ON accounts_auditevent;
CREATE TRIGGER accounts_auditevent_append_only
    BEFORE UPDATE OR DELETE ON accounts_auditevent
    FOR EACH ROW EXECUTE FUNCTION accounts_auditevent_append_only();
"""

DROP_APPEND_ONLY_TRIGGER = """
DROP TRIGGER IF EXISTS accounts_auditevent_append_only ON accounts_auditevent;
DROP FUNCTION IF EXISTS accounts_auditevent_append_only();
"""


def add_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY_TRIGGER, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_APPEND_ONLY_TRIGGER, params=None)


def create_chain_head(apps, schema_editor):
    AuditChainHead = apps.get_model("accounts", "AuditChainHead")
    AuditChainHead.objects.using(schema_editor.connection.alias).get_or_create(pk=1)


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_role_groups'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditChainHead',
            fields=[
                ('id', models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ('sequence', models.BigIntegerField(default=0)),
                ('hash', models.CharField(default='0000000000000000000000000000000000000000000000000000000000000000', max_length=64)),
            ],
            options={
                'default_permissions': (),
                'constraints': [models.CheckConstraint(condition=models.Q(('id', 1)), name='audit_chain_head_single')],
            },
        ),
        migrations.CreateModel(
            name='AuditEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('time', models.DateTimeField(default=django.utils.timezone.now)),
                ('actor_username', models.CharField(blank=True, max_length=150)),
                ('actor_role', models.CharField(blank=True, max_length=32)),
                ('action', models.CharField(choices=[('key.created', 'Key created'), ('key.updated', 'Key updated'), ('key.deleted', 'Key deleted'), ('key.rotation.started', 'Rotation started'), ('key.rotation.replacement_created', 'Rotation: replacement created'), ('key.rotation.old_key_scheduled', 'Rotation: old key scheduled'), ('key.rotation.old_key_deleted', 'Rotation: old key deleted'), ('key.rotation.completed', 'Rotation completed'), ('key.rotation.failed', 'Rotation failed'), ('key.rotation.aborted', 'Rotation aborted'), ('audit.exported', 'Audit log exported'), ('billing.usage_exported', 'Usage exported')], max_length=40)),
                ('key_id', models.CharField(blank=True, max_length=64)),
                ('key_description', models.CharField(blank=True, max_length=128)),
                ('key_last6', models.CharField(blank=True, max_length=6)),
                ('changes', models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder)),
                ('details', models.JSONField(blank=True, default=dict, encoder=django.core.serializers.json.DjangoJSONEncoder)),
                ('ip', models.GenericIPAddressField(blank=True, null=True)),
                ('user_agent', models.CharField(blank=True, max_length=512)),
                ('request_id', models.CharField(blank=True, max_length=64)),
                ('outcome', models.CharField(choices=[('pending', 'Pending'), ('succeeded', 'Succeeded'), ('failed', 'Failed')], default='pending', max_length=10)),
                ('error', models.TextField(blank=True)),
                ('completed_at', models.DateTimeField(blank=True, null=True)),
                ('sequence', models.BigIntegerField(blank=True, editable=False, null=True, unique=True)),
                ('previous_hash', models.CharField(blank=True, editable=False, max_length=64)),
                ('hash', models.CharField(blank=True, editable=False, max_length=64)),
                ('actor', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='audit_events', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'audit record',
                'ordering': ('-time', '-id'),
                'base_manager_name': 'objects',
                'indexes': [models.Index(fields=['time', 'id'], name='audit_time_id'), models.Index(fields=['actor_username', 'time', 'id'], name='audit_actor_time_id'), models.Index(fields=['action', 'time', 'id'], name='audit_action_time_id'), models.Index(fields=['key_id', 'time', 'id'], name='audit_key_time_id'), models.Index(fields=['outcome', 'time', 'id'], name='audit_outcome_time_id')],
                'constraints': [models.CheckConstraint(condition=models.Q(('outcome__in', ['pending', 'succeeded', 'failed'])), name='audit_outcome_valid'), models.CheckConstraint(condition=models.Q(models.Q(('hash', ''), ('outcome', 'pending'), ('sequence__isnull', True)), models.Q(models.Q(('outcome', 'pending'), _negated=True), ('completed_at__isnull', False), ('sequence__isnull', False), models.Q(('hash', ''), _negated=True)), _connector='OR'), name='audit_sealed_iff_finished')],
            },
        ),
        migrations.RunPython(create_chain_head, migrations.RunPython.noop),
        migrations.RunPython(add_trigger, drop_trigger),
    ]
