"""The two functions the statistics triggers call on every write (followup_statistics_appointments
and followup_statistics_consultations) in PL/pgSQL rather than SQL: a SQL function's statements
are planned again at each call, a PL/pgSQL function's plans are kept for the session. Recording
an outcome runs them three times; the appointment trigger went from 3.2-3.8 ms to 1.7-2.7 ms on
the statistics benchmark's 45,000 children (docs/decisions.md, "Statistics: a calendar year counted
without grouping by child"). The bodies are 0014's, unchanged.
"""

import importlib

from django.conf import settings
from django.db import migrations

_SUMMARY = importlib.import_module("followup.migrations.0014_statistics_summary")
NAMES = ("followup_statistics_appointments", "followup_statistics_consultations")


def _body(name: str) -> str:
    head = f"CREATE FUNCTION {name}(ids bigint[]) RETURNS void LANGUAGE sql AS $$"
    body = _SUMMARY.FUNCTIONS.split(head, 1)[1].split("$$;", 1)[0]
    return body.replace("{tz}", settings.TIME_ZONE).replace("{left}", _SUMMARY.LEFT)


def to_plpgsql(apps, schema_editor):
    for name in NAMES:
        schema_editor.execute(
            f"CREATE OR REPLACE FUNCTION {name}(ids bigint[]) RETURNS void LANGUAGE plpgsql AS $$\nBEGIN{_body(name)}END $$"
        )


def to_sql(apps, schema_editor):
    for name in NAMES:
        schema_editor.execute(f"CREATE OR REPLACE FUNCTION {name}(ids bigint[]) RETURNS void LANGUAGE sql AS $${_body(name)}$$")


class Migration(migrations.Migration):

    dependencies = [
        ("followup", "0014_statistics_summary"),
    ]

    operations = [
        migrations.RunPython(to_plpgsql, to_sql),
    ]
