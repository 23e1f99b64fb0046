"""Making letters: which letters are due, and their rows, exactly once.

A letter row is unique per case step and recipient (and per appointment or case for the other
kinds), so making the due letters twice makes nothing new. The rows are addressed when they are
made and asked again of the protection now before they are printed (``follow_protection``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from attendance.models import Appointment, AppointmentStatus, local_day_bounds
from followup.letters import translations
from followup.letters.addressing import recipients_for_child
from followup.letters.models import APPOINTMENT_LETTER_KINDS, Letter, LetterKind, LetterState
from followup.letters.queue import letters_enqueue_manual, letters_enqueue_svarut
from followup.letters.svarut.channel import letter_channel
from followup.letters.svarut.choices import LetterChannel
from followup.models import Case, CaseStatus, CaseStep, CaseTrigger, StepKind, StepStatus
from followup.waiting import cases_wait_for_family_bookings
from helsestasjon.models import ChildStatus, Station
from helsestasjon.protection import address_printable


STEP_LETTER_KIND = {
    StepKind.LETTER_NEW_INVITATION: LetterKind.NEW_INVITATION,
    StepKind.LETTER_DUTY_REMINDER: LetterKind.DUTY_REMINDER,
}


class LetterError(ValidationError):
    pass


class LetterAddressProtected(LetterError):
    """The file holds an address that this user may not see now (the view answers 403)."""


# Letters that have not gone out: a protection change still reaches them.
UNSENT_STATES = [LetterState.PENDING, LetterState.RENDERING, LetterState.PRODUCED, LetterState.FAILED]


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


def letter_date_text(value) -> str:
    """A date (or a moment, in local time) as the letters print it."""
    return f"{timezone.localtime(value):%d.%m.%Y}" if isinstance(value, datetime) else f"{value:%d.%m.%Y}"


def _missed_date(case_id: int | None) -> str:
    """The day of the latest appointment the child was not brought to (a date, never a reason)."""
    if case_id is None:
        return ""
    trigger = (
        CaseTrigger.objects.filter(case_id=case_id, withdrawn_at__isnull=True)
        .select_related("outcome_event__appointment")
        .order_by("-occurred_at", "-id")
        .first()
    )
    if trigger is None:
        return ""
    if trigger.outcome_event_id:
        return letter_date_text(trigger.outcome_event.appointment.starts_at)
    return letter_date_text(trigger.occurred_at)


def letter_rows(*, kind: str, child, station: Station, now: datetime, case_id=None, case_step_id=None,
                appointment_id=None, details=None) -> list[Letter]:
    """One unsaved letter per recipient of the child's letters, addressed and given its channel now."""
    rows = []
    for recipient in recipients_for_child(child.id):
        translation = translations.translation_language(preferred=recipient.preferred_language, base=station.letter_language)
        # A protected child's address is where the guardians it lives with live: never printed either.
        manual = recipient.manual_handling or not address_printable(child.address_protection)
        channel = letter_channel(guardian=recipient.guardian, station=station, manual_handling=manual)
        rows.append(
            Letter(
                kind=kind, child_id=child.id, station_id=station.id, case_id=case_id, case_step_id=case_step_id,
                appointment_id=appointment_id, recipient=recipient.guardian, recipient_name=recipient.name,
                addressee_ids=recipient.guardian_ids, address_lines=[] if manual else recipient.address_lines,
                manual_handling=manual, base_language=station.letter_language,
                translation_language=translation or "",
                translation_reviewed=bool(translation) and translations.is_reviewed(kind=kind, language=translation),
                details=details or {}, created_at=now, **channel,
            )
        )
    return rows


def due_letter_steps(station_id: int):
    """Active letter steps of open cases that have no letters yet."""
    return (
        CaseStep.objects.filter(
            status=StepStatus.ACTIVE, kind__in=list(STEP_LETTER_KIND), case__status=CaseStatus.OPEN, case__station_id=station_id
        )
        .exclude(letters__isnull=False)
        # No ladder letter while the case waits for an agreed time, is paused or waits for child welfare.
        .filter(case__waiting_for__isnull=True, case__paused_until__isnull=True, case__awaiting_child_welfare=False)
        .select_related("case__child")
        .order_by("started_at", "id")
    )


