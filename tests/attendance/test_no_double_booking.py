"""A professional is never booked twice for overlapping times: the exclusion constraint and its message."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from attendance.models import Appointment, AppointmentStatus, Consultation, ConsultationState, Outcome, OutcomeEvent, Place
from attendance.booking import appointment_book
from attendance.errors import ProfessionalBusy
from attendance.outcomes import appointment_record_outcome
from helsestasjon.models import Role
from tests.attendance.conftest import local
from tests.concurrency import at_once
from tests.factories import UserFactory

BUSY = "Nora Nilsen har allerede en time som overlapper dette tidspunktet. Velg et annet tidspunkt."


def day():
    return timezone.localdate() + timedelta(days=3)


def due(child) -> Consultation:
    return child.consultations.filter(state=ConsultationState.DUE).order_by("step__order").first()


def book(consultation, professional, starts_at, *, duration_minutes=30, booked_by=None):
    return appointment_book(
        consultation=consultation, starts_at=starts_at, duration_minutes=duration_minutes, place=Place.STATION,
        room="Rom 1", professional=professional, booked_by=booked_by or professional,
    )


@pytest.mark.django_db
def test_booking_an_overlapping_time_for_the_same_nurse_is_refused_and_books_nothing(station_a, nurse_a, planned_child):
    book(due(planned_child(station_a)), nurse_a, local(day(), 9, 0), duration_minutes=45)
    consultation = due(planned_child(station_a))
    with pytest.raises(ProfessionalBusy) as exc:
        book(consultation, nurse_a, local(day(), 9, 30))
    assert exc.value.message == BUSY
    consultation.refresh_from_db()
    assert consultation.state == ConsultationState.DUE
    assert not Appointment.objects.filter(consultation=consultation).exists()


@pytest.mark.django_db
def test_a_time_starting_when_the_previous_one_ends_is_allowed(station_a, nurse_a, planned_child):
    book(due(planned_child(station_a)), nurse_a, local(day(), 9, 0))
    book(due(planned_child(station_a)), nurse_a, local(day(), 9, 30))
    book(due(planned_child(station_a)), nurse_a, local(day(), 8, 30))
    assert Appointment.objects.filter(professional=nurse_a, status=AppointmentStatus.BOOKED).count() == 3


@pytest.mark.django_db
def test_another_professional_may_be_booked_at_the_same_time(station_a, nurse_a, planned_child):
    colleague = UserFactory(username="sykepleier2_a", role=Role.NURSE, stations=[station_a])
    book(due(planned_child(station_a)), nurse_a, local(day(), 9, 0))
    book(due(planned_child(station_a)), colleague, local(day(), 9, 0))
    assert Appointment.objects.filter(starts_at=local(day(), 9, 0), status=AppointmentStatus.BOOKED).count() == 2


@pytest.mark.django_db
def test_a_cancelled_appointment_frees_its_time(station_a, nurse_a, planned_child):
    cancelled = book(due(planned_child(station_a)), nurse_a, local(day(), 9, 0))
    appointment_record_outcome(appointment=cancelled, outcome=Outcome.CANCELLED_BY_GUARDIAN, recorded_by=nurse_a)
    again = book(due(planned_child(station_a)), nurse_a, local(day(), 9, 0))
    assert again.status == AppointmentStatus.BOOKED


@pytest.mark.django_db
def test_the_clerk_sees_the_clash_at_the_booking_row(login, station_a, clerk_a, nurse_a, planned_child):
    book(due(planned_child(station_a)), nurse_a, local(day(), 10, 30))
    consultation = due(planned_child(station_a))
    prefix = f"c{consultation.pk}"
    response = login(clerk_a).post(
        reverse("attendance:book", args=[consultation.pk]),
        {
            f"{prefix}-date": day().isoformat(), f"{prefix}-time": "10:45", f"{prefix}-duration_minutes": "30",
            f"{prefix}-place": "station", f"{prefix}-room": "Rom 2", f"{prefix}-professional": str(nurse_a.pk),
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert BUSY in response.content.decode()
    consultation.refresh_from_db()
    assert consultation.state == ConsultationState.DUE
    assert not Appointment.objects.filter(consultation=consultation).exists()


@pytest.mark.django_db(transaction=True)
def test_two_clerks_booking_one_slot_at_once_book_it_once(station_a, clerk_a, leader_a, nurse_a, planned_child):
    first, second = due(planned_child(station_a)), due(planned_child(station_a))
    def attempt(consultation, clerk):
        try:
            book(consultation, nurse_a, local(day(), 9, 0), booked_by=clerk)
            return "won"
        except ProfessionalBusy as exc:
            return exc.message

    results = dict(zip([first.pk, second.pk], at_once(lambda: attempt(first, clerk_a), lambda: attempt(second, leader_a))))
    assert sorted(results.values()) == [BUSY, "won"]
    winner = next(pk for pk, result in results.items() if result == "won")
    loser = first.pk if winner == second.pk else second.pk
    assert list(Appointment.objects.values_list("consultation_id", flat=True)) == [winner]
    assert Consultation.objects.get(pk=winner).state == ConsultationState.BOOKED
    assert Consultation.objects.get(pk=loser).state == ConsultationState.DUE


@pytest.mark.django_db
def test_moving_an_appointment_onto_an_occupied_time_is_refused_and_changes_nothing(station_a, nurse_a, planned_child):
    book(due(planned_child(station_a)), nurse_a, local(day(), 13, 0))
    moving = book(due(planned_child(station_a)), nurse_a, local(day(), 9, 0))
    with pytest.raises(ProfessionalBusy) as exc:
        appointment_record_outcome(
            appointment=moving, outcome=Outcome.RESCHEDULED, recorded_by=nurse_a, new_starts_at=local(day(), 13, 15)
        )
    assert exc.value.message == BUSY
    moving.refresh_from_db()
    assert moving.status == AppointmentStatus.BOOKED and moving.rescheduled_to is None
    assert not OutcomeEvent.objects.filter(appointment=moving).exists()
    assert Appointment.objects.count() == 2


@pytest.mark.django_db
def test_an_appointment_may_move_by_a_few_minutes_over_its_own_time(station_a, nurse_a, planned_child):
    moving = book(due(planned_child(station_a)), nurse_a, local(day(), 9, 0))
    appointment_record_outcome(appointment=moving, outcome=Outcome.RESCHEDULED, recorded_by=nurse_a, new_starts_at=local(day(), 9, 15))
    moving.refresh_from_db()
    assert moving.rescheduled_to.starts_at == local(day(), 9, 15)


@pytest.mark.django_db
def test_the_nurse_sees_the_clash_at_the_day_row_when_moving(login, station_a, nurse_a, planned_child):
    today = timezone.localdate()
    book(due(planned_child(station_a)), nurse_a, local(today + timedelta(days=1), 13, 0))
    moving = book(due(planned_child(station_a)), nurse_a, local(today, 9, 0))
    response = login(nurse_a).post(
        reverse("attendance:record_outcome", args=[moving.pk]),
        {"outcome": "rescheduled", "new_date": (today + timedelta(days=1)).isoformat(), "new_time": "13:00"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert BUSY in response.content.decode()
    moving.refresh_from_db()
    assert moving.status == AppointmentStatus.BOOKED


@pytest.mark.django_db
def test_the_admin_form_check_names_the_clash_too(station_a, nurse_a, planned_child):
    from django.core.exceptions import ValidationError

    taken = book(due(planned_child(station_a)), nurse_a, local(day(), 9, 0))
    consultation = due(planned_child(station_a))
    fields = dict(
        consultation=consultation, child=consultation.child, station=station_a, duration_minutes=30,
        professional=nurse_a, booked_by=nurse_a,
    )
    with pytest.raises(ValidationError, match="Fagpersonen har allerede en time som overlapper"):
        Appointment(starts_at=local(day(), 9, 15), **fields).validate_constraints()
    Appointment(starts_at=taken.ends_at, **fields).validate_constraints()
