"""Recording outcomes: consultation state, double submits, concurrency, corrections."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from attendance.models import Appointment, AppointmentStatus, ConsultationState, Outcome, OutcomeEvent, Place
from attendance.booking import appointment_book
from attendance.cancellations import child_cancel_future
from attendance.errors import BookingError, OutcomeConflict, OutcomeError
from attendance.outcomes import appointment_record_outcome, outcome_correct
from tests.attendance.conftest import local
from tests.concurrency import at_once

S = ConsultationState


@pytest.mark.django_db
def test_attended_completes_the_consultation(station_a, nurse_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    assert appointment.consultation.state == S.BOOKED
    event = appointment_record_outcome(appointment=appointment, outcome=Outcome.ATTENDED, recorded_by=nurse_a)
    appointment.refresh_from_db()
    appointment.consultation.refresh_from_db()
    assert appointment.status == AppointmentStatus.ATTENDED
    assert appointment.consultation.state == S.COMPLETED and appointment.consultation.completed_at is not None
    assert list(OutcomeEvent.objects.recorded_since(event.recorded_at)) == [event]


@pytest.mark.django_db
def test_not_brought_puts_the_consultation_back_to_due_with_the_reason(station_a, nurse_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    event = appointment_record_outcome(appointment=appointment, outcome=Outcome.NOT_BROUGHT, reason="forgot", recorded_by=nurse_a)
    appointment.consultation.refresh_from_db()
    assert appointment.consultation.state == S.DUE
    assert event.get_reason_display() == "Glemt timen"


@pytest.mark.django_db
def test_not_brought_after_the_window_closed_expires_the_consultation(station_a, nurse_a, planned_child, booked):
    child = planned_child(station_a)
    appointment = booked(child, nurse_a)
    consultation = appointment.consultation
    consultation.window_closes = timezone.localdate()
    consultation.save()
    appointment_record_outcome(appointment=appointment, outcome=Outcome.NOT_BROUGHT, recorded_by=nurse_a)
    consultation.refresh_from_db()
    assert consultation.state == S.EXPIRED and consultation.expired_at is not None


@pytest.mark.django_db
def test_an_identical_repeated_recording_is_a_no_op(station_a, nurse_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    first = appointment_record_outcome(appointment=appointment, outcome=Outcome.NOT_BROUGHT, reason="forgot", recorded_by=nurse_a)
    appointment.consultation.refresh_from_db()
    state, changed_at = appointment.consultation.state, appointment.consultation.state_changed_at
    again = appointment_record_outcome(appointment=appointment, outcome=Outcome.NOT_BROUGHT, reason="forgot", recorded_by=nurse_a)
    assert again == first
    assert list(OutcomeEvent.objects.filter(appointment=appointment)) == [first]
    appointment.consultation.refresh_from_db()
    assert (appointment.consultation.state, appointment.consultation.state_changed_at) == (state, changed_at)


@pytest.mark.django_db
def test_a_repeated_recording_that_differs_is_still_a_conflict(station_a, nurse_a, leader_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    appointment_record_outcome(appointment=appointment, outcome=Outcome.NOT_BROUGHT, reason="forgot", recorded_by=nurse_a)
    for outcome, reason, user in [
        (Outcome.NOT_BROUGHT, "illness", nurse_a),  # another reason
        (Outcome.ATTENDED, "", nurse_a),  # another outcome
        (Outcome.NOT_BROUGHT, "forgot", leader_a),  # a colleague: she is told who was first
    ]:
        with pytest.raises(OutcomeConflict) as exc:
            appointment_record_outcome(appointment=appointment, outcome=outcome, reason=reason, recorded_by=user)
        assert exc.value.current.outcome == Outcome.NOT_BROUGHT
    assert OutcomeEvent.objects.filter(appointment=appointment).count() == 1


@pytest.mark.django_db
def test_a_repeated_move_is_a_no_op_only_to_the_same_time(station_a, nurse_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    new_time = local(timezone.localdate() + timedelta(days=7), 13, 30)
    first = appointment_record_outcome(appointment=appointment, outcome=Outcome.RESCHEDULED, recorded_by=nurse_a, new_starts_at=new_time)
    again = appointment_record_outcome(appointment=appointment, outcome=Outcome.RESCHEDULED, recorded_by=nurse_a, new_starts_at=new_time)
    assert again == first and Appointment.objects.filter(consultation=appointment.consultation).count() == 2
    with pytest.raises(OutcomeConflict):
        appointment_record_outcome(appointment=appointment, outcome=Outcome.RESCHEDULED, recorded_by=nurse_a,
                                   new_starts_at=new_time + timedelta(hours=1))
    assert Appointment.objects.filter(consultation=appointment.consultation).count() == 2


@pytest.mark.django_db
def test_the_database_refuses_a_second_original_event(station_a, nurse_a, planned_child, booked):
    from django.db import IntegrityError, transaction

    appointment = booked(planned_child(station_a), nurse_a)
    OutcomeEvent.objects.create(appointment=appointment, outcome=Outcome.ATTENDED, recorded_by=nurse_a)
    with pytest.raises(IntegrityError), transaction.atomic():
        OutcomeEvent.objects.create(appointment=appointment, outcome=Outcome.NOT_BROUGHT, recorded_by=nurse_a)


@pytest.mark.django_db(transaction=True)
def test_two_nurses_recording_at_once_one_wins_and_the_other_is_told(station_a, nurse_a, leader_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    def record(user, outcome):
        try:
            appointment_record_outcome(appointment=Appointment.objects.get(pk=appointment.pk), outcome=outcome, recorded_by=user)
            return "won"
        except OutcomeConflict as exc:
            return exc.current.outcome

    outcomes = at_once(lambda: record(nurse_a, Outcome.ATTENDED), lambda: record(leader_a, Outcome.NOT_BROUGHT))
    assert outcomes.count("won") == 1
    winner = OutcomeEvent.objects.get(appointment=appointment)
    loser_saw = [v for v in outcomes if v != "won"]
    assert loser_saw == [winner.outcome]


@pytest.mark.django_db
def test_a_correction_is_a_new_event_and_the_history_keeps_both(station_a, nurse_a, leader_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    first = appointment_record_outcome(appointment=appointment, outcome=Outcome.ATTENDED, recorded_by=nurse_a)
    second = outcome_correct(event=first, outcome=Outcome.NOT_BROUGHT, reason="illness", recorded_by=leader_a)
    appointment.refresh_from_db()
    appointment.consultation.refresh_from_db()
    assert second.replaces == first
    assert appointment.status == AppointmentStatus.NOT_BROUGHT
    assert appointment.consultation.state == S.DUE and appointment.consultation.completed_at is None
    assert [e.outcome for e in appointment.event_history()] == [Outcome.ATTENDED, Outcome.NOT_BROUGHT]
    assert appointment.current_event() == second
    assert list(OutcomeEvent.objects.current().filter(appointment=appointment)) == [second]


@pytest.mark.django_db
def test_correcting_an_outcome_someone_already_corrected_is_a_conflict(station_a, nurse_a, leader_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    first = appointment_record_outcome(appointment=appointment, outcome=Outcome.ATTENDED, recorded_by=nurse_a)
    outcome_correct(event=first, outcome=Outcome.NOT_BROUGHT, recorded_by=leader_a)
    with pytest.raises(OutcomeConflict) as exc:
        outcome_correct(event=first, outcome=Outcome.CANCELLED_BY_GUARDIAN, recorded_by=nurse_a)
    assert exc.value.current.outcome == Outcome.NOT_BROUGHT


@pytest.mark.django_db
def test_rescheduling_books_the_new_time(station_a, nurse_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    new_time = local(timezone.localdate() + timedelta(days=7), 13, 30)
    appointment_record_outcome(appointment=appointment, outcome=Outcome.RESCHEDULED, recorded_by=nurse_a, new_starts_at=new_time)
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.RESCHEDULED
    assert appointment.rescheduled_to.starts_at == new_time
    assert appointment.rescheduled_to.status == AppointmentStatus.BOOKED
    appointment.consultation.refresh_from_db()
    assert appointment.consultation.state == S.BOOKED


@pytest.mark.django_db
def test_rescheduling_needs_a_new_time_and_reasons_only_go_with_missed_outcomes(station_a, nurse_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    with pytest.raises(OutcomeError, match="ny tid"):
        appointment_record_outcome(appointment=appointment, outcome=Outcome.RESCHEDULED, recorded_by=nurse_a)
    with pytest.raises(OutcomeError, match="Årsak"):
        appointment_record_outcome(appointment=appointment, outcome=Outcome.ATTENDED, reason="forgot", recorded_by=nurse_a)
    with pytest.raises(OutcomeError, match="hjemmebesøk"):
        appointment_record_outcome(appointment=appointment, outcome=Outcome.NO_ACCESS, recorded_by=nurse_a)


@pytest.mark.django_db
def test_a_consultation_can_have_many_appointments_but_one_open_booking(station_a, nurse_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    with pytest.raises(BookingError, match="allerede en bestilt time"):
        appointment_book(
            consultation=appointment.consultation, starts_at=local(timezone.localdate(), 11), duration_minutes=30,
            place=Place.STATION, room="", professional=nurse_a, booked_by=nurse_a,
        )
    appointment_record_outcome(appointment=appointment, outcome=Outcome.CANCELLED_BY_GUARDIAN, recorded_by=nurse_a)
    again = appointment_book(
        consultation=appointment.consultation, starts_at=local(timezone.localdate() + timedelta(days=3), 11), duration_minutes=30,
        place=Place.STATION, room="", professional=nurse_a, booked_by=nurse_a,
    )
    assert appointment.consultation.appointments.count() == 2
    assert again.status == AppointmentStatus.BOOKED


@pytest.mark.django_db
def test_a_nurse_at_another_station_cannot_be_booked(station_a, nurse_b, planned_child):
    child = planned_child(station_a)
    consultation = child.consultations.filter(state=S.DUE).first()
    with pytest.raises(BookingError, match="helsestasjon"):
        appointment_book(
            consultation=consultation, starts_at=local(timezone.localdate(), 11), duration_minutes=30,
            place=Place.STATION, room="", professional=nurse_b, booked_by=nurse_b,
        )


@pytest.mark.django_db
def test_cancelling_the_future_cancels_booked_appointments_once(station_a, nurse_a, planned_child, booked):
    child = planned_child(station_a)
    future = booked(child, nurse_a, starts_at=local(timezone.localdate() + timedelta(days=5)))
    assert len(child_cancel_future(child=child, reason="Død ifølge Folkeregisteret")) == 1
    assert child_cancel_future(child=child, reason="Død ifølge Folkeregisteret") == []
    future.refresh_from_db()
    assert future.status == AppointmentStatus.CANCELLED_BY_SERVICE
    assert future.events.get().note == "Død ifølge Folkeregisteret"


CALLS: list[str] = []


def record_hook_call():
    CALLS.append("called")


@pytest.mark.django_db
def test_recording_an_outcome_nudges_the_parts_above_after_commit(settings, station_a, nurse_a, planned_child, booked, django_capture_on_commit_callbacks):
    settings.ATTENDANCE_OUTCOME_HOOKS = ["tests.attendance.test_outcomes.record_hook_call"]
    appointment = booked(planned_child(station_a), nurse_a)
    CALLS.clear()
    with django_capture_on_commit_callbacks(execute=True):
        first = appointment_record_outcome(appointment=appointment, outcome=Outcome.NOT_BROUGHT, recorded_by=nurse_a)
    with django_capture_on_commit_callbacks(execute=True):
        outcome_correct(event=first, outcome=Outcome.ATTENDED, recorded_by=nurse_a)
    assert CALLS == ["called", "called"]


@pytest.mark.django_db
def test_a_reason_is_refused_with_attended(station_a, nurse_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    with pytest.raises(OutcomeError) as refused:
        appointment_record_outcome(appointment=appointment, outcome=Outcome.ATTENDED, reason="illness", recorded_by=nurse_a)
    assert refused.value.message == (
        "Årsak oppgis bare ved «Ikke møtt», «Avbestilt av foresatte» eller «Ingen hjemme», ikke ved «Møtt»."
    )
    assert not OutcomeEvent.objects.filter(appointment=appointment).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("outcome", [Outcome.CANCELLED_BY_SERVICE, Outcome.ATTENDED])
def test_a_correction_to_a_kept_or_station_cancelled_time_refuses_a_reason(station_a, nurse_a, planned_child, booked, outcome):
    appointment = booked(planned_child(station_a), nurse_a)
    first = appointment_record_outcome(appointment=appointment, outcome=Outcome.NOT_BROUGHT, reason="forgot", recorded_by=nurse_a)
    with pytest.raises(OutcomeError, match=f"ikke ved «{outcome.label}»"):
        outcome_correct(event=first, outcome=outcome, reason="forgot", recorded_by=nurse_a)
    assert outcome_correct(event=first, outcome=outcome, recorded_by=nurse_a).reason == ""


@pytest.mark.django_db
@pytest.mark.parametrize("outcome", [Outcome.NOT_BROUGHT, Outcome.CANCELLED_BY_GUARDIAN, Outcome.NO_ACCESS])
def test_a_reason_is_kept_with_a_missed_or_cancelled_time(station_a, nurse_a, planned_child, booked, outcome):
    appointment = booked(planned_child(station_a), nurse_a)
    if outcome == Outcome.NO_ACCESS:
        Appointment.objects.filter(pk=appointment.pk).update(place=Place.HOME)
    event = appointment_record_outcome(appointment=appointment, outcome=outcome, reason="illness", recorded_by=nurse_a)
    assert event.get_reason_display() == "Sykdom"
