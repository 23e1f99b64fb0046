"""Attendance business rules: plans, bookings, outcomes and their corrections.

Attendance records facts only. The follow-up part derives its cases from these
facts (``OutcomeEvent.objects.recorded_since``, ``Consultation.expired_at``) and is
never called from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from attendance.hooks import outcome_recorded_notify
from attendance.models import (
    ABSENCE_NO_OVERLAP,
    APPOINTMENT_NO_OVERLAP,
    REASON_OUTCOMES,
    REGISTER_REASONS,
    WORKING_HOURS_NO_OVERLAP,
    Absence,
    AbsenceKind,
    Appointment,
    AppointmentStatus,
    Consultation,
    ConsultationState,
    Outcome,
    OutcomeEvent,
    Place,
    ProgrammeStep,
    Reason,
    WorkingHours,
)
from attendance.slots import slot_is_free
from helsestasjon.models import (
    Child,
    ChildStatus,
    Guardian,
    Guardianship,
    Relation,
    Role,
    Station,
    User,
)
from helsestasjon.permissions import holds_consultations


class AttendanceError(Exception):
    """A rule was broken; ``message`` is shown to the user as it is (Norwegian)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BookingError(AttendanceError):
    pass


class OutcomeError(AttendanceError):
    pass


class ProfessionalBusy(BookingError):
    """The professional already has a booked appointment that overlaps the time asked for.

    Raised when the exclusion constraint refuses the row, so it holds for two clerks booking at
    the same moment as well as for one booking an occupied time.
    """

    def __init__(self, professional: User):
        super().__init__(
            gettext("%(name)s har allerede en time som overlapper dette tidspunktet. Velg et annet tidspunkt.")
            % {"name": professional.get_full_name() or professional.get_username()}
        )
        self.professional = professional


