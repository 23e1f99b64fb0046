"""The figure bits of a summary row (a generated column) and the bits each row is the first of its
child's rows to carry, in its calendar year, consultation and year, and month: the statistics page
counts a calendar year's children per figure from them without grouping the year's appointments
by child (docs/decisions.md, "Statistics: a calendar year counted without grouping by child").

followup_statistics_first_bits(children) recomputes them for every recorded row of those children
(a child has a few dozen rows at most); the summary function calls it for the children of the
appointments it refreshed, and the appointment trigger for the children of deleted appointments.
"""

import importlib

from django.db import migrations, models

_SUMMARY = importlib.import_module("followup.migrations.0014_statistics_summary")
_PLPGSQL = importlib.import_module("followup.migrations.0015_statistics_functions_plpgsql")

RECORDED = "'attended', 'not_brought', 'no_access', 'cancelled_by_guardian', 'cancelled_by_service'"
_EARLIER = "ORDER BY starts_at, appointment_id ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING"

FIRST_BITS = f"""
CREATE FUNCTION followup_statistics_first_bits(children bigint[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    UPDATE followup_statisticsappointment AS s
       SET year_first_bits = f.year_first, step_first_bits = f.step_first, month_first_bits = f.month_first
      FROM (SELECT appointment_id,
                   bits & ~coalesce(bit_or(bits) OVER (PARTITION BY child_id, date_part('year', month) {_EARLIER}), 0::smallint) AS year_first,
                   bits & ~coalesce(bit_or(bits) OVER (PARTITION BY child_id, step_id, date_part('year', month) {_EARLIER}), 0::smallint) AS step_first,
                   bits & ~coalesce(bit_or(bits) OVER (PARTITION BY child_id, month {_EARLIER}), 0::smallint) AS month_first
              FROM followup_statisticsappointment
             WHERE child_id = ANY(children) AND status IN ({RECORDED})) AS f
     WHERE s.appointment_id = f.appointment_id
       AND (s.year_first_bits, s.step_first_bits, s.month_first_bits) IS DISTINCT FROM (f.year_first, f.step_first, f.month_first);
END $$
"""

_ON_APPOINTMENT_HEAD = "CREATE FUNCTION followup_statistics_on_appointment() RETURNS trigger LANGUAGE plpgsql AS $$"
_DELETE = "        DELETE FROM followup_statisticsappointment WHERE appointment_id IN (SELECT id FROM old_rows);\n"
_FIRST_BITS_OF_DELETED = "        PERFORM followup_statistics_first_bits(ARRAY(SELECT DISTINCT child_id FROM old_rows));\n"


def on_appointment(body: str) -> str:
    return f"CREATE OR REPLACE FUNCTION followup_statistics_on_appointment() RETURNS trigger LANGUAGE plpgsql AS $${body}END $$"


# 0014's appointment trigger; deleted appointments' children get their first bits again.
_ON_APPOINTMENT_0014 = _SUMMARY.FUNCTIONS.split(_ON_APPOINTMENT_HEAD, 1)[1].split("END $$;", 1)[0]
assert _DELETE in _ON_APPOINTMENT_0014
ON_APPOINTMENT = on_appointment(_ON_APPOINTMENT_0014.replace(_DELETE, _DELETE + _FIRST_BITS_OF_DELETED))


def appointments_function(before: str = "") -> str:
    """0015's summary function, then the first bits of the children of the rows it refreshed (the
    child an appointment had before, too); ``before`` runs once those children are known."""
    return (
        "CREATE OR REPLACE FUNCTION followup_statistics_appointments(ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$\n"
        "DECLARE\n    children bigint[];\nBEGIN\n"
        "    children := ARRAY(SELECT child_id FROM followup_statisticsappointment WHERE appointment_id = ANY(ids)\n"
        "                      UNION SELECT child_id FROM attendance_appointment WHERE id = ANY(ids));"
        f"{before}{_PLPGSQL._body('followup_statistics_appointments')}"
        "    PERFORM followup_statistics_first_bits(children);\nEND $$"
    )