def invitation_letter_earliest(station: Station, now: datetime) -> datetime:
    """The earliest start of an appointment that still gets an invitation letter: midnight (local
    time) ``invitation_letter_min_days`` days from today, so the letter has time to arrive by post."""
    return local_day_bounds(timezone.localdate(now) + timedelta(days=station.invitation_letter_min_days))[0]


def _due_invitations(station: Station, now: datetime):
    """Booked appointments far enough away for the post that no letter tells the guardians about yet.

    Not while the child has an open case: the ladder's own steps (the SMS of step 1, the letters of
    steps 4 and 5) tell the family about a time booked in a case, and an invitation beside them would
    be a second letter about one appointment."""
    if not station.send_invitation_letters:
        return Appointment.objects.none()
    return (
        Appointment.objects.filter(
            station_id=station.id, status=AppointmentStatus.BOOKED, starts_at__gte=invitation_letter_earliest(station, now),
            child__status=ChildStatus.ACTIVE,
        )
        .exclude(
            id__in=Letter.objects.filter(kind__in=APPOINTMENT_LETTER_KINDS, appointment__isnull=False)
            .exclude(state=LetterState.CANCELLED)
            .values("appointment_id")
        )
        .exclude(child__followup_cases__status=CaseStatus.OPEN)
        .select_related("child")
        .order_by("starts_at", "id")
    )


def letter_steps_without_recipient(*, station: Station):
    """Due letter steps of children with no guardian to write to (neither parental
    responsibility nor a caretaker on record): the clerk must fix the guardians first."""
    from django.db.models import Exists, OuterRef

    from helsestasjon.models import Guardianship

    addressee = Guardianship.objects.filter(child_id=OuterRef("case__child_id")).filter(
        Q(parental_responsibility=True) | Q(is_caretaker=True)
    )
    return due_letter_steps(station.id).filter(~Exists(addressee))


def letters_due_count(*, station: Station, now: datetime | None = None) -> dict[str, int]:
    """What the clerk's page announces: letters that the next batch will make."""
    now = _now(now)
    return {
        "steps": due_letter_steps(station.id).count(),
        "invitations": _due_invitations(station, now).count(),
        "pending": local_print_pending(station=station).count(),
        "manual": letters_manual_waiting_count(station=station),
    }


def unbatched_letters(*, station: Station):
    """The station's letters waiting for a batch (made, not yet rendered or claimed)."""
    return Letter.objects.filter(station=station, state=LetterState.PENDING, batch__isnull=True)


def local_print_pending(*, station: Station):
    """The letters the next print batch takes: waiting, with a printable address, for the local
    print. A digital or SvarUt-printed letter goes through SvarUt (svarut_dispatch); a letter for
    manual handling is rendered without an address, outside any batch."""
    return unbatched_letters(station=station).filter(manual_handling=False, channel=LetterChannel.LOCAL_PRINT)


def letters_manual_waiting_count(*, station: Station) -> int:
    """Letters for manual handling (protected or unknown address) that have not gone out."""
    return Letter.objects.filter(station=station, manual_handling=True, state__in=UNSENT_STATES, channel=LetterChannel.LOCAL_PRINT).count()


def _give_way_to_ladder_letters(rows: list[Letter]) -> None:
    """A ladder letter names the next booked time; an invitation to that guardian for that time
    may already exist (booked before the case opened). One that has not gone out is stopped, since
    the ladder letter says the same and more. One already printed or sent stays what the family
    has in hand: the ladder letter is then made without naming the time again (it asks them to get
    in touch), so the two are never both about one appointment."""
    keys = {(row.appointment_id, row.recipient_id) for row in rows if row.appointment_id}
    if not keys:
        return
    invitations = {
        (letter.appointment_id, letter.recipient_id): letter
        for letter in Letter.objects.select_for_update()
        .filter(kind=LetterKind.INVITATION, appointment_id__in={a for a, _ in keys})
        .exclude(state=LetterState.CANCELLED)
        .only("id", "appointment_id", "recipient_id", "state", "batch_id")
    }
    for row in rows:
        invitation = invitations.get((row.appointment_id, row.recipient_id))
        if invitation is None:
            continue
        stopped = Letter.objects.filter(
            id=invitation.id, state__in=[LetterState.PENDING, LetterState.FAILED], batch__isnull=True
        ).update(state=LetterState.CANCELLED, error=gettext("Erstattet av brev fra oppfølgingen."))
        if not stopped:
            row.appointment_id = None


