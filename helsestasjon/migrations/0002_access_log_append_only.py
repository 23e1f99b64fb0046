"""Make the access log append-only in the database itself.

A row trigger rejects every UPDATE and DELETE, whatever code or console issues
it. (TRUNCATE is a table-level maintenance operation reserved to the database
owner and is not covered; the test runner uses it between tests.)
"""

from django.db import migrations

POSTGRES_FORWARD = """
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
POSTGRES_BACKWARD = """
DROP TRIGGER IF EXISTS helsestasjon_accesslog_no_update_delete ON helsestasjon_accesslog;
DROP FUNCTION IF EXISTS helsestasjon_accesslog_append_only();
"""
SQLITE_FORWARD = [
    """CREATE TRIGGER helsestasjon_accesslog_no_update BEFORE UPDATE ON helsestasjon_accesslog
       BEGIN SELECT RAISE(ABORT, 'Tilgangsloggen kan ikke endres eller slettes'); END;""",
    """CREATE TRIGGER helsestasjon_accesslog_no_delete BEFORE DELETE ON helsestasjon_accesslog
       BEGIN SELECT RAISE(ABORT, 'Tilgangsloggen kan ikke endres eller slettes'); END;""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS helsestasjon_accesslog_no_update;",
    "DROP TRIGGER IF EXISTS helsestasjon_accesslog_no_delete;",
]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_FORWARD)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)
    else:
        raise RuntimeError(f"No append-only trigger for database vendor {vendor!r}")


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = [POSTGRES_BACKWARD] if vendor == "postgresql" else SQLITE_BACKWARD
    for statement in statements:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("helsestasjon", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
