"""One writer at a time per child for the summary's first bits.

A row's first bits depend on every row of its child (0016), so two transactions writing rows of one
child at once (a nurse's outcome and the register's cancellation, say) could each compute them from
what the other had not yet committed. The summary function and the delete path of the appointment
trigger now first take a transaction-level advisory lock per child (in id order, so two writers
never wait for each other in a circle), before writing any summary row of it; the statements that
follow take their snapshot after the lock, so the second writer sees the first's rows. A statement
that touches more than 100 children (the rebuild, a bulk update) locks the summary table instead,
as advisory locks share the server's lock table. The two-key advisory locks do not meet the
register sync's one-key lock (registry_sync/run_control.py).
"""

import importlib

from django.db import migrations

_FIRST_BITS = importlib.import_module("followup.migrations.0016_statistics_first_bits")

NAMESPACE = 1_213_420_372  # the first key of these advisory locks ("HSST"), the child id the second

LOCK_CHILDREN = f"""
CREATE FUNCTION followup_statistics_lock_children(children bigint[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF cardinality(children) > 100 THEN
        LOCK TABLE followup_statisticsappointment IN EXCLUSIVE MODE;
    ELSE
        PERFORM pg_advisory_xact_lock({NAMESPACE}, c::integer) FROM (SELECT DISTINCT c FROM unnest(children) AS c ORDER BY c) AS sorted;
    END IF;
END $$
"""


_LOCK = "\n    PERFORM followup_statistics_lock_children(children);"
_LOCKED_DELETE = "        PERFORM followup_statistics_lock_children(ARRAY(SELECT DISTINCT child_id FROM old_rows));\n" + _FIRST_BITS._DELETE


def add_lock(apps, schema_editor):
    schema_editor.execute(LOCK_CHILDREN)
    schema_editor.execute(_FIRST_BITS.appointments_function(before=_LOCK))
    schema_editor.execute(_FIRST_BITS.ON_APPOINTMENT.replace(_FIRST_BITS._DELETE, _LOCKED_DELETE))


def remove_lock(apps, schema_editor):
    schema_editor.execute(_FIRST_BITS.ON_APPOINTMENT)
    schema_editor.execute(_FIRST_BITS.appointments_function())
    schema_editor.execute("DROP FUNCTION followup_statistics_lock_children(bigint[])")


class Migration(migrations.Migration):

    dependencies = [
        ("followup", "0016_statistics_first_bits"),
    ]

    operations = [
        migrations.RunPython(add_lock, remove_lock),
    ]
