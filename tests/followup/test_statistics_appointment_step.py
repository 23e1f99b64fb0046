"""Appointment.step, which the statistics count by, always equals its consultation's step: set by the
booking services, by the database trigger on every other write, and followed when a consultation's
step changes."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db.models import F

from attendance.models import Appointment, Consultation, Outcome, Place, ProgrammeStep
from attendance.booking import appointment_book
from attendance.outcomes import appointment_record_outcome
from helsestasjon.models import Role
from tests.factories import (
    AppointmentFactory,
    ChildFactory,
    ConsultationFactory,
    StationFactory,
    UserFactory,
)
from tests.followup.statistics_population import at, register

pytestmark = pytest.mark.django_db


def _mismatches() -> int:
    return Appointment.objects.exclude(step_id=F("consultation__step_id")).count()


def _step(code: str) -> ProgrammeStep:
    return ProgrammeStep.objects.get(code=code)


def test_booking_and_moving_set_the_step_of_the_consultation():
    station = StationFactory()
    nurse = UserFactory(role=Role.NURSE)
    nurse.stations.set([station])
    child = register(station, "Steg", born=date(2025, 3, 1))
    consultation = Consultation.objects.get(child=child, step__code="W6")
    appointment = appointment_book(
        consultation=consultation, starts_at=at(date(2025, 4, 10)), duration_minutes=30, place=Place.STATION,
        professional=nurse, booked_by=nurse,
    )
    assert appointment.step_id == consultation.step_id == _step("W6").pk
    appointment_record_outcome(
        appointment=appointment, outcome=Outcome.RESCHEDULED, recorded_by=nurse, new_starts_at=at(date(2025, 4, 17)),
    )
    moved = Appointment.objects.get(rescheduled_from=appointment)
    assert moved.step_id == _step("W6").pk
    assert Appointment.objects.filter(child=child).count() == 2
    assert _mismatches() == 0


def test_the_trigger_corrects_a_write_that_names_another_step_or_none():
    consultation = ConsultationFactory(step=_step("Y2"))
    wrong = AppointmentFactory(consultation=consultation, step=_step("HV"))
    unset = AppointmentFactory(consultation=consultation, status="attended")
    assert set(Appointment.objects.filter(pk__in=[wrong.pk, unset.pk]).values_list("step_id", flat=True)) == {_step("Y2").pk}
    # A later write naming a wrong step, or moving the appointment to another consultation.
    Appointment.objects.filter(pk=wrong.pk).update(step_id=_step("Y4").pk)
    other = ConsultationFactory(child=consultation.child, step=_step("Y4"))
    Appointment.objects.filter(pk=unset.pk).update(consultation=other)
    assert Appointment.objects.get(pk=wrong.pk).step_id == _step("Y2").pk
    assert Appointment.objects.get(pk=unset.pk).step_id == _step("Y4").pk
    assert _mismatches() == 0


def test_bulk_writes_get_the_step_too():
    child = ChildFactory()
    consultation = ConsultationFactory(child=child, step=_step("M6"))
    nurse = UserFactory(role=Role.NURSE)
    Appointment.objects.bulk_create([
        Appointment(consultation=consultation, child=child, station=child.station, starts_at=at(date(2025, 5, 1)) + timedelta(hours=i),
                    professional=nurse, booked_by=nurse, status="attended")
        for i in range(3)
    ])
    assert set(Appointment.objects.filter(child=child).values_list("step_id", flat=True)) == {_step("M6").pk}


def test_a_consultation_whose_step_changes_takes_its_appointments_along():
    consultation = ConsultationFactory(step=_step("M12"))
    appointments = [AppointmentFactory(consultation=consultation, status="not_brought") for _ in range(2)]
    Consultation.objects.filter(pk=consultation.pk).update(step=_step("M15"))
    assert {a.step_id for a in Appointment.objects.filter(pk__in=[a.pk for a in appointments])} == {_step("M15").pk}
    assert _mismatches() == 0
