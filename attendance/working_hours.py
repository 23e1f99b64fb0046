"""The professionals' working hours and the exceptions to them (leave, closed days), as the booking reads them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext

from attendance.errors import violated_constraint
from attendance.models import ABSENCE_NO_OVERLAP, WORKING_HOURS_NO_OVERLAP, Absence, AbsenceKind, WorkingHours
from helsestasjon.models import Station, User
from helsestasjon.permissions import holds_consultations


def _saved(row, refusals: Mapping[str, str]):
    """Save ``row``; a constraint that refuses it is a ValidationError with its message in ``refusals``."""
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError as exc:
        message = refusals.get(violated_constraint(exc)) or gettext("Kunne ikke lagre. Kontroller verdiene.")
        raise ValidationError(message) from None
    return row


def working_hours_add(*, professional: User, station: Station, weekday: int, starts, ends) -> WorkingHours:
    """Add a range of a weekday; end after start, never overlapping the professional's other ranges that day."""
    if not holds_consultations(professional) or station.pk not in professional.station_ids():
        raise ValidationError({"professional": gettext("Fagpersonen arbeider ikke ved denne helsestasjonen.")})
    if ends <= starts:
        raise ValidationError({"ends": gettext("Sluttiden må være etter starttiden.")})
    hours = WorkingHours(professional=professional, station=station, weekday=weekday, starts=starts, ends=ends)
    return _saved(hours, {WORKING_HOURS_NO_OVERLAP: gettext("Arbeidstiden overlapper en annen arbeidstid samme ukedag.")})


def absence_add(*, kind: str, starts_on: date, ends_on: date, from_time: time | None = None, until_time: time | None = None,
                professional: User | None = None, station: Station | None = None, note: str = "",
                created_by: User | None = None) -> Absence:
    """Register leave for a professional or a closing of a station: whole days (inclusive) without
    times, else from ``from_time`` on the first day until ``until_time`` on the last (part-day leave:
    a dentist at 10-12 leaves the afternoon bookable). The model's constraints hold the rules; each
    refusal is a Norwegian message at its field, checked before the write and again by PostgreSQL."""
    if ends_on < starts_on:
        raise ValidationError({"ends_on": gettext("Sluttdatoen må være samme dag som eller etter startdatoen.")})
    if (ends_on - starts_on).days > 366:
        raise ValidationError({"ends_on": gettext("Et unntak kan vare høyst ett år.")})
    if kind == AbsenceKind.LEAVE and professional is None:
        raise ValidationError({"professional": gettext("Velg fagpersonen som har fravær.")})
    if kind == AbsenceKind.CLOSED and station is None:
        raise ValidationError({"station": gettext("Velg helsestasjonen som er stengt.")})
    _check_part_day(starts_on, ends_on, from_time, until_time)
    absence = Absence(
        kind=kind, starts_on=starts_on, ends_on=ends_on, from_time=from_time, until_time=until_time,
        note=note.strip()[:200], created_by=created_by,
        professional=professional if kind == AbsenceKind.LEAVE else None,
        station=station if kind == AbsenceKind.CLOSED else None,
    )
    absence.validate_constraints()
    return _saved(absence, {
        ABSENCE_NO_OVERLAP: gettext("Fraværet overlapper et fravær som allerede er registrert."),
        "absence_closed_no_overlap": gettext("Stengingen overlapper en stenging som allerede er registrert."),
    })


def _check_part_day(starts_on: date, ends_on: date, from_time: time | None, until_time: time | None) -> None:
    """Both times or neither; on one day the end after the start."""
    if (from_time is None) != (until_time is None):
        field = "from_time" if from_time is None else "until_time"
        raise ValidationError({field: gettext("Fyll inn både fra og til klokkeslett, eller ingen av dem for hele dager.")})
    if from_time is not None and ends_on == starts_on and until_time <= from_time:
        raise ValidationError({"until_time": gettext("Sluttiden må være etter starttiden.")})


def working_hours_remove(*, user: User, kind: str, pk) -> None:
    """Delete a range of working hours or an exception the user may edit (one at their stations)."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise ValidationError(gettext("Fant ikke raden.")) from None
    if not 0 < pk < 2**31:
        raise ValidationError(gettext("Fant ikke raden."))
    stations = user.station_ids()
    if kind == "slett_tid":
        rows = WorkingHours.objects.filter(pk=pk, station_id__in=stations)
    else:
        rows = Absence.objects.filter(Q(station_id__in=stations) | Q(professional__stations__id__in=stations), pk=pk)
    ids = list(rows.values_list("pk", flat=True).distinct())
    if not ids:
        raise ValidationError(gettext("Fant ikke raden. Den kan allerede være slettet."))
    rows.model.objects.filter(pk__in=ids).delete()
