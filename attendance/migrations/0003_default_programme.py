"""The national 14-consultation programme as data (editable in the admin).

Source: ../shared/spec/programme.md. Windows are inclusive on the opening day and
exclusive on the closing day; "end of week 8" closes at 8 weeks.
"""

from django.db import migrations

PROGRAMME = [
    # code, name, target age, opens (n, unit), closes (n, unit), professionals, home visit, minutes, notes
    ("HV", "Hjemmebesøk", "7–10 dager", (3, "day"), (14, "day"), "Helsesykepleier (evt. jordmor)", True, 60, "KOSTRA: innen 14 dager etter hjemkomst"),
    ("W4", "4 uker", "4 uker", (3, "week"), (6, "week"), "Helsesykepleier", False, 30, ""),
    ("W6", "6 uker", "6 uker", (5, "week"), (8, "week"), "Helsesykepleier og lege", False, 45, "KOSTRA: innen 8. leveuke"),
    ("M3", "3 måneder", "3 måneder", (11, "week"), (4, "month"), "Helsesykepleier", False, 30, "Vaksiner"),
    ("M4", "4 måneder", "4 måneder", (15, "week"), (5, "month"), "Helsesykepleier", False, 30, ""),
    ("M5", "5 måneder", "5 måneder", (19, "week"), (6, "month"), "Helsesykepleier", False, 30, "Vaksiner"),
    ("M6", "6 måneder", "6 måneder", (23, "week"), (8, "month"), "Helsesykepleier og lege", False, 45, ""),
    ("M8", "8 måneder", "8 måneder", (7, "month"), (10, "month"), "Helsesykepleier", False, 30, ""),
    ("M10", "10 måneder", "10 måneder", (9, "month"), (12, "month"), "Helsesykepleier", False, 30, ""),
    ("M12", "12 måneder", "12 måneder", (11, "month"), (15, "month"), "Helsesykepleier og lege", False, 45, "Vaksiner"),
    ("M15", "15 måneder", "15 måneder", (14, "month"), (17, "month"), "Helsesykepleier", False, 30, "Vaksiner"),
    ("M17", "17–18 måneder", "17–18 måneder", (16, "month"), (24, "month"), "Helsesykepleier", False, 30, "Kan være gruppekonsultasjon"),
    ("Y2", "2 år", "2 år", (23, "month"), (36, "month"), "Helsesykepleier og lege", False, 45, "KOSTRA-mål"),
    ("Y4", "4 år", "4 år", (47, "month"), (60, "month"), "Helsesykepleier", False, 45, "KOSTRA-mål"),
]


def load(apps, schema_editor):
    ProgrammeStep = apps.get_model("attendance", "ProgrammeStep")
    for order, (code, name, target, opens, closes, prof, home, minutes, notes) in enumerate(PROGRAMME, start=1):
        ProgrammeStep.objects.update_or_create(
            code=code,
            defaults=dict(
                name=name, order=order, target_age=target,
                opens_after=opens[0], opens_unit=opens[1], closes_after=closes[0], closes_unit=closes[1],
                professionals=prof, is_home_visit=home, default_duration_minutes=minutes, notes=notes,
            ),
        )


def unload(apps, schema_editor):
    apps.get_model("attendance", "ProgrammeStep").objects.filter(code__in=[row[0] for row in PROGRAMME]).delete()


class Migration(migrations.Migration):
    dependencies = [("attendance", "0002_initial")]
    operations = [migrations.RunPython(load, unload)]