_REBUILD_HEAD = "CREATE FUNCTION followup_statistics_rebuild() RETURNS void LANGUAGE sql AS $$"
COLUMNS = (
    "appointment_id, consultation_id, child_id, station_id, step_id, starts_at, month, status, reason, by_register, "
    "age_days, home_by_nurse, year_first_bits, step_first_bits, month_first_bits"
)


def _rebuild_body() -> str:
    return _SUMMARY.FUNCTIONS.split(_REBUILD_HEAD, 1)[1].split("$$;", 1)[0]


def _rebuild() -> str:
    """0014's rebuild, then the rows laid out in time order again (the first bits rewrote most of
    them), as the appointments of a municipality accrue and as 0014 wrote them."""
    body = _rebuild_body().replace("    SELECT followup_statistics_", "    PERFORM followup_statistics_")
    return (
        "CREATE OR REPLACE FUNCTION followup_statistics_rebuild() RETURNS void LANGUAGE plpgsql AS $$\nBEGIN"
        f"{body}"
        f"    CREATE TEMP TABLE followup_statistics_relaid AS SELECT {COLUMNS} FROM followup_statisticsappointment;\n"
        "    TRUNCATE followup_statisticsappointment;\n"
        f"    INSERT INTO followup_statisticsappointment ({COLUMNS})\n"
        f"    SELECT {COLUMNS} FROM followup_statistics_relaid ORDER BY starts_at;\n"
        "    DROP TABLE followup_statistics_relaid;\nEND $$"
    )


def add_first_bits(apps, schema_editor):
    schema_editor.execute(FIRST_BITS)
    schema_editor.execute(appointments_function())
    schema_editor.execute(ON_APPOINTMENT)
    schema_editor.execute(_rebuild())
    schema_editor.execute("SELECT followup_statistics_rebuild()")
    schema_editor.execute("ANALYZE followup_statisticsappointment")


def remove_first_bits(apps, schema_editor):
    schema_editor.execute(on_appointment(_ON_APPOINTMENT_0014))
    _PLPGSQL.to_plpgsql(apps, schema_editor)
    schema_editor.execute(f"CREATE OR REPLACE FUNCTION followup_statistics_rebuild() RETURNS void LANGUAGE sql AS $${_rebuild_body()}$$")
    schema_editor.execute("DROP FUNCTION followup_statistics_first_bits(bigint[])")


class Migration(migrations.Migration):

    dependencies = [
        ('followup', '0015_statistics_functions_plpgsql'),
    ]

    operations = [
        migrations.AddField(
            model_name='statisticsappointment',
            name='bits',
            field=models.GeneratedField(db_persist=True, expression=models.Case(models.When(by_register=False, status='attended', then=models.Value(3)), models.When(by_register=True, status='attended', then=models.Value(34)), models.When(by_register=False, status='not_brought', then=models.Value(5)), models.When(by_register=True, status='not_brought', then=models.Value(36)), models.When(by_register=False, status='no_access', then=models.Value(5)), models.When(by_register=True, status='no_access', then=models.Value(36)), models.When(by_register=False, status='cancelled_by_guardian', then=models.Value(9)), models.When(by_register=True, status='cancelled_by_guardian', then=models.Value(40)), models.When(by_register=False, status='cancelled_by_service', then=models.Value(17)), models.When(by_register=True, status='cancelled_by_service', then=models.Value(32)), default=models.Value(0), output_field=models.SmallIntegerField()), output_field=models.SmallIntegerField()),
        ),
        migrations.AddField(
            model_name='statisticsappointment',
            name='month_first_bits',
            field=models.SmallIntegerField(db_default=0),
        ),
        migrations.AddField(
            model_name='statisticsappointment',
            name='step_first_bits',
            field=models.SmallIntegerField(db_default=0),
        ),
        migrations.AddField(
            model_name='statisticsappointment',
            name='year_first_bits',
            field=models.SmallIntegerField(db_default=0),
        ),
        migrations.RunPython(add_first_bits, remove_first_bits),
    ]
