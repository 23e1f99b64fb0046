"""The statistics summary: per appointment, consultation and child, the facts the statistics page
counts, kept current by statement-level triggers on the tables they come from (as
attendance/0009_appointment_step keeps Appointment.step), and backfilled here.

The local day and month of a time use the time zone the migration runs under (settings.TIME_ZONE,
read when the migration runs); a change of TIME_ZONE needs the functions recreated and
``SELECT followup_statistics_rebuild()``.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

LEFT = "'moved', 'emigrated', 'deceased'"

FUNCTIONS = """
CREATE FUNCTION followup_statistics_appointments(ids bigint[]) RETURNS void LANGUAGE sql AS $$
    DELETE FROM followup_statisticsappointment AS s
     WHERE s.appointment_id IN (SELECT unnest(ids))
       AND NOT EXISTS (SELECT 1 FROM attendance_appointment AS a WHERE a.id = s.appointment_id);
    INSERT INTO followup_statisticsappointment AS s
           (appointment_id, consultation_id, child_id, station_id, step_id, starts_at, month, status, reason,
            by_register, age_days, home_by_nurse)
    SELECT a.id, a.consultation_id, a.child_id, c.station_id, a.step_id, a.starts_at,
           date_trunc('month', a.starts_at AT TIME ZONE '{tz}')::date, a.status, coalesce(e.reason, ''),
           a.status = 'cancelled_by_service' AND coalesce(e.reason IN ('register_moved', 'register_deceased'), false),
           (a.starts_at AT TIME ZONE '{tz}')::date - c.birth_date,
           a.place = 'home' AND coalesce(u.role = 'nurse', false)
      FROM attendance_appointment AS a
      JOIN helsestasjon_child AS c ON c.id = a.child_id
      LEFT JOIN helsestasjon_user AS u ON u.id = a.professional_id
      LEFT JOIN LATERAL (
           SELECT e.reason FROM attendance_outcomeevent AS e
            WHERE e.appointment_id = a.id
              AND NOT EXISTS (SELECT 1 FROM attendance_outcomeevent AS r WHERE r.replaces_id = e.id)
            ORDER BY e.recorded_at DESC, e.id DESC LIMIT 1) AS e ON true
     WHERE a.id IN (SELECT unnest(ids))
     ORDER BY a.starts_at  -- a period's rows together on disk (the rebuild writes them all)
    ON CONFLICT (appointment_id) DO UPDATE SET
           consultation_id = EXCLUDED.consultation_id, child_id = EXCLUDED.child_id, station_id = EXCLUDED.station_id,
           step_id = EXCLUDED.step_id, starts_at = EXCLUDED.starts_at, month = EXCLUDED.month, status = EXCLUDED.status,
           reason = EXCLUDED.reason, by_register = EXCLUDED.by_register, age_days = EXCLUDED.age_days,
           home_by_nurse = EXCLUDED.home_by_nurse;
$$;

CREATE FUNCTION followup_statistics_consultations(ids bigint[]) RETURNS void LANGUAGE sql AS $$
    DELETE FROM followup_statisticsconsultation AS s
     WHERE s.consultation_id IN (SELECT unnest(ids))
       AND NOT EXISTS (SELECT 1 FROM attendance_consultation AS k WHERE k.id = s.consultation_id);
    INSERT INTO followup_statisticsconsultation AS s
           (consultation_id, child_id, station_id, step_id, window_closes, state, in_time, left_on)
    SELECT k.id, k.child_id, c.station_id, k.step_id, k.window_closes, k.state,
           coalesce((k.completed_at AT TIME ZONE '{tz}')::date < k.window_closes, false)
           OR EXISTS (SELECT 1 FROM attendance_appointment AS a
                       WHERE a.consultation_id = k.id AND a.status = 'attended'
                         AND (a.starts_at AT TIME ZONE '{tz}')::date < k.window_closes),
           CASE WHEN c.status IN ({left}) THEN (c.status_changed_at AT TIME ZONE '{tz}')::date END
      FROM attendance_consultation AS k
      JOIN helsestasjon_child AS c ON c.id = k.child_id
     WHERE k.id IN (SELECT unnest(ids))
     ORDER BY k.window_closes
    ON CONFLICT (consultation_id) DO UPDATE SET
           child_id = EXCLUDED.child_id, station_id = EXCLUDED.station_id, step_id = EXCLUDED.step_id,
           window_closes = EXCLUDED.window_closes, state = EXCLUDED.state, in_time = EXCLUDED.in_time,
           left_on = EXCLUDED.left_on;
    UPDATE followup_statisticschild AS s SET arrived_after_birth = NOT s.arrived_after_birth
     WHERE s.child_id IN (SELECT k.child_id FROM attendance_consultation AS k WHERE k.id IN (SELECT unnest(ids)))
       AND s.arrived_after_birth <> EXISTS (
           SELECT 1 FROM attendance_consultation AS k JOIN attendance_programmestep AS p ON p.id = k.step_id
            WHERE k.child_id = s.child_id AND k.state = 'not_applicable'
              AND p."order" = (SELECT min("order") FROM attendance_programmestep));
