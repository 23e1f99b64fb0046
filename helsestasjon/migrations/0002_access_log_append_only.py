"""Make the access log append-only in the database itself.

A row trigger rejects every UPDATE and DELETE, whatever code or console issues
it. (TRUNCATE is a table-level maintenance operation reserved to the database
owner and is not covered; the test runner uses it between tests.)
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION helsestasjon_accesslog_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'Tilgangsloggen kan ikke endres eller slettes (%% på helsestasjon_accesslog)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER helsestasjon_accesslog_no_update_delete
    BEFORE UPDATE OR DELETE ON helsestasjon_accesslog
    FOR EACH ROW EXECUTE FUNCTION helsestasjon_accesslog_append_only();
"""
BACKWARD = """
DROP TRIGGER IF EXISTS helsestasjon_accesslog_no_update_delete ON helsestasjon_accesslog;
DROP FUNCTION IF EXISTS helsestasjon_accesslog_append_only();
"""


# Executed with (empty) parameters, so the trigger's %% reaches PostgreSQL as %.
def forward(apps, schema_editor):
    schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("helsestasjon", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
