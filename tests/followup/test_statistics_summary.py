"""The statistics summary follows every write to the tables it comes from (database triggers,
migration followup/0014_statistics_summary), and the rebuild gives the same rows."""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest
from django.db import connection, transaction

from attendance.models import Appointment, Consultation, Outcome, Place, Reason
from attendance.booking import appointment_book
from attendance.outcomes import appointment_record_outcome, outcome_correct
from followup.statistics.models import StatisticsAppointment, StatisticsChild, StatisticsConsultation
from followup.statistics.outcome_bits import FIGURE_BIT
from helsestasjon.models import Child, ChildStatus, Role, User
from helsestasjon.services import child_update_from_register
from tests.concurrency import at_once
from tests.factories import StationFactory, UserFactory
from tests.followup.statistics_population import at, register

pytestmark = pytest.mark.django_db


def _summary() -> dict:
    return {
        "appointments": sorted(StatisticsAppointment.objects.values_list()),
        "consultations": sorted(StatisticsConsultation.objects.values_list()),
        "children": sorted(StatisticsChild.objects.values_list()),
    }


@pytest.fixture
def home_visit():
    station = StationFactory()
    nurse = UserFactory(role=Role.NURSE, stations=[station])
    child = register(station, "Sammendrag", born=date(2025, 3, 1))
    consultation = Consultation.objects.get(child=child, step__code="HV")
    appointment = appointment_book(
        consultation=consultation, starts_at=at(date(2025, 3, 9)), duration_minutes=30, place=Place.HOME,
        professional=nurse, booked_by=nurse,
    )
    return appointment, nurse


def test_an_outcome_and_its_correction_reach_the_summary(home_visit):
    appointment, nurse = home_visit
    row = StatisticsAppointment.objects.get(pk=appointment.pk)
    assert (row.status, row.reason, row.age_days, row.home_by_nurse, row.month) == ("booked", "", 8, True, date(2025, 3, 1))
    event = appointment_record_outcome(appointment=appointment, outcome=Outcome.NOT_BROUGHT, reason=Reason.ILLNESS, recorded_by=nurse)
    row.refresh_from_db()
    assert (row.status, row.reason) == ("not_brought", Reason.ILLNESS)
    outcome_correct(event=event, outcome=Outcome.ATTENDED, reason="", recorded_by=nurse)
    row.refresh_from_db()
    assert (row.status, row.reason) == ("attended", "")
    assert StatisticsConsultation.objects.get(pk=appointment.consultation_id).in_time


def test_a_register_cancellation_is_marked_as_the_registers(home_visit):
    appointment, _nurse = home_visit
    appointment_record_outcome(appointment=appointment, outcome=Outcome.CANCELLED_BY_SERVICE, reason=Reason.REGISTER_MOVED, recorded_by=None)
    assert StatisticsAppointment.objects.get(pk=appointment.pk).by_register


def test_a_role_a_move_and_a_death_refresh_the_rows_they_change(home_visit):
    appointment, nurse = home_visit
    User.objects.filter(pk=nurse.pk).update(role=Role.LEADER)
    assert not StatisticsAppointment.objects.get(pk=appointment.pk).home_by_nurse
    other = StationFactory(municipality=appointment.station.municipality)
    child_update_from_register(child=appointment.child, station=other)
    assert StatisticsAppointment.objects.get(pk=appointment.pk).station_id == other.pk
    assert set(StatisticsConsultation.objects.filter(child=appointment.child).values_list("station_id", flat=True)) == {other.pk}
    # Born 1 March 2025: long past its newborn days, so the station at birth stays.
    assert StatisticsChild.objects.get(pk=appointment.child_id).birth_station_id == appointment.station_id
    Child.objects.filter(pk=appointment.child_id).update(status=ChildStatus.DECEASED, status_changed_at=at(date(2025, 6, 2)))
    assert set(StatisticsConsultation.objects.filter(child=appointment.child).values_list("left_on", flat=True)) == {date(2025, 6, 2)}


def test_deleting_an_appointment_removes_its_row(home_visit):
    appointment, _nurse = home_visit
    Appointment.objects.filter(pk=appointment.pk).delete()
    assert not StatisticsAppointment.objects.filter(pk=appointment.pk).exists()