def _violated_constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint PostgreSQL refused the row for (psycopg's diagnostics)."""
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


class OutcomeConflict(OutcomeError):
    """Someone else recorded or corrected the outcome first.

    ``current`` is the event that counts now, so the view can show it.
    """

    def __init__(self, message: str, *, appointment: Appointment, current: OutcomeEvent | None):
        super().__init__(message)
        self.appointment = appointment
        self.current = current


# --- Plans ------------------------------------------------------------------------------------


def _initial_state(*, opens: date, closes: date, today: date) -> ConsultationState:
    if closes <= today:
        return ConsultationState.NOT_APPLICABLE
    if opens <= today:
        return ConsultationState.DUE
    return ConsultationState.PLANNED


def consultation_for_step(*, child: Child, step: ProgrammeStep, today: date, now: datetime) -> Consultation:
    """An unsaved plan item for one step, in the state the child's arrival gives it.

    A window that closed before the child arrived is *not applicable*, never missed.
    """
    opens, closes = step.window_for(child.birth_date)
    state = _initial_state(opens=opens, closes=closes, today=today)
    return Consultation(
        child=child,
        step=step,
        state=state,
        window_opens=opens,
        window_closes=closes,
        planned_at=now,
        due_at=now if state == ConsultationState.DUE else None,
        not_applicable_at=now if state == ConsultationState.NOT_APPLICABLE else None,
        state_changed_at=now,
    )


@transaction.atomic
def child_plan(*, child: Child, today: date | None = None) -> list[Consultation]:
    """Create the consultations the child does not have yet. Safe to run twice or concurrently.

    Returns the consultations created by this call.
    """
    today = today or timezone.localdate()
    now = timezone.now()
    existing = set(Consultation.objects.filter(child=child).values_list("step_id", flat=True))
    rows = [
        consultation_for_step(child=child, step=step, today=today, now=now)
        for step in ProgrammeStep.objects.order_by("order")
        if step.pk not in existing
    ]
    # A concurrent plan of the same child inserts the same (child, step) pairs;
    # the unique constraint keeps one of each.
    Consultation.objects.bulk_create(rows, ignore_conflicts=True)
    return rows


# The one answer when a child's national id is already in use, whether the child is at the user's
# station or another: another station's child must look exactly like one the user cannot register.
NATIONAL_ID_IN_USE = gettext_lazy("Fødselsnummeret kan ikke registreres her. Kontakt leder hvis barnet skal flyttes hit.")


class NationalIdInUse(ValidationError):
    """A child with this national id exists; ``child`` is it, so the attempt can be written to its access log."""

    def __init__(self, child: Child):
        super().__init__({"national_id": [NATIONAL_ID_IN_USE]})
        self.child = child


def _guardian_known_to(guardian: Guardian, user: User | None) -> bool:
    """May a guardian typed by national id be linked as the existing row for this user?

    Only when the guardian is already linked to a child at one of the user's stations (the user sees
    that guardian's details already). Internal callers without a user (seeding, tests) pass None and
    reuse, as the register path passes ``guardian=`` rows it has confirmed itself.
    """
    if user is None:
        return True
    return Guardianship.objects.filter(guardian=guardian, child__station_id__in=user.station_ids()).exists()


def _guardian_from(data: Mapping, *, user: User | None = None) -> tuple[Guardian, dict]:
    data = dict(data)
    link = {
        "relation": data.pop("relation", Relation.OTHER),
        "parental_responsibility": data.pop("parental_responsibility", True),
        "is_caretaker": data.pop("is_caretaker", False),
    }
    guardian = data.pop("guardian", None)
    if guardian is not None:
        return guardian, link
    national_id = data.get("national_id") or None
    if national_id:
        found = Guardian.objects.filter(national_id=national_id).first()
        if found is not None:
            if _guardian_known_to(found, user):
                return found, link
            # Someone another station knows: linking the real row would show this user its name,
            # mobile, language and address (or its protection), and send letters and SMS about a
            # child the user typed to that person. Keep what was typed, unverified (no national id,
            # which is unique and belongs to the real row); the register sync confirms the child's
            # guardians when it reconciles the child (docs/decisions.md).
            national_id = None
    guardian = Guardian(**{**data, "national_id": national_id})
    try:
        guardian.full_clean()
    except ValidationError as exc:
        raise ValidationError({f"guardian_{field}": errors for field, errors in exc.message_dict.items()}) from None
    guardian.save()
    return guardian, link


@transaction.atomic
def child_register(
    *,
    national_id: str,
    given_name: str,
    family_name: str,
    birth_date: date,
    sex: str,
    station: Station,
    guardians: Iterable[Mapping] = (),
    registered_by: User | None = None,
    today: date | None = None,
    **details,
) -> Child:
    """Create a child (birth notice, move-in, demo or register) and plan the programme.

    ``guardians`` are mappings of Guardian fields plus ``relation``,
    ``parental_responsibility`` and ``is_caretaker``; an existing guardian can be
    passed as ``guardian=<Guardian>``. One typed with a known national id is reused
    only when ``registered_by`` already sees that guardian at one of their stations;
    otherwise the typed details are kept as an unverified guardian.
    A national id already in use raises NationalIdInUse (the neutral message).
    ``details`` are further Child fields (address, register_person_id, ...).
    Raises ValidationError with Norwegian messages on bad input.
    """
    today = today or timezone.localdate()
    if birth_date > today:
        raise ValidationError({"birth_date": gettext("Fødselsdatoen kan ikke være i fremtiden.")})
    existing = Child.objects.filter(national_id=national_id).only("id", "station_id").first()
    if existing is not None:
        raise NationalIdInUse(existing)
    child = Child(
        national_id=national_id,
        given_name=given_name.strip(),
        family_name=family_name.strip(),
        birth_date=birth_date,
        sex=sex,
        station=station,
        **details,
    )
    child.full_clean()
    try:
        with transaction.atomic():
            child.save()
    except IntegrityError:
        # Registered by someone else a moment ago (or a register id already in use).
        existing = Child.objects.filter(national_id=national_id).only("id", "station_id").first()
        raise (NationalIdInUse(existing) if existing else ValidationError({"national_id": NATIONAL_ID_IN_USE})) from None
    for data in guardians:
        guardian, link = _guardian_from(data, user=registered_by)
        Guardianship.objects.get_or_create(child=child, guardian=guardian, defaults=link)
    child_plan(child=child, today=today)
    return child


# --- Consultation state ------------------------------------------------------------------------


def _set_state(consultation: Consultation, state: str, now: datetime) -> None:
    if consultation.state == state:
        return
    if consultation.state == ConsultationState.COMPLETED:
        # A corrected outcome undid the attendance.
        consultation.completed_at = None
    consultation.state = state
    consultation.state_changed_at = now
    if state == ConsultationState.DUE and consultation.due_at is None:
        consultation.due_at = now
    elif state == ConsultationState.BOOKED:
        consultation.booked_at = now
    elif state == ConsultationState.COMPLETED:
        consultation.completed_at = now
    elif state == ConsultationState.EXPIRED and consultation.expired_at is None:
        # The first expiry is kept: follow-up counts from when the window closed unattended.
        consultation.expired_at = now


def consultation_refresh(*, consultation: Consultation, today: date | None = None) -> Consultation:
    """Derive the consultation's state from its appointments and its window.

    Completed by the first attended appointment; booked while an appointment is
    open; otherwise planned, due or expired by the window. Call with the row locked.
    """
    today = today or timezone.localdate()
    now = timezone.now()
    statuses = set(consultation.appointments.values_list("status", flat=True))
    if AppointmentStatus.ATTENDED in statuses:
        state = ConsultationState.COMPLETED
    elif AppointmentStatus.BOOKED in statuses:
        state = ConsultationState.BOOKED
    elif consultation.state == ConsultationState.NOT_APPLICABLE:
        state = ConsultationState.NOT_APPLICABLE
    elif today < consultation.window_opens:
        state = ConsultationState.PLANNED
    elif today < consultation.window_closes or consultation.child.status != ChildStatus.ACTIVE:
        # A child who has left is not followed up, so its consultations never expire.
        state = ConsultationState.DUE
    else:
        state = ConsultationState.EXPIRED
    if state != consultation.state:
        _set_state(consultation, state, now)
        consultation.save(
            update_fields=["state", "state_changed_at", "due_at", "booked_at", "completed_at", "expired_at"]
        )
    return consultation


ADVANCE_BATCH = 5000


def _advance(condition: Q, **values) -> int:
    """Move the consultations matching ``condition`` in locked batches; returns how many moved.

    Rows are claimed with SELECT ... FOR UPDATE SKIP LOCKED in id order, so two
    runs at once split the work instead of deadlocking, and a row being booked
    right now is left for the next run. The UPDATE repeats the condition, so a row
    that changed state since it was selected is not moved.
    """
    moved = 0
    while True:
        with transaction.atomic():
            ids = list(
                Consultation.objects.filter(condition)
                .order_by("id")
                .select_for_update(skip_locked=True)
                .values_list("id", flat=True)[:ADVANCE_BATCH]
            )
            if not ids:
                return moved
            moved += Consultation.objects.filter(condition, id__in=ids).update(**values)


def consultations_advance_states(*, today: date | None = None) -> dict[str, int]:
    """Planned -> due when the window opens, planned/due -> expired when it closes.

    Safe to run twice or concurrently: every row moves exactly once (see _advance).
    Children who have left the station are not moved.
    """
    today = today or timezone.localdate()
    now = timezone.now()
    active = Child.objects.filter(status=ChildStatus.ACTIVE).values("id")
    due = _advance(
        Q(state=ConsultationState.PLANNED, window_opens__lte=today, window_closes__gt=today, child_id__in=active),
        state=ConsultationState.DUE, due_at=now, state_changed_at=now,
    )
    expired = _advance(
        Q(state__in=[ConsultationState.PLANNED, ConsultationState.DUE], window_closes__lte=today, child_id__in=active),
        state=ConsultationState.EXPIRED, expired_at=now, state_changed_at=now,
    )
    if expired:
        outcome_recorded_notify()  # An expiry is a follow-up trigger too.
    return {"due": due, "expired": expired}


# --- Appointments --------------------------------------------------------------------------------


BOOKABLE_STATES = (ConsultationState.PLANNED, ConsultationState.DUE, ConsultationState.EXPIRED)


def _check_slot(*, starts_at: datetime, duration_minutes: int, place: str) -> None:
    if timezone.is_naive(starts_at):
        raise BookingError("Tidspunktet mangler tidssone.")
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
    _check_slot(starts_at=starts_at, duration_minutes=duration_minutes, place=place)
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
        if _violated_constraint(exc) == APPOINTMENT_NO_OVERLAP:
            raise ProfessionalBusy(professional) from None
        raise BookingError(gettext("Konsultasjonen har allerede en bestilt time.")) from None
    _set_state(consultation, ConsultationState.BOOKED, timezone.now())
    consultation.save(update_fields=["state", "state_changed_at", "booked_at", "due_at", "completed_at", "expired_at"])
    return appointment


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
        _check_slot(starts_at=new_starts_at, duration_minutes=appointment.duration_minutes, place=appointment.place)
    if appointment.status != AppointmentStatus.BOOKED:
        current = _current_event(appointment)
        if _repeats(current, appointment=appointment, outcome=outcome, reason=reason, recorded_by=recorded_by,
                    new_starts_at=new_starts_at):
            return current
        raise OutcomeConflict(
            gettext("Utfallet er allerede registrert: %(status)s.") % {"status": appointment.get_status_display()},
            appointment=appointment, current=current,
        )
    now = timezone.now()
    try:
        with transaction.atomic():
            event = OutcomeEvent.objects.create(
                appointment=appointment, outcome=outcome, reason=reason, recorded_by=recorded_by, recorded_at=now, note=note[:200]
            )
    except IntegrityError:
        appointment.refresh_from_db()
        raise OutcomeConflict(
            gettext("Utfallet ble nettopp registrert av en annen."), appointment=appointment, current=_current_event(appointment)
        ) from None
    _apply_status(appointment=appointment, outcome=outcome)
    consultation = Consultation.objects.select_for_update().select_related("child").get(pk=appointment.consultation_id)
    if outcome == Outcome.RESCHEDULED:
        try:
            with transaction.atomic():
                new = Appointment.objects.create(
                    consultation=consultation,
                    step_id=consultation.step_id,
                    child_id=appointment.child_id,
                    station_id=appointment.station_id,
                    starts_at=new_starts_at,
                    duration_minutes=appointment.duration_minutes,
                    place=appointment.place,
                    room=appointment.room,
                    professional_id=appointment.professional_id,
                    booked_by=recorded_by or appointment.booked_by,
                    booked_at=now,
                )
        except IntegrityError as exc:
            if _violated_constraint(exc) != APPOINTMENT_NO_OVERLAP:
                raise
            # Leaving this function by the exception undoes the event and the status above: the
            # appointment stays booked at its old time.
            raise ProfessionalBusy(User.objects.get(pk=appointment.professional_id)) from None
        appointment.rescheduled_to = new
        appointment.save(update_fields=["rescheduled_to"])
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
        raise OutcomeError("Rettingen endrer ingenting.")
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


# What the register reported (registry_sync's words) -> the reason its cancellations carry.
REGISTER_CAUSES = {
    "deceased": Reason.REGISTER_DECEASED, "emigrated": Reason.REGISTER_MOVED, "moved_out": Reason.REGISTER_MOVED,
    "moved_station": Reason.REGISTER_MOVED,
}


@transaction.atomic
def child_cancel_future(*, child: Child, reason: str, recorded_by: User | None = None, register_cause: str = "") -> list[int]:
    """Cancel every future booked appointment of the child as cancelled by the station.

    Used when the register reports a death or a move. ``reason`` is stored as the
    events' note; ``register_cause`` (a key of REGISTER_CAUSES) gives the events their
    own reason ("Avlyst: flyttet", "Avlyst: død"), so the statistics show them apart
    from the station's own cancellations. Safe to run twice: only appointments still
    booked are touched. Returns the ids of the appointments this call cancelled.
    """
    cause = REGISTER_CAUSES.get(register_cause, "")
    now = timezone.now()
    future = list(
        Appointment.objects.filter(child=child, status=AppointmentStatus.BOOKED, starts_at__gte=now).values_list("pk", flat=True)
    )
    cancelled = []
    for pk in future:
        try:
            appointment_record_outcome(
                appointment=Appointment(pk=pk), outcome=Outcome.CANCELLED_BY_SERVICE, recorded_by=recorded_by, note=reason,
                reason=cause,
            )
            cancelled.append(pk)
        except OutcomeConflict:
            continue  # Recorded meanwhile by someone else.
    return cancelled


# --- Working hours, exceptions and booking from free slots (issue 18) ------------------------------


def _refused(exc: IntegrityError, messages: Mapping[str, str]) -> ValidationError:
    name = _violated_constraint(exc)
    return ValidationError(messages.get(name) or gettext("Kunne ikke lagre. Kontroller verdiene."))


def working_hours_add(*, professional: User, station: Station, weekday: int, starts, ends) -> WorkingHours:
    """Add a range of a weekday; end after start, never overlapping the professional's other ranges that day."""
    if professional.role == Role.CLERK or station.pk not in professional.station_ids():
        raise ValidationError({"professional": gettext("Fagpersonen arbeider ikke ved denne helsestasjonen.")})
    if ends <= starts:
        raise ValidationError({"ends": gettext("Sluttiden må være etter starttiden.")})
    hours = WorkingHours(professional=professional, station=station, weekday=weekday, starts=starts, ends=ends)
    try:
        with transaction.atomic():
            hours.save()
    except IntegrityError as exc:
        raise _refused(exc, {
            WORKING_HOURS_NO_OVERLAP: gettext("Arbeidstiden overlapper en annen arbeidstid samme ukedag."),
        }) from None
    return hours


def absence_add(*, kind: str, starts_on: date, ends_on: date, professional: User | None = None,
                station: Station | None = None, note: str = "", created_by: User | None = None) -> Absence:
    """Register leave for a professional or closed days for a station (whole days, inclusive)."""
    if ends_on < starts_on:
        raise ValidationError({"ends_on": gettext("Sluttdatoen må være samme dag som eller etter startdatoen.")})
    if (ends_on - starts_on).days > 366:
        raise ValidationError({"ends_on": gettext("Et unntak kan vare høyst ett år.")})
    if kind == AbsenceKind.LEAVE and professional is None:
        raise ValidationError({"professional": gettext("Velg fagpersonen som har fravær.")})
    if kind == AbsenceKind.CLOSED and station is None:
        raise ValidationError({"station": gettext("Velg helsestasjonen som er stengt.")})
    absence = Absence(
        kind=kind, starts_on=starts_on, ends_on=ends_on, note=note.strip()[:200], created_by=created_by,
        professional=professional if kind == AbsenceKind.LEAVE else None,
        station=station if kind == AbsenceKind.CLOSED else None,
    )
    try:
        with transaction.atomic():
            absence.save()
    except IntegrityError as exc:
        raise _refused(exc, {
            ABSENCE_NO_OVERLAP: gettext("Fraværet overlapper et fravær som allerede er registrert."),
            "absence_closed_no_overlap": gettext("Stengingen overlapper en stenging som allerede er registrert."),
        }) from None
    return absence


class SlotTaken(BookingError):
    """The time asked for is no longer among the professional's free slots."""


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


def appointment_move_to_slot(*, appointment: Appointment, starts_at: datetime, recorded_by: User) -> OutcomeEvent:
    """Move a booked appointment to another free slot of the same professional (recorded as «Flyttet»)."""
    if not slot_is_free(professional=appointment.professional_id, station=appointment.station_id, starts_at=starts_at,
                        duration_minutes=appointment.duration_minutes, ignore_appointment_id=appointment.pk):
        raise SlotTaken(gettext("Tiden er ikke en ledig tid i fagpersonens arbeidstid. Velg en annen tid."))
    return appointment_record_outcome(appointment=appointment, outcome=Outcome.RESCHEDULED, recorded_by=recorded_by,
                                      new_starts_at=starts_at)


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
