"""One letter about an appointment per guardian: an invitation and a ladder letter for the same
time are never both made (issue 17).

Rows made before this migration may already pair up. An invitation that has not gone out is
stopped (the ladder letter names the same time); a pair where both went out is named, so it can
be looked at before migrating again, instead of PostgreSQL reporting only the first one.
btree_gist (attendance 0005) lets the GiST index hold plain equality.
"""

import django.contrib.postgres.constraints
from django.conf import settings
from django.db import migrations, models

PAIRS = """
    SELECT inv.id, other.id, inv.state
      FROM followup_letter inv
      JOIN followup_letter other
        ON other.appointment_id = inv.appointment_id AND other.recipient_id = inv.recipient_id
       AND other.kind IN ('new_invitation', 'duty_reminder') AND other.state <> 'cancelled'
     WHERE inv.kind = 'invitation' AND inv.state <> 'cancelled' AND inv.appointment_id IS NOT NULL
     ORDER BY inv.id
"""


def stop_paired_invitations(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(PAIRS)
        pairs = cursor.fetchall()
        unsent = sorted({inv for inv, _, state in pairs if state in ("pending", "failed")})
        if unsent:
            cursor.execute(
                "UPDATE followup_letter SET state = 'cancelled', error = 'Erstattet av brev fra oppfølgingen.' WHERE id = ANY(%s)",
                [unsent],
            )
        cursor.execute(PAIRS)
        left = cursor.fetchall()
    if left:
        lines = "\n".join(f"  invitation {inv} and ladder letter {other} ({state})" for inv, other, state in left)
        raise RuntimeError(f"{len(left)} invitation(s) share their appointment and guardian with a ladder letter:\n{lines}")


class Migration(migrations.Migration):

    dependencies = [
        ('attendance', '0005_appointment_no_overlap'),
        ('followup', '0008_ladder_call_attempts_waiting_and_pause'),
        ('helsestasjon', '0008_station_invitation_letter_min_days'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(stop_paired_invitations, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='letter',
            constraint=django.contrib.postgres.constraints.ExclusionConstraint(condition=models.Q(('appointment__isnull', False), ('kind__in', ['invitation', 'new_invitation', 'duty_reminder']), models.Q(('state', 'cancelled'), _negated=True)), expressions=[(models.F('appointment'), '='), (models.F('recipient'), '='), (models.ExpressionWrapper(models.Q(('kind', 'invitation')), output_field=models.BooleanField()), '<>')], name='letter_invitation_or_ladder_letter_per_appointment', violation_error_message='Foresatte har allerede et brev om denne timen.'),
        ),
    ]
