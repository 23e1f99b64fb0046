"""A small population with known statistics, built through the attendance services.

Every child below is named for what happens to it, and the expected figures
are written next to the population so a test reads them directly.
All windows here are the home visit's (day 3 to day 14) unless named otherwise.
"""

from __future__ import annotations

from datetime import date, datetime, time

from django.utils import timezone

from attendance.models import Consultation, Outcome, Place, Reason
from attendance.booking import appointment_book
from attendance.children import child_register
from attendance.outcomes import appointment_record_outcome, outcome_correct
from attendance.plan import consultations_advance_states
from followup.statistics.scope import Scope
from attendance.booking import appointment_book
from attendance.children import child_register
from attendance.outcomes import appointment_record_outcome, outcome_correct
from attendance.plan import consultations_advance_states
from followup.statistics.scope import Scope
from helsestasjon.models import Child, ChildStatus
from tests.factories import next_national_id

BORN = date(2025, 3, 1)  # home visit window 4 March – 15 March (exclusive)
PERIOD = (date(2025, 1, 1), date(2025, 12, 31))
TODAY = date(2025, 12, 20)


def at(day: date, hour: int = 10) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour)))


def register(station, name: str, *, born: date = BORN, arrived: date | None = None) -> Child:
    return child_register(
        national_id=next_national_id(), given_name=name, family_name="Test", birth_date=born, sex="female",
        station=station, today=arrived or born,
    )


def visit(child: Child, code: str, day: date, by, *, outcome: str = Outcome.ATTENDED, reason: str = ""):
    consultation = Consultation.objects.get(child=child, step__code=code)
    appointment = appointment_book(
        consultation=consultation, starts_at=at(day), duration_minutes=30,
        place=Place.HOME if code == "HV" else Place.STATION, professional=by, booked_by=by,
    )
    return appointment_record_outcome(appointment=appointment, outcome=outcome, reason=reason, recorded_by=by)


def leave(child: Child, status: str, day: date) -> None:
    Child.objects.filter(pk=child.pk).update(status=status, status_changed_at=at(day, 12))


# Home visit figures for station A in 2025, seen on TODAY.
EXPECTED_HV = {
    "due": 7,  # in_window + late + expired + open
    "in_window": 2,  # on_time, visited_then_moved
    "late": 1,  # late
    "expired": 3,  # never_seen, died_after_window, corrected_away
    "open": 1,  # december_baby
    "not_applicable": 1,  # arrived_after_window
    "left": 1,  # moved_in_window
    "closed": 6,
    "in_window_closed": 2,
}


def build(station_a, station_b, nurse_a, nurse_b) -> dict[str, Child]:
    children = {}
    children["on_time"] = c = register(station_a, "Itide")
    visit(c, "HV", date(2025, 3, 8), nurse_a)

    children["late"] = c = register(station_a, "Forsent")
    visit(c, "HV", date(2025, 3, 9), nurse_a, outcome=Outcome.CANCELLED_BY_GUARDIAN, reason=Reason.ILLNESS)
    visit(c, "HV", date(2025, 3, 20), nurse_a)

    children["never_seen"] = c = register(station_a, "Aldri")
    visit(c, "HV", date(2025, 3, 10), nurse_a, outcome=Outcome.NO_ACCESS, reason=Reason.FORGOT)
    visit(c, "W4", date(2025, 4, 1), nurse_a, outcome=Outcome.NOT_BROUGHT, reason=Reason.ILLNESS)

    children["died_after_window"] = register(station_a, "Dodetter")

    children["corrected_away"] = c = register(station_a, "Rettet")
    event = visit(c, "HV", date(2025, 3, 8), nurse_a)
    outcome_correct(event=event, outcome=Outcome.NOT_BROUGHT, reason=Reason.LANGUAGE, recorded_by=nurse_a)

    children["visited_then_moved"] = c = register(station_a, "Flyttetetter")
    visit(c, "HV", date(2025, 3, 10), nurse_a)

    children["moved_in_window"] = register(station_a, "Flyttetfor")

    # Born 1 February: the home visit window closed 15 February, before she came;
    # the 4-week window (22 February – 15 March) was open when she arrived.
    children["arrived_after_window"] = register(station_a, "Innflyttet", born=date(2025, 2, 1), arrived=date(2025, 3, 1))

    # Window 18–29 December 2025: falls due in 2025, still open on TODAY.
    children["december_baby"] = register(station_a, "Desember", born=date(2025, 12, 15))

    # Window closes 3 January 2026: outside the period.
    children["new_year_baby"] = register(station_a, "Nyttar", born=date(2025, 12, 20))

    # Another station's child never counts for station A.
    children["other_station"] = c = register(station_b, "Annen")
    visit(c, "HV", date(2025, 3, 8), nurse_b)

    leave(children["moved_in_window"], ChildStatus.MOVED, date(2025, 3, 6))
    leave(children["visited_then_moved"], ChildStatus.MOVED, date(2025, 3, 12))
    leave(children["died_after_window"], ChildStatus.DECEASED, date(2025, 3, 20))
    consultations_advance_states(today=TODAY)
    return children


def scope_for(*stations, today: date = TODAY) -> Scope:
    return Scope(station_ids=tuple(s.pk for s in stations), start=PERIOD[0], end=PERIOD[1], today=today)