$$;

CREATE FUNCTION followup_statistics_rebuild() RETURNS void LANGUAGE sql AS $$
    TRUNCATE followup_statisticsappointment, followup_statisticsconsultation;
    -- The station at birth: where the home visit was booked, failing that the station now.
    INSERT INTO followup_statisticschild (child_id, birth_station_id, birth_date, arrived_after_birth)
    SELECT c.id, coalesce((SELECT a.station_id FROM attendance_appointment AS a JOIN attendance_programmestep AS p ON p.id = a.step_id
                            WHERE a.child_id = c.id AND p."order" = (SELECT min("order") FROM attendance_programmestep)
                            ORDER BY a.starts_at LIMIT 1), c.station_id), c.birth_date, false
      FROM helsestasjon_child AS c
    ON CONFLICT (child_id) DO NOTHING;
    SELECT followup_statistics_consultations(ARRAY(SELECT id FROM attendance_consultation));
    SELECT followup_statistics_appointments(ARRAY(SELECT id FROM attendance_appointment));
$$;

CREATE FUNCTION followup_statistics_on_appointment() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM followup_statisticsappointment WHERE appointment_id IN (SELECT id FROM old_rows);
        PERFORM followup_statistics_consultations(ARRAY(SELECT DISTINCT consultation_id FROM old_rows));
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM followup_statistics_appointments(ARRAY(SELECT id FROM new_rows));
        PERFORM followup_statistics_consultations(ARRAY(SELECT DISTINCT consultation_id FROM new_rows));
    ELSE
        PERFORM followup_statistics_appointments(ARRAY(SELECT id FROM new_rows));
        PERFORM followup_statistics_consultations(
            ARRAY(SELECT consultation_id FROM new_rows UNION SELECT consultation_id FROM old_rows));
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION followup_statistics_on_outcome() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM followup_statistics_appointments(ARRAY(SELECT DISTINCT appointment_id FROM old_rows));
    ELSE
        PERFORM followup_statistics_appointments(ARRAY(SELECT DISTINCT appointment_id FROM new_rows));
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION followup_statistics_on_consultation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        DELETE FROM followup_statisticsconsultation WHERE consultation_id IN (SELECT id FROM old_rows);
    ELSE
        PERFORM followup_statistics_consultations(ARRAY(SELECT id FROM new_rows));
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION followup_statistics_on_child() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO followup_statisticschild (child_id, birth_station_id, birth_date, arrived_after_birth)
        SELECT id, station_id, birth_date, false FROM new_rows
        ON CONFLICT (child_id) DO NOTHING;
        RETURN NULL;
    ELSIF TG_OP = 'DELETE' THEN
        DELETE FROM followup_statisticschild WHERE child_id IN (SELECT id FROM old_rows);
        RETURN NULL;
    END IF;
    changed := ARRAY(
        SELECT n.id FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
         WHERE (n.station_id, n.status, n.status_changed_at, n.birth_date)
               IS DISTINCT FROM (o.station_id, o.status, o.status_changed_at, o.birth_date));
    IF cardinality(changed) = 0 THEN
        RETURN NULL;
    END IF;
    -- A newborn's journal moved (opened at the wrong station): it was born at the new one.
    UPDATE followup_statisticschild AS s SET birth_station_id = n.station_id
      FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
     WHERE s.child_id = n.id AND n.station_id <> o.station_id
       AND (now() AT TIME ZONE '{tz}')::date < n.birth_date + 14;
    UPDATE followup_statisticschild AS s SET birth_date = n.birth_date
      FROM new_rows AS n WHERE s.child_id = n.id AND s.birth_date <> n.birth_date;
    PERFORM followup_statistics_appointments(ARRAY(SELECT id FROM attendance_appointment WHERE child_id = ANY(changed)));
    PERFORM followup_statistics_consultations(ARRAY(SELECT id FROM attendance_consultation WHERE child_id = ANY(changed)));
    RETURN NULL;
END $$;

CREATE FUNCTION followup_statistics_on_user() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed bigint[];
BEGIN
    -- Every login updates its user row; only a changed role reaches the appointments.
    changed := ARRAY(SELECT n.id FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id WHERE n.role IS DISTINCT FROM o.role);
    IF cardinality(changed) > 0 THEN
        PERFORM followup_statistics_appointments(ARRAY(
            SELECT id FROM attendance_appointment WHERE professional_id = ANY(changed)));
    END IF;
    RETURN NULL;
