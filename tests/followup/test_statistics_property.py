"""Property: every appointment, follow-up and KOSTRA figure equals a plain-Python recount of the raw
rows and the size of its drill-down list, for one station and for all, on random populations made
through the services (appointments, outcomes, corrections, register cancellations, moves, deaths,
closings and reopenings)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from itertools import count

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from attendance.models import (
    Appointment,
    Consultation,
    Outcome,
    OutcomeEvent,
    Place,
    ProgrammeStep,
    Reason,
)
from attendance.booking import appointment_book
from attendance.errors import AttendanceError, OutcomeConflict
from attendance.outcomes import appointment_record_outcome, outcome_correct
from followup.models import Case, CaseLogEntry, CaseLogKind, CaseStatus, CloseReason
from followup.closing import case_close
from followup.sweep import followup_sweep
from followup.statistics import cases, figures, kostra
from followup.closing import case_close
from followup.sweep import followup_sweep
from followup.statistics import appointments as appointment_figures
from followup.statistics import cases, figures, kostra
from followup.statistics.scope import Scope
from helsestasjon.models import Child, ChildStatus, Role
from tests.factories import StationFactory, UserFactory
from tests.followup.statistics_population import at, register

YEAR = 2025
CODES = ["HV", "W6", "Y2", "Y4"]
OUTCOMES = [
    Outcome.ATTENDED, Outcome.NOT_BROUGHT, Outcome.CANCELLED_BY_GUARDIAN, Outcome.CANCELLED_BY_SERVICE, "register", Outcome.NO_ACCESS,
]

appointment_spec = st.tuples(
    st.sampled_from(CODES), st.integers(min_value=0, max_value=40), st.sampled_from(OUTCOMES), st.booleans(), st.booleans(),
    st.sampled_from([None, Outcome.NOT_BROUGHT, Outcome.ATTENDED]),
)
child_spec = st.tuples(
    st.sampled_from([date(2025, 2, 20), date(2025, 6, 1), date(2024, 12, 28), date(2023, 4, 1), date(2022, 12, 1), date(2021, 5, 1)]),
    st.integers(min_value=0, max_value=1),  # station
    st.lists(appointment_spec, max_size=3),
    st.sampled_from([None, ChildStatus.MOVED, ChildStatus.DECEASED]),
    st.sampled_from([date(2025, 5, 1), date(2026, 3, 1)]),
    st.booleans(),  # close the case (if any) in 2025 and let a later miss reopen it
)


def _first_day(code: str, born: date) -> date:
    return born + {"HV": timedelta(days=3), "W6": timedelta(days=35), "Y2": timedelta(days=730), "Y4": timedelta(days=1461)}[code]


def _build(spec, stations, nurse, leader, slots) -> None:
    for born, station_index, appointments, leaves, left_on, reopen in spec:
        child = register(stations[station_index], "Barn", born=born)
        for code, offset, outcome, at_home, by_leader, correction in appointments:
            day = _first_day(code, born) + timedelta(days=offset)
            if day.year != YEAR:
                day = date(YEAR, 1 + offset % 12, 1 + offset % 27)
            consultation = Consultation.objects.get(child=child, step__code=code)
            by = leader if by_leader else nurse
            try:
                appointment = appointment_book(
                    consultation=consultation, starts_at=at(day, 7) + timedelta(minutes=30 * next(slots)), duration_minutes=30,
                    place=Place.HOME if at_home else Place.STATION, professional=by, booked_by=by,
                )
                if outcome == "register":
                    event = appointment_record_outcome(
                        appointment=appointment, outcome=Outcome.CANCELLED_BY_SERVICE, reason=Reason.REGISTER_MOVED, recorded_by=None
                    )
                else:
                    if outcome == Outcome.NO_ACCESS and not at_home:
                        outcome = Outcome.NOT_BROUGHT
                    reason = Reason.ILLNESS if outcome in (Outcome.NOT_BROUGHT, Outcome.CANCELLED_BY_GUARDIAN) else ""
                    event = appointment_record_outcome(appointment=appointment, outcome=outcome, reason=reason, recorded_by=by)
                if correction and outcome != "register":
                    outcome_correct(event=event, outcome=correction, reason="", recorded_by=by)
            except (AttendanceError, OutcomeConflict):
                continue  # Not bookable any more (seen already): the service said no, nothing was written.
        if reopen:
            followup_sweep(now=at(date(YEAR, 9, 1)))
            case = Case.objects.filter(child=child, status=CaseStatus.OPEN).first()
            if case is not None:
                case_close(case=case, reason=CloseReason.ATTENDED, closed_by=None, now=at(date(YEAR, 9, 15)))
                consultation = Consultation.objects.filter(child=child, state__in=["planned", "due", "expired"]).first()
                if consultation is not None:
                    try:
                        appointment = appointment_book(
                            consultation=consultation, starts_at=at(date(YEAR, 10, 1), 7) + timedelta(minutes=30 * next(slots)),
                            duration_minutes=30, place=Place.STATION, professional=nurse, booked_by=nurse,
                        )
                        appointment_record_outcome(appointment=appointment, outcome=Outcome.NOT_BROUGHT, recorded_by=nurse)
                    except (AttendanceError, OutcomeConflict):
                        pass
                followup_sweep(now=at(date(YEAR, 10, 2)))  # the new miss reopens the closed case
                case = Case.objects.get(pk=case.pk)
                if case.status == CaseStatus.OPEN:
                    case_close(case=case, reason=CloseReason.GP_CONFIRMED, closed_by=None, now=at(date(YEAR, 11, 2)))
        if leaves:
            Child.objects.filter(pk=child.pk).update(status=leaves, status_changed_at=at(left_on, 12))


# --- the recount, in plain Python from the raw rows --------------------------------------------------


def _local_day(moment: datetime) -> date:
    return timezone.localtime(moment).date()


def _current_event(appointment_id: int, events: list[OutcomeEvent]) -> OutcomeEvent | None:
    replaced = {e.replaces_id for e in events if e.replaces_id}
    current = [e for e in events if e.id not in replaced and e.appointment_id == appointment_id]
    return max(current, key=lambda e: (e.recorded_at, e.id)) if current else None


def recount(station_ids) -> dict:
    children = {c.id: c for c in Child.objects.filter(station_id__in=station_ids)}
    appointments = [a for a in Appointment.objects.select_related("consultation__step", "professional") if a.child_id in children]
    events = list(OutcomeEvent.objects.filter(appointment__in=[a.id for a in appointments]))
    in_year = [a for a in appointments if _local_day(a.starts_at).year == YEAR]
    by_key: dict[str, set[int]] = {key: set() for key, _l, _s in appointment_figures.APPOINTMENT_CATEGORIES}
    for a in in_year:
        if a.status in ("booked", "rescheduled"):
            continue
        event = _current_event(a.id, events)
        by_register = a.status == "cancelled_by_service" and event is not None and event.reason in ("register_moved", "register_deceased")
        if by_register:
            by_key["cancelled_by_register"].add(a.child_id)
            continue
        by_key["with_outcome"].add(a.child_id)
        key = {"attended": "attended", "not_brought": "not_brought", "no_access": "not_brought",
               "cancelled_by_guardian": "cancelled_by_guardian", "cancelled_by_service": "cancelled_by_service"}[a.status]
        by_key[key].add(a.child_id)
    ssb = {}
    end = timezone.make_aware(datetime(YEAR + 1, 1, 1))
    arrived_later = {
        c.child_id for c in Consultation.objects.filter(child__in=list(children), step__code="HV") if c.state == "not_applicable"
    }
    for m in kostra.SSB_MEASURES:
        numerator = set()
        for a in in_year:
            if a.status != "attended" or a.consultation.step.code != m.step_code:
                continue
            age = (_local_day(a.starts_at) - children[a.child_id].birth_date).days
            home_by_nurse = a.place == "home" and a.professional.role == Role.NURSE
            if ((m.key == "home_visit_14" and home_by_nurse and age <= 14) or (m.key == "home_visit_10" and home_by_nurse and age <= 10)
                    or (m.key == "week_8" and age < 56) or m.key in ("year_2", "year_4")):
                numerator.add(a.child_id)
        born = {"births": YEAR, "aged_2": YEAR - 2, "aged_4": YEAR - 4}[m.denominator]
        # Births: lived here as a newborn (this builder never moves a child between stations).
        denominator = {
            c.id for c in children.values()
            if c.birth_date.year == born
            and (c.id not in arrived_later if m.denominator == "births"
                 else not (c.status in ("moved", "emigrated", "deceased") and c.status_changed_at < end))
        }
        ssb[m.key] = (numerator, denominator)
    labels = {str(label): value for value, label in CloseReason.choices}
    closed, by_reason = set(), {}
    start = timezone.make_aware(datetime(YEAR, 1, 1))
    for entry in CaseLogEntry.objects.filter(kind=CaseLogKind.CLOSED).select_related("case"):
        if entry.case.child_id in children and start <= entry.at < end:
            closed.add(entry.case.child_id)
            by_reason.setdefault(labels[entry.text], set()).add(entry.case.child_id)
    return {"appointments": by_key, "ssb": ssb, "closed": closed, "closed_by_reason": by_reason}


def _ids(qs) -> set[int]:
    return set(Child.objects.filter(id__in=qs).values_list("id", flat=True))


def check(station_ids, leader_scope_user) -> None:
    scope = Scope(station_ids=tuple(station_ids), start=date(YEAR, 1, 1), end=date(YEAR, 12, 31), today=date(2026, 6, 1))
    expected = recount(station_ids)
    total = appointment_figures.appointment_figures(scope, []).total.counts
    # A calendar year is counted from the rows' first bits; the general way (one row per child
    # first) gives every appointment figure alike.
    steps = list(ProgrammeStep.objects.order_by("order"))
    assert appointment_figures.whole_year(scope, YEAR)
    assert appointment_figures.appointment_figures(scope, steps, kostra_year=YEAR) == appointment_figures.appointment_figures(
        scope, steps, kostra_year=YEAR, by_first_bits=False)
    for key, children in expected["appointments"].items():
        listed = _ids(figures.figure_child_ids(scope, "appointments", figures.FigureRequest(category=key)))
        assert total[key] == len(children) == len(listed), key
        assert listed == children, key
    counts = kostra.ssb_counts(list(station_ids), YEAR)
    for key, (numerator, denominator) in expected["ssb"].items():
        assert sum(counts[s][key]["numerator"] for s in station_ids) == len(numerator), key
        assert sum(counts[s][key]["denominator"] for s in station_ids) == len(denominator), key
        assert _ids(figures.figure_child_ids(scope, "kostra", figures.FigureRequest(category="numerator", detail=key))) == numerator
        assert _ids(figures.figure_child_ids(scope, "kostra", figures.FigureRequest(category="denominator", detail=key))) == denominator
    followup = cases.followup(scope)
    assert followup.closed == len(expected["closed"])
    assert _ids(figures.figure_child_ids(scope, "followup", figures.FigureRequest(category="closed"))) == expected["closed"]
    assert {reason: n for reason, _label, n in followup.closed_by_reason} == {r: len(c) for r, c in expected["closed_by_reason"].items()}


@pytest.mark.django_db
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(spec=st.lists(child_spec, min_size=1, max_size=5))
@example(spec=[  # every kind of event at least once
    (date(2025, 2, 20), 0, [("HV", 5, Outcome.ATTENDED, True, False, None), ("W6", 3, Outcome.NOT_BROUGHT, False, False, None)],
     None, date(2025, 5, 1), True),
    (date(2023, 4, 1), 1, [("Y2", 10, "register", False, False, None), ("Y2", 12, Outcome.ATTENDED, False, True, Outcome.NOT_BROUGHT)],
     ChildStatus.MOVED, date(2025, 5, 1), False),
    (date(2021, 5, 1), 0, [("Y4", 1, Outcome.ATTENDED, False, False, None)], ChildStatus.DECEASED, date(2026, 3, 1), False),
    (date(2024, 12, 28), 1, [("HV", 2, Outcome.ATTENDED, True, False, None)], None, date(2025, 5, 1), False),
])
def test_every_figure_equals_a_recount_of_the_raw_rows(municipality, spec):
    # Each example has its own two stations, so earlier examples never count.
    stations = [StationFactory(municipality=municipality), StationFactory(municipality=municipality)]
    nurse = UserFactory(role=Role.NURSE)
    nurse.stations.set(stations)
    leader = UserFactory(role=Role.LEADER)
    leader.stations.set(stations)
    _build(spec, stations, nurse, leader, count())
    for station_ids in ([stations[0].pk], [stations[1].pk], [s.pk for s in stations]):
        check(station_ids, leader)
