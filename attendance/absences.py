"""Exceptions to working hours for part of a day (issue 18): leave from 10 to 12, a station closed after 12.

Whole-day exceptions are ``services.absence_add``'s; ``absence_register`` hands them over and keeps
the part-day ones here, checked against the model's constraints (each with its Norwegian message)
before the row is written and again by PostgreSQL when it is.
"""

from __future__ import annotations

from datetime import date, time

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from attendance.models import Absence, AbsenceKind
from attendance.working_hours import absence_add
from helsestasjon.models import Station, User


def absence_register(*, kind: str, starts_on: date, ends_on: date, from_time: time | None = None, until_time: time | None = None,
                     professional: User | None = None, station: Station | None = None, note: str = "",
                     created_by: User | None = None) -> Absence:
    """Register leave or a closing: whole days without times, else from ``from_time`` on the first day to ``until_time`` on the last."""
    if from_time is None and until_time is None:
        return absence_add(kind=kind, starts_on=starts_on, ends_on=ends_on, professional=professional, station=station,
                           note=note, created_by=created_by)
    if from_time is None or until_time is None:
        field = "from_time" if from_time is None else "until_time"
        raise ValidationError({field: gettext("Fyll inn både fra og til klokkeslett, eller ingen av dem for hele dager.")})
    if ends_on < starts_on:
        raise ValidationError({"ends_on": gettext("Sluttdatoen må være samme dag som eller etter startdatoen.")})
    if ends_on == starts_on and until_time <= from_time:
        raise ValidationError({"until_time": gettext("Sluttiden må være etter starttiden.")})
    absence = Absence(
        kind=kind, starts_on=starts_on, ends_on=ends_on, from_time=from_time, until_time=until_time,
        note=note.strip()[:200], created_by=created_by,
        professional=professional if kind == AbsenceKind.LEAVE else None,
        station=station if kind == AbsenceKind.CLOSED else None,
    )
    absence.validate_constraints()
    try:
        with transaction.atomic():
            absence.save()
    except IntegrityError:
        # Someone registered an overlapping exception between the check and the write: say which.
        absence.validate_constraints()
        raise
    return absence
