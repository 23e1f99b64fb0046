"""A professional is never booked twice for overlapping times (issue 18).

btree_gist lets one GiST index hold the professional (plain equality) beside the time
range (overlap). Bookings made before this migration may already clash; the check
below names every clash, so the station can move one of each pair before migrating
again, instead of PostgreSQL reporting only the first one it meets.
"""

import django.contrib.postgres.constraints
import django.contrib.postgres.fields.ranges
import django.db.models.expressions
from django.conf import settings
from django.contrib.postgres.operations import BtreeGistExtension
from django.db import migrations, models

CLASHES = """
    SELECT a.id, b.id, a.professional_id, a.starts_at
      FROM attendance_appointment a
      JOIN attendance_appointment b
        ON b.professional_id = a.professional_id AND b.id > a.id AND b.status = 'booked'
       AND b.starts_at < a.starts_at + make_interval(mins => a.duration_minutes)
       AND a.starts_at < b.starts_at + make_interval(mins => b.duration_minutes)
     WHERE a.status = 'booked'
     ORDER BY a.starts_at, a.id
"""


def refuse_existing_clashes(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(CLASHES)
        clashes = cursor.fetchall()
    if clashes:
        lines = "\n".join(f"  appointments {a} and {b}: professional {p} at {at:%Y-%m-%d %H:%M %Z}" for a, b, p, at in clashes)
        raise RuntimeError(
            f"{len(clashes)} booked appointment(s) overlap another of the same professional. "
            f"Move or cancel one of each pair, then migrate again:\n{lines}"
        )


class Migration(migrations.Migration):

    dependencies = [
        ('attendance', '0004_booking_constraint_and_system_events'),
        ('helsestasjon', '0005_register_person_id_text'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        BtreeGistExtension(),
        migrations.RunPython(refuse_existing_clashes, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='appointment',
            constraint=django.contrib.postgres.constraints.ExclusionConstraint(condition=models.Q(('status', 'booked')), expressions=[(models.F('professional'), '='), (models.Func(models.F('starts_at'), models.Func(models.ExpressionWrapper(django.db.models.expressions.CombinedExpression(models.Func(models.F('starts_at'), output_field=models.DateTimeField(), template="timezone('UTC', %(expressions)s)"), '+', models.Func(models.F('duration_minutes'), output_field=models.DurationField(), template='make_interval(mins => %(expressions)s)')), output_field=models.DateTimeField()), output_field=models.DateTimeField(), template="timezone('UTC', %(expressions)s)"), function='tstzrange', output_field=django.contrib.postgres.fields.ranges.DateTimeRangeField()), '&&')], name='appointment_professional_no_overlap', violation_error_message='Fagpersonen har allerede en time som overlapper dette tidspunktet. Velg et annet tidspunkt.'),
        ),
    ]
