"""What happened at a booked appointment: recording an outcome, correcting it, moving a time.

Attendance records facts only. The follow-up part derives its cases from these facts
(``OutcomeEvent.objects.recorded_since``, ``Consultation.expired_at``) and is never called from here.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from attendance.booking import check_slot
from attendance.errors import OutcomeConflict, OutcomeError, ProfessionalBusy, SlotTaken, violated_constraint
from attendance.hooks import outcome_recorded_notify, outcome_refusal
from attendance.models import (APPOINTMENT_NO_OVERLAP, REASON_OUTCOMES, REGISTER_REASONS, Appointment, AppointmentStatus,
                               Consultation, Outcome, OutcomeEvent, Place, Reason)
from attendance.plan import consultation_refresh
from attendance.slots import slot_is_free
from helsestasjon.models import User


def _check_outcome(*, appointment: Appointment, outcome: str, reason: str) -> None:
    if outcome not in Outcome.values:
        raise OutcomeError(gettext("Ukjent utfall."))
    if reason and reason not in Reason.values:
        raise OutcomeError(gettext("Ukjent årsak."))
    if reason in REGISTER_REASONS:
        if outcome != Outcome.CANCELLED_BY_SERVICE:
            raise OutcomeError(gettext("Ukjent årsak."))
    elif reason and outcome not in REASON_OUTCOMES:
        # A reason explains why a time was missed or cancelled; with "Møtt" it would say something untrue.
        raise OutcomeError(
            gettext("Årsak oppgis bare ved «Ikke møtt», «Avbestilt av foresatte» eller «Ingen hjemme», ikke ved «%(outcome)s».")
            % {"outcome": Outcome(outcome).label}
        )
    if outcome == Outcome.NO_ACCESS and appointment.place != Place.HOME:
        raise OutcomeError(gettext("«Ingen hjemme» gjelder bare hjemmebesøk."))


def _check_other_parts_allow(*, appointment: Appointment, outcome: str) -> None:
    """A part above attendance may refuse an outcome by a rule of its own (see attendance.hooks)."""
    refusal = outcome_refusal(appointment=appointment, outcome=outcome)
    if refusal:
        raise OutcomeError(refusal)


def _apply_status(*, appointment: Appointment, outcome: str) -> None:
    appointment.status = outcome
    appointment.save(update_fields=["status"])


def _current_event(appointment: Appointment) -> OutcomeEvent | None:
    return appointment.events.current().order_by("-recorded_at", "-id").first()


def _locked(appointment: Appointment) -> Appointment:
    return Appointment.objects.select_for_update().select_related("consultation__child").get(pk=appointment.pk)


def _repeats(current: OutcomeEvent | None, *, appointment: Appointment, outcome: str, reason: str,
             recorded_by: User | None, new_starts_at: datetime | None) -> bool:
    """Is this recording the one that already counts, by the same user (a double click)?

    A colleague's identical recording is still a conflict: she is told who recorded it first.
    A move repeats only to the same new time.
    """
    if current is None or recorded_by is None or current.recorded_by_id != recorded_by.pk:
        return False
    if current.outcome != outcome or current.reason != reason:
        return False
    if outcome == Outcome.RESCHEDULED:
        moved_to = appointment.rescheduled_to
        return moved_to is not None and moved_to.starts_at == new_starts_at
    return True


def _still_booked_or_repeat(*, appointment: Appointment, outcome: str, reason: str, recorded_by: User | None,
                            new_starts_at: datetime | None) -> OutcomeEvent | None:
    """None when the appointment is still booked; the event that counts when this recording repeats it.

    Any other recording of an appointment that is no longer booked is a conflict.
    """
    if appointment.status == AppointmentStatus.BOOKED:
        return None
    current = _current_event(appointment)
    if _repeats(current, appointment=appointment, outcome=outcome, reason=reason, recorded_by=recorded_by,
                new_starts_at=new_starts_at):
        return current
    raise OutcomeConflict(
        gettext("Utfallet er allerede registrert: %(status)s.") % {"status": appointment.get_status_display()},
        appointment=appointment, current=current,
    )


def _create_event(*, appointment: Appointment, outcome: str, reason: str, recorded_by: User | None, now: datetime,
                  note: str) -> OutcomeEvent:
    """The original event; the partial unique constraint refuses a second one recorded at the same moment."""
    try:
        with transaction.atomic():
            return OutcomeEvent.objects.create(
                appointment=appointment, outcome=outcome, reason=reason, recorded_by=recorded_by, recorded_at=now, note=note[:200]
            )
    except IntegrityError:
        appointment.refresh_from_db()
        raise OutcomeConflict(
            gettext("Utfallet ble nettopp registrert av en annen."), appointment=appointment, current=_current_event(appointment)
        ) from None


def _book_moved_to(*, appointment: Appointment, consultation: Consultation, starts_at: datetime,
                   recorded_by: User | None, now: datetime) -> None:
    """The new time a moved appointment gets: same place, room, length and professional."""
    try:
        with transaction.atomic():
            new = Appointment.objects.create(
                consultation=consultation,
                step_id=consultation.step_id,
                child_id=appointment.child_id,
                station_id=appointment.station_id,
                starts_at=starts_at,
                duration_minutes=appointment.duration_minutes,
                place=appointment.place,
                room=appointment.room,
                professional_id=appointment.professional_id,
                booked_by=recorded_by or appointment.booked_by,
                booked_at=now,
            )
    except IntegrityError as exc:
        if violated_constraint(exc) != APPOINTMENT_NO_OVERLAP:
            raise
        # Leaving by the exception undoes the event and the status: the appointment stays booked at its old time.
        raise ProfessionalBusy(User.objects.get(pk=appointment.professional_id)) from None
    appointment.rescheduled_to = new
    appointment.save(update_fields=["rescheduled_to"])


@transaction.atomic
def appointment_record_outcome(
    *,
    appointment: Appointment,
    outcome: str,
    reason: str = "",
    recorded_by: User | None,
    new_starts_at: datetime | None = None,
    note: str = "",
) -> OutcomeEvent:
    """Record what happened at a booked appointment.

    Of two recordings at once (a double click, two nurses) exactly one succeeds:
    the appointment row is locked and must still be booked, and the partial
    unique constraint "one original per appointment" backs that up. The loser gets
    OutcomeConflict carrying the event that won.

    The same user recording the same outcome and reason again (a double click, a repeated POST)
    is a no-op: it returns the event that counts, writes nothing and raises nothing.
    """
    reason = reason or ""
    appointment = _locked(appointment)
    _check_outcome(appointment=appointment, outcome=outcome, reason=reason)
    if outcome == Outcome.RESCHEDULED:
        if new_starts_at is None:
            raise OutcomeError(gettext("Velg ny tid for timen som flyttes."))
        check_slot(starts_at=new_starts_at, duration_minutes=appointment.duration_minutes, place=appointment.place)
    repeated = _still_booked_or_repeat(appointment=appointment, outcome=outcome, reason=reason, recorded_by=recorded_by,
                                       new_starts_at=new_starts_at)
    if repeated is not None:
        return repeated
    _check_other_parts_allow(appointment=appointment, outcome=outcome)
    now = timezone.now()
    event = _create_event(appointment=appointment, outcome=outcome, reason=reason, recorded_by=recorded_by, now=now, note=note)
    _apply_status(appointment=appointment, outcome=outcome)
    consultation = Consultation.objects.select_for_update().select_related("child").get(pk=appointment.consultation_id)
    if outcome == Outcome.RESCHEDULED:
        _book_moved_to(appointment=appointment, consultation=consultation, starts_at=new_starts_at,
                       recorded_by=recorded_by, now=now)
    consultation_refresh(consultation=consultation)
    outcome_recorded_notify()
    return event


@transaction.atomic
def outcome_correct(*, event: OutcomeEvent, outcome: str, reason: str = "", recorded_by: User) -> OutcomeEvent:
    """Correct a recorded outcome with a new event that replaces it (nothing is overwritten).

    Only the outcome that counts now can be corrected; if someone corrected it
    first, OutcomeConflict tells the user and carries the current event.
    """
    reason = reason or ""
    appointment = _locked(event.appointment)
    _check_outcome(appointment=appointment, outcome=outcome, reason=reason)
    if outcome == Outcome.RESCHEDULED:
        raise OutcomeError(gettext("En time kan ikke flyttes ved retting. Bestill en ny time i stedet."))
    current = _current_event(appointment)
    if current is None or current.pk != event.pk:
        raise OutcomeConflict(
            gettext("Utfallet er allerede rettet av en annen. Se gjeldende utfall under."), appointment=appointment, current=current
        )
    if outcome == event.outcome and reason == event.reason:
        raise OutcomeError(gettext("Rettingen endrer ingenting."))
    _check_other_parts_allow(appointment=appointment, outcome=outcome)
    try:
        with transaction.atomic():
            correction = OutcomeEvent.objects.create(
                appointment=appointment, outcome=outcome, reason=reason, recorded_by=recorded_by,
                recorded_at=timezone.now(), replaces=event,
            )
    except IntegrityError:
        raise OutcomeConflict(
            gettext("Utfallet ble nettopp rettet av en annen."), appointment=appointment, current=_current_event(appointment)
        ) from None
    _apply_status(appointment=appointment, outcome=outcome)
    if event.outcome == Outcome.RESCHEDULED and appointment.rescheduled_to_id:
        # The time it was moved to no longer stands; the station cancels it.
        moved_to = Appointment.objects.filter(pk=appointment.rescheduled_to_id, status=AppointmentStatus.BOOKED).first()
        if moved_to is not None:
            appointment_record_outcome(
                appointment=moved_to, outcome=Outcome.CANCELLED_BY_SERVICE, recorded_by=recorded_by,
                note=gettext("Flyttingen ble rettet bort"),
            )
    consultation = Consultation.objects.select_for_update().select_related("child").get(pk=appointment.consultation_id)
    consultation_refresh(consultation=consultation)
    outcome_recorded_notify()
    return correction


def appointment_move_to_slot(*, appointment: Appointment, starts_at: datetime, recorded_by: User) -> OutcomeEvent:
    """Move a booked appointment to another free slot of the same professional (recorded as «Flyttet»)."""
    if not slot_is_free(professional=appointment.professional_id, station=appointment.station_id, starts_at=starts_at,
                        duration_minutes=appointment.duration_minutes, ignore_appointment_id=appointment.pk):
        raise SlotTaken(gettext("Tiden er ikke en ledig tid i fagpersonens arbeidstid. Velg en annen tid."))
    return appointment_record_outcome(appointment=appointment, outcome=Outcome.RESCHEDULED, recorded_by=recorded_by,
                                      new_starts_at=starts_at)