@transaction.atomic
def letters_create_due(*, station: Station, now: datetime | None = None) -> int:
    """Create the letter rows for every due letter step and invitation (idempotent).

    Returns the number of rows offered; rows that already existed are skipped by the database."""
    now = _now(now)
    # A time the family booked since the last sweep pauses its case before any letter is made.
    cases_wait_for_family_bookings(now=now, station_id=station.id)
    rows: list[Letter] = []
    for step in due_letter_steps(station.id):
        appointment = Appointment.objects.filter(child_id=step.case.child_id).next_booked_appointment(now=now)
        details = {"missed_date": _missed_date(step.case_id)}
        rows += letter_rows(
            kind=STEP_LETTER_KIND[step.kind], child=step.case.child, station=station, now=now, case_id=step.case_id,
            case_step_id=step.id, appointment_id=appointment.id if appointment else None, details=details,
        )
    _give_way_to_ladder_letters(rows)
    # Ladder letters first: an invitation that would name the same time to the same guardian is
    # refused by the database (letter_invitation_or_ladder_letter_per_appointment) and skipped here.
    for appointment in _due_invitations(station, now):
        rows += letter_rows(kind=LetterKind.INVITATION, child=appointment.child, station=station, now=now, appointment_id=appointment.id)
    # The unique and exclusion constraints make a second run (or a concurrent one) a no-op:
    # ON CONFLICT DO NOTHING skips a clashing row instead of failing the batch.
    Letter.objects.bulk_create(rows, ignore_conflicts=True)
    letters_enqueue_manual(station.id)
    letters_enqueue_svarut(station.id)
    return len(rows)


@transaction.atomic
def letter_gp_confirmation_create(*, case: Case, now: datetime | None = None) -> int:
    """The family prefers follow-up by the GP: ask for the GP's confirmation (once per case and recipient)."""
    now = _now(now)
    case = Case.objects.select_related("child", "station").get(pk=case.pk)
    if not case.is_open:
        raise LetterError(gettext("Saken er avsluttet."))
    rows = letter_rows(kind=LetterKind.GP_CONFIRMATION, child=case.child, station=case.station, now=now, case_id=case.id)
    existing = Letter.objects.filter(case=case, kind=LetterKind.GP_CONFIRMATION)
    before = existing.count()
    Letter.objects.bulk_create(rows, ignore_conflicts=True)
    letters_enqueue_manual(case.station_id)
    letters_enqueue_svarut(case.station_id)
    return existing.count() - before


def letters_cancel_obsolete(*, station: Station) -> int:
    """Letters waiting for a batch whose reason is gone: the case closed or moved past the
    step, the appointment is no longer booked, the child is no longer at the station."""
    waiting = unbatched_letters(station=station)
    obsolete = (
        Q(case__isnull=False, case__status=CaseStatus.CLOSED)
        | Q(case_step__isnull=False) & ~Q(case_step__status=StepStatus.ACTIVE)
        | Q(kind=LetterKind.INVITATION) & (Q(appointment__isnull=True) | ~Q(appointment__status=AppointmentStatus.BOOKED))
        | ~Q(child__status=ChildStatus.ACTIVE)
        | ~Q(child__station_id=station.id)
    )
    return Letter.objects.filter(id__in=waiting.filter(obsolete).values("id")).update(state=LetterState.CANCELLED, error=gettext("Ikke lenger aktuelt."))


@transaction.atomic
def letters_stop_for_child(*, child) -> int:
    """Stop every letter of the child that has not gone out (the register reports a death,
    a move or an emigration). Letters already in a print file that is ready are left to the
    clerk, who sees them on the batch."""
    return Letter.objects.filter(
        child=child, state__in=[LetterState.PENDING, LetterState.FAILED]
    ).update(state=LetterState.CANCELLED, error=gettext("Stoppet.")) + Letter.objects.filter(
        child=child, state=LetterState.PRODUCED, batch__isnull=True
    ).update(state=LetterState.CANCELLED, error=gettext("Stoppet."))


def letters_follow_child_station(*, child) -> int:
    """The child now belongs to another station: letters not yet rendered and not in a
    print batch go with it, so they get the new station's letterhead and its clerk sends
    them. Letters already rendered or in a batch stay with the station that made them."""
    return Letter.objects.filter(
        child=child, state__in=[LetterState.PENDING, LetterState.FAILED], batch__isnull=True
    ).exclude(station_id=child.station_id).update(station_id=child.station_id)
