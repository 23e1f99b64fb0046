"""Appointment.step: the consultation's programme step on the appointment row, kept equal to it by
triggers, so the statistics count a year's appointments per step without joining the consultations."""

import django.db.models.deletion
from django.db import migrations, models

TRIGGERS = """
CREATE FUNCTION attendance_appointment_step() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT step_id INTO NEW.step_id FROM attendance_consultation WHERE id = NEW.consultation_id;
    RETURN NEW;
END $$;
CREATE TRIGGER attendance_appointment_step
    BEFORE INSERT OR UPDATE OF consultation_id, step_id ON attendance_appointment
    FOR EACH ROW EXECUTE FUNCTION attendance_appointment_step();

CREATE FUNCTION attendance_consultation_step() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE attendance_appointment SET step_id = NEW.step_id WHERE consultation_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER attendance_consultation_step
    AFTER UPDATE OF step_id ON attendance_consultation
    FOR EACH ROW WHEN (OLD.step_id IS DISTINCT FROM NEW.step_id) EXECUTE FUNCTION attendance_consultation_step();
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS attendance_consultation_step ON attendance_consultation;
DROP FUNCTION IF EXISTS attendance_consultation_step();
DROP TRIGGER IF EXISTS attendance_appointment_step ON attendance_appointment;
DROP FUNCTION IF EXISTS attendance_appointment_step();
"""

BACKFILL = """
UPDATE attendance_appointment AS a SET step_id = c.step_id
FROM attendance_consultation AS c WHERE c.id = a.consultation_id AND a.step_id IS DISTINCT FROM c.step_id;
"""


class Migration(migrations.Migration):

    dependencies = [
        ('attendance', '0008_register_cancel_reasons'),
    ]

    operations = [
        migrations.AddField(
            model_name='appointment',
            name='step',
            field=models.ForeignKey(editable=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='attendance.programmestep', verbose_name='konsultasjon'),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop),
        # The backfill leaves deferred foreign-key checks pending, which ALTER TABLE refuses.
        migrations.RunSQL("SET CONSTRAINTS ALL IMMEDIATE", migrations.RunSQL.noop),
        migrations.RunSQL(TRIGGERS, DROP_TRIGGERS),
        migrations.AlterField(
            model_name='appointment',
            name='step',
            field=models.ForeignKey(editable=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='attendance.programmestep', verbose_name='konsultasjon'),
        ),
    ]
