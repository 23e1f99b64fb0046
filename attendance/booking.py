"""Booking an appointment for a consultation: by a typed time or from a professional's free slots."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from attendance.errors import BookingError, ProfessionalBusy, SlotTaken, violated_constraint
from attendance.models import (
    APPOINTMENT_NO_OVERLAP,
    Appointment,
    AppointmentStatus,
    Consultation,
    ConsultationState,
    Place,
)
from attendance.plan import consultation_set_state
from attendance.slots import slot_is_free
from helsestasjon.models import ChildStatus, User
from helsestasjon.permissions import holds_consultations

BOOKABLE_STATES = (ConsultationState.PLANNED, ConsultationState.DUE, ConsultationState.EXPIRED)


def check_slot(*, starts_at: datetime, duration_minutes: int, place: str) -> None:
    if timezone.is_naive(starts_at):
        raise BookingError(gettext("Tidspunktet mangler tidssone."))
    if not 0 < int(duration_minutes) <= 480:
        raise BookingError(gettext("Varigheten må være mellom 1 og 480 minutter."))
    if place not in Place.values:
        raise BookingError(gettext("Ukjent sted."))


@transaction.atomic
def appointment_book(
    *,
    consultation: Consultation,
    starts_at: datetime,
    duration_minutes: int,
    place: str,
    room: str = "",
    professional: User,
    booked_by: User,
) -> Appointment:
    """Book a concrete appointment for a consultation; the consultation becomes booked."""
    check_slot(starts_at=starts_at, duration_minutes=duration_minutes, place=place)
    consultation = Consultation.objects.select_for_update().select_related("child", "step").get(pk=consultation.pk)
    child = consultation.child
    if child.status != ChildStatus.ACTIVE:
        raise BookingError(gettext("Barnet er ikke lenger aktivt ved helsestasjonen."))
    if consultation.state == ConsultationState.BOOKED:
        raise BookingError(gettext("Konsultasjonen har allerede en bestilt time."))
    if consultation.state not in BOOKABLE_STATES:
        raise BookingError(
            gettext("Konsultasjonen kan ikke bestilles (%(state)s).") % {"state": consultation.get_state_display().lower()}
        )
    if not holds_consultations(professional) or child.station_id not in professional.station_ids():
        raise BookingError(gettext("Fagpersonen arbeider ikke ved barnets helsestasjon."))
    try:
        with transaction.atomic():
            appointment = Appointment.objects.create(
                consultation=consultation,
                step_id=consultation.step_id,
                child=child,
                station_id=child.station_id,
                starts_at=starts_at,
                duration_minutes=duration_minutes,
                place=place,
                room=room[:60],
                professional=professional,
                booked_by=booked_by,
                booked_at=timezone.now(),
            )
    except IntegrityError as exc:
        if violated_constraint(exc) == APPOINTMENT_NO_OVERLAP:
            raise ProfessionalBusy(professional) from None
        raise BookingError(gettext("Konsultasjonen har allerede en bestilt time.")) from None
    consultation_set_state(consultation, ConsultationState.BOOKED, timezone.now())
    consultation.save(update_fields=["state", "state_changed_at", "booked_at", "due_at", "completed_at", "expired_at"])
    return appointment


def appointment_book_slot(*, consultation: Consultation, professional: User, starts_at: datetime, booked_by: User) -> Appointment:
    """Book a consultation into one of the professional's free slots (duration and place from the programme).

    A time outside the working hours, on a holiday or a day of leave is refused with a message; two
    clerks taking the same slot at once are told apart by the exclusion constraint (ProfessionalBusy).
    """
    step = consultation.step
    if not slot_is_free(professional=professional, station=consultation.child.station_id, starts_at=starts_at,
                        duration_minutes=step.default_duration_minutes):
        # A booked overlap is the busy message whoever made it; anything else is outside the free time.
        end = starts_at + _minutes(step.default_duration_minutes)
        clash = Appointment.objects.filter(
            professional=professional, status=AppointmentStatus.BOOKED, starts_at__lt=end, starts_at__gt=starts_at - _minutes(480)
        ).only("starts_at", "duration_minutes")
        if any(a.starts_at < end and starts_at < a.ends_at for a in clash):
            raise ProfessionalBusy(professional)
        raise SlotTaken(gettext("Tiden er ikke en ledig tid i fagpersonens arbeidstid. Velg en annen tid."))
    return appointment_book(
        consultation=consultation, starts_at=starts_at, duration_minutes=step.default_duration_minutes,
        place=Place.HOME if step.is_home_visit else Place.STATION, professional=professional, booked_by=booked_by,
    )


def _minutes(n: int) -> timedelta:
    return timedelta(minutes=int(n))
