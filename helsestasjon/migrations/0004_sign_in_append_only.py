"""Make the sign-in log append-only in the database itself, like the access log (0002)."""

from django.db import migrations

POSTGRES_FORWARD = """
CREATE OR REPLACE FUNCTION helsestasjon_signin_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'Innloggingsloggen kan ikke endres eller slettes (%% på helsestasjon_signin)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER helsestasjon_signin_no_update_delete
    BEFORE UPDATE OR DELETE ON helsestasjon_signin
    FOR EACH ROW EXECUTE FUNCTION helsestasjon_signin_append_only();
"""
POSTGRES_BACKWARD = """
DROP TRIGGER IF EXISTS helsestasjon_signin_no_update_delete ON helsestasjon_signin;
DROP FUNCTION IF EXISTS helsestasjon_signin_append_only();
"""
SQLITE_FORWARD = [
    """CREATE TRIGGER helsestasjon_signin_no_update BEFORE UPDATE ON helsestasjon_signin
       BEGIN SELECT RAISE(ABORT, 'Innloggingsloggen kan ikke endres eller slettes'); END;""",
    """CREATE TRIGGER helsestasjon_signin_no_delete BEFORE DELETE ON helsestasjon_signin
       BEGIN SELECT RAISE(ABORT, 'Innloggingsloggen kan ikke endres eller slettes'); END;""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS helsestasjon_signin_no_update;",
    "DROP TRIGGER IF EXISTS helsestasjon_signin_no_delete;",
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
    for statement in [POSTGRES_BACKWARD] if vendor == "postgresql" else SQLITE_BACKWARD:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("helsestasjon", "0003_helseid_sign_in")]
    operations = [migrations.RunPython(forward, backward)]