def test_the_rebuild_gives_the_rows_the_triggers_keep(home_visit):
    appointment, nurse = home_visit
    appointment_record_outcome(appointment=appointment, outcome=Outcome.ATTENDED, recorded_by=nurse)
    register(appointment.station, "Innflyttet", born=date(2025, 1, 10), arrived=date(2025, 5, 10))
    kept = _summary()
    assert any(row[-1] for row in kept["children"])  # the child who moved here after birth
    with connection.cursor() as cursor:
        cursor.execute("SELECT followup_statistics_rebuild()")
    assert _summary() == kept


def test_first_bits_move_to_the_next_row_on_a_correction_and_a_deletion(home_visit):
    """The first of a child's rows in the year, the consultation and the month to carry a figure's
    bit keeps it; corrected or deleted, the next row takes it over, as the rebuild says too."""
    appointment, nurse = home_visit
    event = appointment_record_outcome(appointment=appointment, outcome=Outcome.NOT_BROUGHT, reason=Reason.ILLNESS, recorded_by=nurse)
    again = appointment_book(
        consultation=appointment.consultation, starts_at=at(date(2025, 3, 12)), duration_minutes=30, place=Place.HOME,
        professional=nurse, booked_by=nurse,
    )
    appointment_record_outcome(appointment=again, outcome=Outcome.NOT_BROUGHT, reason=Reason.ILLNESS, recorded_by=nurse)
    not_brought, attended = FIGURE_BIT["not_brought"], FIGURE_BIT["attended"]

    def first_bits(pk):
        row = StatisticsAppointment.objects.get(pk=pk)
        return {row.year_first_bits & not_brought, row.step_first_bits & not_brought, row.month_first_bits & not_brought}

    assert (first_bits(appointment.pk), first_bits(again.pk)) == ({not_brought}, {0})
    outcome_correct(event=event, outcome=Outcome.ATTENDED, reason="", recorded_by=nurse)
    assert (first_bits(appointment.pk), first_bits(again.pk)) == ({0}, {not_brought})
    assert StatisticsAppointment.objects.get(pk=appointment.pk).step_first_bits & attended
    kept = _summary()
    with connection.cursor() as cursor:
        cursor.execute("SELECT followup_statistics_rebuild()")
    assert _summary() == kept
    with connection.cursor() as cursor:  # events protect their appointment; the trigger sees the bare DELETE
        cursor.execute("DELETE FROM attendance_outcomeevent WHERE appointment_id = %s", [appointment.pk])
        cursor.execute("DELETE FROM attendance_appointment WHERE id = %s", [appointment.pk])
    assert StatisticsAppointment.objects.get(pk=again.pk).year_first_bits & FIGURE_BIT["with_outcome"]


@pytest.mark.django_db(transaction=True)
def test_two_writes_for_one_child_at_once_leave_the_first_bits_the_rebuild_gives():
    """The first bits of a child depend on all its rows: two writers at once take turns (an advisory lock
    per child, migration 0017), so the second sees the first's row and the child counts once. Without the
    lock both rows were the year's first."""
    station = StationFactory()
    nurse = UserFactory(role=Role.NURSE, stations=[station])
    other = UserFactory(role=Role.NURSE, stations=[station])
    child = register(station, "Samtidig", born=date(2025, 3, 1))
    booked = [
        appointment_book(consultation=Consultation.objects.get(child=child, step__code=code), starts_at=at(day), duration_minutes=30,
                         place=Place.HOME if code == "HV" else Place.STATION, professional=who, booked_by=who)
        for code, day, who in (("HV", date(2025, 3, 9), nurse), ("W4", date(2025, 3, 30), other))
    ]
    first_wrote = threading.Event()

    def attend(appointment) -> None:  # a bare write: the services' own locks are not what is tested
        with connection.cursor() as cursor:
            cursor.execute("UPDATE attendance_appointment SET status = 'attended' WHERE id = %s", [appointment.pk])

    def first():  # writes and keeps its transaction open a moment
        with transaction.atomic():
            attend(booked[0])
            first_wrote.set()
            time.sleep(0.5)

    def second():  # writes while the first has not committed
        assert first_wrote.wait(10)
        attend(booked[1])

    at_once(first, second)
    rows = StatisticsAppointment.objects.filter(child=child, bits__gt=0).order_by("starts_at")
    assert [row.year_first_bits & FIGURE_BIT["with_outcome"] for row in rows] == [FIGURE_BIT["with_outcome"], 0]
    kept = _summary()
    with connection.cursor() as cursor:
        cursor.execute("SELECT followup_statistics_rebuild()")
    assert _summary() == kept