END $$;
"""

# One trigger per table and event: a trigger with transition tables takes one event.
TRIGGERS = [
    (table, event, function)
    for table, function, events in [
        ("attendance_appointment", "followup_statistics_on_appointment", ("INSERT", "UPDATE", "DELETE")),
        ("attendance_outcomeevent", "followup_statistics_on_outcome", ("INSERT", "UPDATE", "DELETE")),
        ("attendance_consultation", "followup_statistics_on_consultation", ("INSERT", "UPDATE", "DELETE")),
        ("helsestasjon_child", "followup_statistics_on_child", ("INSERT", "UPDATE", "DELETE")),
        ("helsestasjon_user", "followup_statistics_on_user", ("UPDATE",)),
    ]
    for event in events
]
REFERENCING = {"INSERT": "NEW TABLE AS new_rows", "UPDATE": "NEW TABLE AS new_rows OLD TABLE AS old_rows",
               "DELETE": "OLD TABLE AS old_rows"}
FUNCTION_NAMES = [
    "followup_statistics_on_user", "followup_statistics_on_child", "followup_statistics_on_consultation",
    "followup_statistics_on_outcome", "followup_statistics_on_appointment", "followup_statistics_rebuild",
    "followup_statistics_consultations", "followup_statistics_appointments",
]


def create_triggers(apps, schema_editor):
    schema_editor.execute(FUNCTIONS.replace("{tz}", settings.TIME_ZONE).replace("{left}", LEFT))
    for table, event, function in TRIGGERS:
        schema_editor.execute(
            f"CREATE TRIGGER {function}_{event.lower()} AFTER {event} ON {table} "
            f"REFERENCING {REFERENCING[event]} FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
        )
    schema_editor.execute("SELECT followup_statistics_rebuild()")
    # The planner's statistics of the new tables, before the first page counts from them.
    schema_editor.execute("ANALYZE followup_statisticsappointment, followup_statisticsconsultation, followup_statisticschild")


def drop_triggers(apps, schema_editor):
    for table, event, function in TRIGGERS:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {function}_{event.lower()} ON {table}")
    for name in FUNCTION_NAMES:
        schema_editor.execute(f"DROP FUNCTION IF EXISTS {name}")


class Migration(migrations.Migration):

    dependencies = [
        ('attendance', '0009_appointment_step'),
        ('followup', '0013_case_risk_computed'),
        ('helsestasjon', '0010_krr_digital_post_and_paper_channel'),
    ]

    operations = [
        migrations.CreateModel(
            name='StatisticsChild',
            fields=[
                ('child', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, primary_key=True, related_name='+', serialize=False, to='helsestasjon.child')),
                ('birth_station', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='helsestasjon.station')),
                ('birth_date', models.DateField()),
                ('arrived_after_birth', models.BooleanField(default=False)),
            ],
        ),
        migrations.CreateModel(
            name='StatisticsAppointment',
            fields=[
                ('appointment', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, primary_key=True, related_name='+', serialize=False, to='attendance.appointment')),
                ('starts_at', models.DateTimeField()),
                ('month', models.DateField()),
                ('status', models.CharField(max_length=24)),
                ('reason', models.CharField(blank=True, max_length=24)),
                ('by_register', models.BooleanField()),
                ('age_days', models.IntegerField()),
                ('home_by_nurse', models.BooleanField()),
                ('child', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='helsestasjon.child')),
                ('consultation', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='attendance.consultation')),
                ('station', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='helsestasjon.station')),
                ('step', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='attendance.programmestep')),
            ],
            options={
                'indexes': [models.Index(condition=models.Q(('status__in', ['attended', 'not_brought', 'no_access', 'cancelled_by_guardian', 'cancelled_by_service'])), fields=['starts_at'], name='statappointment_recorded')],
            },
        ),
        migrations.CreateModel(
            name='StatisticsConsultation',
            fields=[
                ('consultation', models.OneToOneField(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, primary_key=True, related_name='+', serialize=False, to='attendance.consultation')),
                ('window_closes', models.DateField()),
                ('state', models.CharField(max_length=16)),
                ('in_time', models.BooleanField()),
                ('left_on', models.DateField(null=True)),
                ('child', models.ForeignKey(db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='helsestasjon.child')),
                ('station', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='helsestasjon.station')),
                ('step', models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='attendance.programmestep')),
            ],
            options={
                'indexes': [models.Index(fields=['window_closes'], name='statconsultation_closes')],
            },
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
