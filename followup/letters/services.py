"""Letter services: which letters are due, producing them exactly once, the print
batch, marking sent, returned mail.

Exactly once: a letter row is unique per case step and recipient (and per
appointment or case for the other kinds), so making the due letters twice makes
nothing new. Workers claim letters with a conditional UPDATE (pending ->
rendering, stamped with the claim time) and finish them with another one that
only succeeds while their claim stands; a claim that goes stale (a worker killed,
a lost message) is released by ``letters_resume`` and the letter is rendered again.
After MAX_ATTEMPTS claims a letter ends as failed and is shown to the clerk.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Case as SqlCase, Count, F, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from attendance.models import Appointment, AppointmentStatus, Place, local_day_bounds
from followup.letters import rendering, translations
from followup.letters.addressing import letters_current_protection, recipients_for_child
from followup.letters.svarut.channel import letter_channel
from followup.letters.svarut.choices import DELIVERED, LetterChannel
from followup.letters.models import APPOINTMENT_LETTER_KINDS, BatchState, Letter, LetterBatch, LetterBatchPart, LetterKind, LetterState
from followup.models import Case, CaseStatus, CaseStep, CaseTrigger, StepKind, StepStatus
from helsestasjon.models import AddressProtection, Child, ChildStatus, Guardian, Station, User
from helsestasjon.protection import address_printable, address_visible

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
STALE_AFTER = timedelta(minutes=5)

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


def _date(value) -> str:
    return f"{timezone.localtime(value):%d.%m.%Y}" if isinstance(value, datetime) else f"{value:%d.%m.%Y}"


# --------------------------------------------------------------------------- making letters


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
        return _date(trigger.outcome_event.appointment.starts_at)
    return _date(trigger.occurred_at)


def _letter_rows(*, kind: str, child, station: Station, now: datetime, case_id=None, case_step_id=None,
                 appointment_id=None, details=None) -> list[Letter]:
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


def _due_steps(station_id: int):
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
    return _due_steps(station.id).filter(~Exists(addressee))


def letters_due_count(*, station: Station, now: datetime | None = None) -> dict[str, int]:
    """What the clerk's page announces: letters that the next batch will make."""
    now = _now(now)
    return {
        "steps": _due_steps(station.id).count(),
        "invitations": _due_invitations(station, now).count(),
        "pending": Letter.objects.filter(
            station=station, state=LetterState.PENDING, batch__isnull=True, manual_handling=False, channel=LetterChannel.LOCAL_PRINT
        ).count(),
        "manual": letters_manual_waiting_count(station=station),
    }


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
    from followup.services import cases_wait_for_family_bookings

    now = _now(now)
    # A time the family booked since the last sweep pauses its case before any letter is made.
    cases_wait_for_family_bookings(now=now, station_id=station.id)
    rows: list[Letter] = []
    for step in _due_steps(station.id):
        appointment = Appointment.objects.filter(child_id=step.case.child_id).next_booked_appointment(now=now)
        details = {"missed_date": _missed_date(step.case_id)}
        rows += _letter_rows(
            kind=STEP_LETTER_KIND[step.kind], child=step.case.child, station=station, now=now, case_id=step.case_id,
            case_step_id=step.id, appointment_id=appointment.id if appointment else None, details=details,
        )
    _give_way_to_ladder_letters(rows)
    # Ladder letters first: an invitation that would name the same time to the same guardian is
    # refused by the database (letter_invitation_or_ladder_letter_per_appointment) and skipped here.
    for appointment in _due_invitations(station, now):
        rows += _letter_rows(kind=LetterKind.INVITATION, child=appointment.child, station=station, now=now, appointment_id=appointment.id)
    # The unique and exclusion constraints make a second run (or a concurrent one) a no-op:
    # ON CONFLICT DO NOTHING skips a clashing row instead of failing the batch.
    Letter.objects.bulk_create(rows, ignore_conflicts=True)
    _enqueue_manual(station.id)
    _enqueue_svarut(station.id)
    return len(rows)


@transaction.atomic
def letter_gp_confirmation_create(*, case: Case, now: datetime | None = None) -> int:
    """The family prefers follow-up by the GP: ask for the GP's confirmation (once per case and recipient)."""
    now = _now(now)
    case = Case.objects.select_related("child", "station").get(pk=case.pk)
    if not case.is_open:
        raise LetterError(gettext("Saken er avsluttet."))
    rows = _letter_rows(kind=LetterKind.GP_CONFIRMATION, child=case.child, station=case.station, now=now, case_id=case.id)
    existing = Letter.objects.filter(case=case, kind=LetterKind.GP_CONFIRMATION)
    before = existing.count()
    Letter.objects.bulk_create(rows, ignore_conflicts=True)
    _enqueue_manual(case.station_id)
    _enqueue_svarut(case.station_id)
    return existing.count() - before


# --------------------------------------------------------------------------- rendering


def letter_context(letter: Letter) -> dict:
    """Everything a letter template needs, as plain values."""
    station = letter.station
    appt = None
    appointment = letter.appointment
    if appointment is not None:
        when = timezone.localtime(appointment.starts_at)
        appt = {
            "date": f"{when:%d.%m.%Y}",
            "time": f"{when:%H:%M}",
            "home_visit": appointment.place == Place.HOME,
            "place": ", ".join(p for p in [station.name, station.street_address, f"{station.postal_code} {station.city}".strip()] if p),
            "professional": appointment.professional.get_full_name() if appointment.professional_id else "",
            "consultation": appointment.consultation.step.name if appointment.consultation_id else "",
        }
    translation = letter.translation_language or None
    bodies = [translations.body_template(kind=letter.kind, language=letter.base_language)]
    if translation:
        bodies.append(translations.body_template(kind=letter.kind, language=translation))
    return {
        "reference": f"{letter.station_id}-{letter.pk}",
        "letter_date": f"{timezone.localdate():%d.%m.%Y}",
        "base_language": letter.base_language,
        "station": {
            "municipality": f"{station.municipality.name} kommune",
            "name": station.name,
            "street_address": station.street_address,
            "postal_code": station.postal_code,
            "city": station.city,
            "phone": station.phone,
            "email": station.email,
        },
        "recipient_name": letter.recipient_name,
        "address_lines": letter.address_lines if not letter.manual_handling else [],
        "child_name": letter.child.full_name,
        "child_birth_date": _date(letter.child.birth_date),
        "missed_date": letter.details.get("missed_date", ""),
        "consultation": letter.details.get("consultation", ""),
        "appt": appt,
        "body_templates": bodies,
        "translation_language": translation,
        "translation_rtl": translation in translations.RTL_LANGUAGES,
        "translation_reviewed": letter.translation_reviewed,
        "notice_template": translations.notice_template(language=translation) if translation else "",
    }


def _letters_for_render(ids: list[int]) -> list[Letter]:
    return list(
        Letter.objects.filter(id__in=ids)
        .select_related("child", "station__municipality", "appointment__professional", "appointment__consultation__step")
        .order_by("id")
    )


def _claim(scope: Q, now: datetime, size: int) -> list[int]:
    with transaction.atomic():
        ids = list(
            Letter.objects.select_for_update(skip_locked=True)
            .filter(scope, state=LetterState.PENDING)
            .order_by("id")
            .values_list("id", flat=True)[:size]
        )
        if ids:
            Letter.objects.filter(id__in=ids, state=LetterState.PENDING).update(
                state=LetterState.RENDERING, claimed_at=now, attempts=F("attempts") + 1
            )
    return ids


def _save_file(letter: Letter, pdf: bytes, claim: datetime) -> str:
    return default_storage.save(f"letters/{claim:%Y/%m}/brev-{letter.pk}-{letter.attempts}.pdf", ContentFile(pdf))


def _finish(letter: Letter, name: str, pages: int, claim: datetime, produced_by_id: int | None) -> bool:
    """Mark the letter produced, only while our claim on it stands."""
    return bool(
        Letter.objects.filter(id=letter.pk, state=LetterState.RENDERING, claimed_at=claim).update(
            state=LetterState.PRODUCED, pdf=name, page_count=pages, produced_at=timezone.now(), produced_by_id=produced_by_id, error=""
        )
    )


def _store(letter: Letter, pdf: bytes, pages: int, claim: datetime, produced_by_id: int | None) -> bool:
    name = _save_file(letter, pdf, claim)
    if not _finish(letter, name, pages, claim, produced_by_id):
        # Our claim was released meanwhile (we were too slow); the other render wins.
        default_storage.delete(name)
        return False
    return True


def _release(letter_id: int, claim: datetime, error: str) -> None:
    Letter.objects.filter(id=letter_id, state=LetterState.RENDERING, claimed_at=claim).update(
        state=SqlCase(When(attempts__gte=MAX_ATTEMPTS, then=Value(LetterState.FAILED)), default=Value(LetterState.PENDING)),
        claimed_at=None,
        error=error[:300],
    )


def _render_claimed(ids: list[int], claim: datetime) -> int:
    letters = _letters_for_render(ids)
    # The address was copied when the row was made: ask the protection of its owners again now.
    # A letter whose address may no longer be printed leaves the batch for manual handling.
    levels = letters_current_protection(letters)
    withdrawn = {l.pk for l in letters if l.address_lines and not address_printable(levels[l.pk])}
    if withdrawn:
        letters_follow_protection(letters=Letter.objects.filter(id__in=withdrawn))
        letters = [l for l in letters if l.pk not in withdrawn]
    if not letters:
        return 0
    produced_by = {}
    batch_ids = {l.batch_id for l in letters if l.batch_id}
    if batch_ids:
        produced_by = dict(LetterBatch.objects.filter(id__in=batch_ids).values_list("id", "created_by_id"))
    try:
        chunk = rendering.render_chunk([letter_context(letter) for letter in letters])
        parts = chunk.split()
    except Exception:
        logger.exception("Rendering letters %s failed; trying them one by one", ids)
        done = 0
        for letter in letters:
            try:
                single = rendering.render_chunk([letter_context(letter)])
            except Exception as exc:  # One bad letter must not stop the others.
                logger.exception("Rendering letter %s failed", letter.pk)
                _release(letter.pk, claim, f"{type(exc).__name__}: {exc}")
                continue
            done += _store(letter, single.pdf, single.page_counts[0], claim, produced_by.get(letter.batch_id))
        return done
    # Files first, then every row of the chunk in one transaction (one commit, not one per letter).
    names = [_save_file(letter, pdf, claim) for letter, pdf in zip(letters, parts)]
    batch_id = letters[0].batch_id
    whole_batch_chunk = bool(batch_id) and all(letter.batch_id == batch_id for letter in letters)
    part_name = ""
    if whole_batch_chunk:
        part_name = default_storage.save(f"letters/batches/{claim:%Y/%m}/bunke-{batch_id}-del-{letters[0].pk}.pdf", ContentFile(chunk.pdf))
    with transaction.atomic():
        stored = [
            _finish(letter, name, pages, claim, produced_by.get(letter.batch_id))
            for letter, name, pages in zip(letters, names, chunk.page_counts)
        ]
        if whole_batch_chunk and all(stored):
            # Keep the chunk's PDF for the print file (see LetterBatchPart).
            LetterBatchPart.objects.create(
                batch_id=batch_id, first_letter_id=letters[0].pk, letter_ids=[letter.pk for letter in letters], pdf=part_name,
                page_count=sum(chunk.page_counts),
            )
    for name, ok in zip(names, stored):
        if not ok:
            default_storage.delete(name)  # another render of this letter won
    if part_name and not all(stored):
        default_storage.delete(part_name)
    return sum(stored)


def letters_render(*, batch_id: int | None = None, station_id: int | None = None, chunk_size: int | None = None) -> int:
    """Render pending letters of a batch (or a station's manual-handling letters) until none are left."""
    if batch_id is not None:
        scope = Q(batch_id=batch_id)
    else:
        scope = Q(station_id=station_id, batch__isnull=True, manual_handling=True, channel=LetterChannel.LOCAL_PRINT)
    chunk_size = chunk_size or settings.LETTER_CHUNK_SIZE
    done = 0
    while True:
        claim = timezone.now()
        ids = _claim(scope, claim, chunk_size)
        if not ids:
            break
        done += _render_claimed(ids, claim)
    if batch_id is not None:
        letter_batch_merge(batch_id=batch_id)
    return done


def letter_batch_merge(*, batch_id: int, now: datetime | None = None) -> bool:
    """Join the batch's produced letters into the print PDF, once every letter is finished."""
    now = _now(now)
    if Letter.objects.filter(batch_id=batch_id, state__in=[LetterState.PENDING, LetterState.RENDERING]).exists():
        return False
    if not LetterBatch.objects.filter(id=batch_id, state=BatchState.RUNNING).update(state=BatchState.MERGING, merge_claimed_at=now):
        return False
    letters = {l.id: l for l in Letter.objects.filter(batch_id=batch_id, state=LetterState.PRODUCED).only("pdf", "page_count")}
    # Whole chunks from their part PDFs; any other produced letter from its own PDF.
    units: list[tuple[int, object]] = []
    covered: set[int] = set()
    for part in LetterBatchPart.objects.filter(batch_id=batch_id).order_by("first_letter_id", "id"):
        ids = set(part.letter_ids)
        if ids <= letters.keys() and not ids & covered:
            covered |= ids
            units.append((part.first_letter_id, part.pdf))
    units += [(letter_id, letter.pdf) for letter_id, letter in letters.items() if letter_id not in covered]
    parts = []
    for _, file in sorted(units, key=lambda unit: unit[0]):
        with file.open("rb") as handle:
            parts.append(handle.read())
    letters = list(letters.values())
    name = ""
    if parts:
        name = default_storage.save(f"letters/batches/{now:%Y/%m}/bunke-{batch_id}.pdf", ContentFile(rendering.merge_pdfs(parts)))
    if not LetterBatch.objects.filter(id=batch_id, state=BatchState.MERGING, merge_claimed_at=now).update(
        state=BatchState.READY, pdf=name, page_count=sum(l.page_count for l in letters), ready_at=timezone.now()
    ):
        # The batch was reopened while we joined (a recipient became protected): our file may hold
        # that letter and is never kept; the rebuild writes a new one.
        if name:
            default_storage.delete(name)
        return False
    return True


# --------------------------------------------------------------------------- the batch


def _enqueue_batch(batch_id: int) -> None:
    from followup.letters.tasks import render_batch
    from helsestasjon.background import task_enqueue

    # Never inside the request, also where Celery runs tasks eagerly (the demo): the clerk's page
    # answers at once and polls the progress.
    for _ in range(max(1, settings.LETTER_WORKERS)):
        task_enqueue(render_batch, batch_id)


def _enqueue_manual(station_id: int) -> None:
    def enqueue():
        from followup.letters.tasks import render_manual

        render_manual.delay(station_id)

    transaction.on_commit(enqueue)


def letter_batch_request(*, station: Station, user: User, now: datetime | None = None) -> LetterBatch:
    """Start the day's batch and return at once: the batch row is made now (state "preparing"),
    the due letters are made and claimed by a task (letter_batch_prepare), then rendered.

    Making 50 letters takes seconds (addresses and protection asked of each), so the clerk's
    click must not wait for it. Refused at once when nothing is due, and while the station's
    previous start is still being prepared (a double click).
    """
    now = _now(now)
    due = letters_due_count(station=station, now=now)
    if not (due["steps"] or due["invitations"] or due["pending"]):
        if due["manual"]:
            raise LetterError(
                ngettext(
                    "Det er ingen brev til utskrift. %(count)d brev venter på manuell behandling.",
                    "Det er ingen brev til utskrift. %(count)d brev venter på manuell behandling.",
                    due["manual"],
                ) % {"count": due["manual"]}
            )
        raise LetterError(gettext("Det er ingen brev å lage nå."))
    with transaction.atomic():
        Station.objects.select_for_update().get(pk=station.pk)  # one start per station at a time
        if LetterBatch.objects.filter(station=station, state=BatchState.PREPARING).exists():
            raise LetterError(gettext("Dagens brev forberedes allerede. Vent til bunken er klar."))
        batch = LetterBatch.objects.create(station=station, created_by=user, created_at=now, state=BatchState.PREPARING)
        transaction.on_commit(lambda: _enqueue_prepare(batch.id))
    return batch


def _enqueue_prepare(batch_id: int) -> None:
    from followup.letters.tasks import prepare_batch
    from helsestasjon.background import task_enqueue

    task_enqueue(prepare_batch, batch_id)


def letter_batch_prepare(*, batch_id: int, now: datetime | None = None) -> int:
    """Make the due letters for a batch the clerk started and claim every pending letter for
    ordinary post; then its rendering is enqueued. Safe to run twice: only a batch still
    "preparing" is prepared (locked, so a second run waits and then finds it done).
    Returns the number of letters claimed; a batch with none is marked empty."""
    now = _now(now)
    with transaction.atomic():
        batch = LetterBatch.objects.select_for_update().filter(id=batch_id, state=BatchState.PREPARING).select_related("station").first()
        if batch is None:
            return 0
        claimed = _batch_claim_due(station=batch.station, batch=batch, now=now)
        batch.state = BatchState.RUNNING if claimed else BatchState.EMPTY
        batch.save(update_fields=["state"])
        if claimed:
            transaction.on_commit(lambda: _enqueue_batch(batch_id))
    return claimed


def _batch_claim_due(*, station: Station, batch: LetterBatch, now: datetime) -> int:
    """Inside the caller's transaction: make the due letters, drop obsolete ones, and give the
    batch every pending letter for ordinary post (their addresses asked again of the protection now)."""
    Station.objects.select_for_update().get(pk=station.pk)
    letters_create_due(station=station, now=now)
    letters_cancel_obsolete(station=station)
    waiting = Letter.objects.filter(station=station, state=LetterState.PENDING, batch__isnull=True)
    letters_follow_protection(letters=waiting)
    # Only letters for the local print: a digital or SvarUt-printed letter goes through SvarUt (svarut_dispatch).
    return waiting.filter(manual_handling=False, channel=LetterChannel.LOCAL_PRINT).update(batch=batch)


def _enqueue_svarut(station_id: int) -> None:
    from followup.letters.svarut.services import svarut_enqueue

    svarut_enqueue(station_id=station_id)


def letter_batch_start(*, station: Station, user: User, now: datetime | None = None) -> LetterBatch:
    """Make the due letters and start the day's print batch with every pending letter for ordinary post.

    The letters for manual handling made on the way are committed whether or not anything is
    printable: the refusal "nothing to print" is raised only after the transaction, so a protected
    family's letter never waits for a day when a printable letter is due too.
    """
    now = _now(now)
    with transaction.atomic():
        Station.objects.select_for_update().get(pk=station.pk)  # one batch start per station at a time
        letters_create_due(station=station, now=now)
        letters_cancel_obsolete(station=station)
        waiting = Letter.objects.filter(station=station, state=LetterState.PENDING, batch__isnull=True)
        # The batch claims these letters: their addresses are asked again of the protection now.
        letters_follow_protection(letters=waiting)
        pending = waiting.filter(manual_handling=False, channel=LetterChannel.LOCAL_PRINT)
        if pending.exists():
            batch = LetterBatch.objects.create(station=station, created_by=user, created_at=now)
            pending.update(batch=batch)
            transaction.on_commit(lambda: _enqueue_batch(batch.id))
            return batch
        manual = letters_manual_waiting_count(station=station)
        svarut = waiting.exclude(channel=LetterChannel.LOCAL_PRINT).count()
    if svarut and not manual:
        raise LetterError(
            ngettext(
                "Det er ingen brev til lokal utskrift. %(count)d brev sendes gjennom SvarUt.",
                "Det er ingen brev til lokal utskrift. %(count)d brev sendes gjennom SvarUt.",
                svarut,
            ) % {"count": svarut}
        )
    if manual:
        raise LetterError(
            ngettext(
                "Det er ingen brev til utskrift. %(count)d brev venter på manuell behandling.",
                "Det er ingen brev til utskrift. %(count)d brev venter på manuell behandling.",
                manual,
            ) % {"count": manual}
        )
    raise LetterError(gettext("Det er ingen brev å lage nå."))


def letters_cancel_obsolete(*, station: Station) -> int:
    """Letters waiting for a batch whose reason is gone: the case closed or moved past the
    step, the appointment is no longer booked, the child is no longer at the station."""
    waiting = Letter.objects.filter(station=station, state=LetterState.PENDING, batch__isnull=True)
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


@dataclass
class BatchProgress:
    total: int
    produced: int
    failed: int
    state: str

    @property
    def finished(self) -> int:
        return self.produced + self.failed

    @property
    def percent(self) -> int:
        return int(100 * self.finished / self.total) if self.total else 100

    @property
    def running(self) -> bool:
        return self.state in (BatchState.PREPARING, BatchState.RUNNING, BatchState.MERGING)


def letter_batch_progress(batch: LetterBatch) -> BatchProgress:
    counts = defaultdict(int)
    for state, n in batch.letters.order_by().values_list("state").annotate(n=Count("id")):
        counts[state] = n
    return BatchProgress(
        total=sum(counts.values()),
        produced=counts[LetterState.PRODUCED] + counts[LetterState.SENT],
        failed=counts[LetterState.FAILED],
        state=batch.state,
    )


def _letter_is_out(letter: Letter) -> bool:
    """Sent by hand or in a batch; through SvarUt only once it is delivered (read, in the mailbox, printed)."""
    if letter.state != LetterState.SENT:
        return False
    return letter.channel == LetterChannel.LOCAL_PRINT or letter.delivery_status in DELIVERED


def _complete_steps(step_ids: set[int], user: User | None, now: datetime) -> None:
    from followup.services import case_step_complete

    for step in CaseStep.objects.filter(id__in=step_ids, status=StepStatus.ACTIVE).order_by("id"):
        letters = list(Letter.objects.filter(case_step=step).exclude(state=LetterState.CANCELLED))
        if not letters or not all(_letter_is_out(l) for l in letters):
            continue  # a letter of this step still waits (e.g. manual handling, or not delivered yet)
        evidence = gettext("%(kind)s sendt til %(count)s mottaker(e) %(date)s.") % {
            "kind": letters[0].get_kind_display(), "count": len(letters), "date": f"{now:%d.%m.%Y}",
        }
        try:
            with transaction.atomic():
                case_step_complete(step=step, user=user, evidence=evidence, now=now)
        except ValidationError:
            # The case moved on meanwhile (deadline passed, closed); the letter is still recorded.
            logger.info("Step %s was no longer active when its letters were sent", step.id)


@transaction.atomic
def letter_batch_mark_sent(*, batch: LetterBatch, user: User, now: datetime | None = None) -> int:
    now = _now(now)
    if not LetterBatch.objects.filter(id=batch.id, state=BatchState.READY).update(state=BatchState.SENT, sent_at=now, sent_by=user):
        raise LetterError(gettext("Bunken er ikke klar, eller den er allerede merket som sendt."))
    steps = set(
        Letter.objects.filter(batch=batch, state=LetterState.PRODUCED, case_step__isnull=False).values_list("case_step_id", flat=True)
    )
    count = Letter.objects.filter(batch=batch, state=LetterState.PRODUCED).update(state=LetterState.SENT, sent_at=now, sent_by=user)
    _complete_steps(steps, user, now)
    return count


@transaction.atomic
def letter_mark_sent(*, letter: Letter, user: User, now: datetime | None = None) -> Letter:
    """A manual-handling letter was sent by hand."""
    now = _now(now)
    if not Letter.objects.filter(id=letter.id, state=LetterState.PRODUCED, batch__isnull=True, channel=LetterChannel.LOCAL_PRINT).update(
        state=LetterState.SENT, sent_at=now, sent_by=user
    ):
        raise LetterError(gettext("Brevet er ikke klart, eller det er allerede sendt."))
    letter.refresh_from_db()
    if letter.case_step_id:
        _complete_steps({letter.case_step_id}, user, now)
    return letter


@transaction.atomic
def letter_retry(*, letter: Letter) -> Letter:
    """A failed letter goes back to the queue for the next batch (attempts start again)."""
    if not Letter.objects.filter(id=letter.id, state=LetterState.FAILED).update(
        state=LetterState.PENDING, attempts=0, batch=None, error="", claimed_at=None
    ):
        raise LetterError(gettext("Brevet har ikke feilet."))
    letter.refresh_from_db()
    if letter.channel != LetterChannel.LOCAL_PRINT:
        _enqueue_svarut(letter.station_id)
    elif letter.manual_handling:
        _enqueue_manual(letter.station_id)
    return letter


@transaction.atomic
def letter_register_returned(*, letter: Letter, user: User, now: datetime | None = None) -> Letter:
    """Returned mail: recorded on the letter, and the case goes to the address check."""
    now = _now(now)
    if not Letter.objects.filter(id=letter.id, state=LetterState.SENT, returned_at__isnull=True).update(returned_at=now, returned_by=user):
        raise LetterError(gettext("Bare sendte brev kan registreres som returnert, og bare én gang."))
    letter.refresh_from_db()
    if letter.case_id:
        case_start_address_check(case_id=letter.case_id, user=user, now=now)
    return letter


def case_start_address_check(*, case_id: int, user: User, now: datetime) -> bool:
    """Move an open case to its ladder's address check step (the letter came back).

    The active step ends as skipped with the reason; after the check the case
    climbs on from there, so the letter step comes again with a new letter.
    """
    from followup import services as followup_services

    case = Case.objects.select_for_update().filter(id=case_id, status=CaseStatus.OPEN).first()
    if case is None:
        return False
    active = case.current_step
    if active is not None and active.kind == StepKind.ADDRESS_CHECK and active.status == StepStatus.ACTIVE:
        return False
    ladder_step = followup_services._Ladders().of_kind(case.station_id, StepKind.ADDRESS_CHECK)
    if ladder_step is None:
        return False
    if active is not None and active.status == StepStatus.ACTIVE:
        CaseStep.objects.filter(id=active.id, status=StepStatus.ACTIVE).update(
            status=StepStatus.SKIPPED, ended_at=now, ended_by=user, skip_reason=gettext("Brev kom i retur: adressen må kontrolleres.")
        )
    followup_services._start_step(case=case, ladder_step=ladder_step, now=now)
    return True


# --------------------------------------------------------------------------- the safety net


def letters_resume(*, now: datetime | None = None) -> dict[str, int]:
    """Release stale claims and restart unfinished batches (the beat schedule runs this)."""
    now = _now(now)
    stale = now - STALE_AFTER
    failed = Letter.objects.filter(state=LetterState.RENDERING, claimed_at__lt=stale, attempts__gte=MAX_ATTEMPTS).update(
        state=LetterState.FAILED, claimed_at=None, error=gettext("Avbrutt for mange ganger.")
    )
    released = Letter.objects.filter(state=LetterState.RENDERING, claimed_at__lt=stale).update(state=LetterState.PENDING, claimed_at=None)
    LetterBatch.objects.filter(state=BatchState.MERGING, merge_claimed_at__lt=stale).update(state=BatchState.RUNNING)
    restarted = 0
    # A start whose preparing task was lost (a demo restarted mid-way, a lost message).
    for batch_id in LetterBatch.objects.filter(state=BatchState.PREPARING, created_at__lt=stale).values_list("id", flat=True):
        _enqueue_prepare(batch_id)
        restarted += 1
    # A batch younger than the stale limit still has its own messages in the queue.
    for batch_id in LetterBatch.objects.filter(state=BatchState.RUNNING, created_at__lt=stale).values_list("id", flat=True):
        busy = Letter.objects.filter(batch_id=batch_id, state=LetterState.RENDERING).exists()
        if not busy:
            _enqueue_batch(batch_id)
            restarted += 1
    stations = set(
        Letter.objects.filter(
            state=LetterState.PENDING, batch__isnull=True, manual_handling=True, channel=LetterChannel.LOCAL_PRINT
        ).values_list("station_id", flat=True)
    )
    for station_id in stations:
        from followup.letters.tasks import render_manual

        render_manual.delay(station_id)
    return {"failed": failed, "released": released, "batches_restarted": restarted, "manual_stations": len(stations)}


# --------------------------------------------------------------------------- protection now


def _delete_files_on_commit(names: list[str]) -> None:
    names = [name for name in names if name]
    if names:
        transaction.on_commit(lambda: [default_storage.delete(name) for name in names])


def _reopen_batches(batch_ids: set[int], withdrawn_ids: set[int]) -> None:
    """A letter left these batches: no print file or part that holds it is kept.

    A batch whose print file is being joined or is ready goes back to running and is joined again
    without the letter (rebuilt, not refused: the clerk's other letters still go out today)."""
    if not batch_ids:
        return
    parts = [
        part for part in LetterBatchPart.objects.filter(batch_id__in=batch_ids) if set(part.letter_ids) & withdrawn_ids
    ]
    _delete_files_on_commit([part.pdf.name for part in parts])
    LetterBatchPart.objects.filter(id__in=[part.id for part in parts]).delete()
    reopened = list(LetterBatch.objects.select_for_update().filter(id__in=batch_ids, state__in=[BatchState.MERGING, BatchState.READY]))
    if not reopened:
        return
    _delete_files_on_commit([batch.pdf.name for batch in reopened])
    LetterBatch.objects.filter(id__in=[batch.id for batch in reopened], state__in=[BatchState.MERGING, BatchState.READY]).update(
        state=BatchState.RUNNING, pdf="", page_count=0, merge_claimed_at=None, ready_at=None
    )
    for batch in reopened:
        transaction.on_commit(lambda batch_id=batch.id: _enqueue_batch(batch_id))


@transaction.atomic
def letters_follow_protection(*, letters) -> dict[str, int]:
    """Make these letters agree with the protection *now* of everyone their address belongs to.

    - An address that may no longer be printed (an addressee or the child is protected): a letter
      that has not gone out loses its stored address, leaves its batch and goes to manual handling;
      a rendered or rendering one is rendered again without the address (its old PDF is deleted,
      it was never sent), and the batch's print file is rebuilt without it.
    - A sent letter to a strictly confidential address keeps its archived PDF (what was sent) but
      not the stored copy of the address; the PDF is served to nobody (``letter_file_for_user``).
    - Protection gone (nobody protected now): a manual letter not yet rendered is addressed again
      from the recipient's current address and goes with the next batch. One already rendered for
      hand-addressing stays with the clerk, who may already be handling it and sees the address.

    Safe to run twice and under concurrent workers: rows are locked, and a worker's claim on a
    letter it is rendering ends here, so its result is thrown away (``_finish`` is conditional).
    """
    rows = list(
        Letter.objects.select_for_update()
        .filter(id__in=letters.values("id"), state__in=[*UNSENT_STATES, LetterState.SENT])
        .order_by("id")
    )
    levels = letters_current_protection(rows)
    withdrawn: list[Letter] = []
    stripped: list[int] = []
    readdress: list[Letter] = []
    for letter in rows:
        level = levels[letter.pk]
        if letter.state == LetterState.SENT:
            # A strictly confidential address is stored nowhere but in the register.
            if letter.address_lines and level == AddressProtection.STRICTLY_CONFIDENTIAL:
                stripped.append(letter.pk)
            continue
        if not address_printable(level):
            holds_address = not letter.manual_handling or bool(letter.address_lines)
            if holds_address or letter.batch_id:
                withdrawn.append(letter)
        elif letter.manual_handling and letter.state in (LetterState.PENDING, LetterState.FAILED) and letter.batch_id is None:
            readdress.append(letter)

    if stripped:
        Letter.objects.filter(id__in=stripped).update(address_lines=[])

    batch_ids = {letter.batch_id for letter in withdrawn if letter.batch_id}
    ids = {letter.pk for letter in withdrawn}
    if withdrawn:
        rendered = [letter for letter in withdrawn if letter.state in (LetterState.RENDERING, LetterState.PRODUCED)]
        _delete_files_on_commit([letter.pdf.name for letter in rendered if letter.pdf])
        Letter.objects.filter(id__in=ids).update(manual_handling=True, address_lines=[], batch=None)
        Letter.objects.filter(id__in=[letter.pk for letter in rendered]).update(
            state=LetterState.PENDING, pdf="", page_count=0, attempts=0, claimed_at=None, produced_at=None, produced_by=None,
            error="",
        )
        for station_id in {letter.station_id for letter in withdrawn}:
            _enqueue_manual(station_id)
        _reopen_batches(batch_ids, ids)

    readdressed = 0
    if readdress:
        guardians = {g.id: g for g in Guardian.objects.filter(id__in={letter.recipient_id for letter in readdress})}
        for letter in readdress:
            lines = guardians[letter.recipient_id].address_lines()
            if lines:
                readdressed += Letter.objects.filter(id=letter.pk, manual_handling=True, batch__isnull=True).update(
                    manual_handling=False, address_lines=lines
                )
    if withdrawn or stripped:
        logger.info("Protection now: %s letters withdrawn to manual handling, %s archived addresses removed", len(ids), len(stripped))
    return {"withdrawn": len(ids), "stripped": len(stripped), "readdressed": readdressed, "batches": len(batch_ids)}


def letters_follow_protection_change(*, guardian_ids=(), child_ids=(), register_person_ids=()) -> dict[str, int]:
    """A person's protection changed (``helsestasjon.protection.protection_changed``, inside that
    transaction): every letter addressed to the guardian, and every letter of the child (so each of
    its guardians' letters), follows the protection now."""
    guardian_ids, child_ids = set(guardian_ids), set(child_ids)
    if register_person_ids:
        guardian_ids |= set(Guardian.objects.filter(register_person_id__in=register_person_ids).values_list("id", flat=True))
        child_ids |= set(Child.objects.filter(register_person_id__in=register_person_ids).values_list("id", flat=True))
    scope = Q(child_id__in=child_ids) | Q(recipient_id__in=guardian_ids) | Q(addressee_ids__overlap=sorted(guardian_ids))
    if not (guardian_ids or child_ids):
        return {"withdrawn": 0, "stripped": 0, "readdressed": 0, "batches": 0}
    return letters_follow_protection(letters=Letter.objects.filter(scope))


def letter_batch_print_file(*, batch: LetterBatch, user: User):
    """The batch's print file, if it may be served now (else LetterError / LetterAddressProtected).

    Each letter in it is asked again: a ready print file that holds an address that may no longer be
    printed is never served; the letter goes to manual handling and the file is rebuilt without it.
    The withdrawal is committed before the refusal is raised."""
    with transaction.atomic():
        batch = LetterBatch.objects.select_for_update().get(pk=batch.pk)
        if batch.state not in (BatchState.READY, BatchState.SENT) or not batch.pdf:
            raise LetterError(gettext("Utskriftsfilen er ikke klar."))
        letters = list(batch.letters.filter(state__in=[LetterState.PRODUCED, LetterState.SENT]).only("id", "child_id", "recipient_id", "addressee_ids"))
        levels = letters_current_protection(letters)
        if batch.state == BatchState.SENT:
            # What was posted: kept as the record, opened only by those who may see every address in it.
            if not all(address_visible(level, user) for level in levels.values()):
                raise LetterAddressProtected(
                    gettext("En mottaker i denne bunken har nå beskyttet adresse. Utskriftsfilen kan ikke åpnes.")
                )
            return batch.pdf
        protected = [letter.pk for letter in letters if not address_printable(levels[letter.pk])]
        if protected:
            letters_follow_protection(letters=Letter.objects.filter(id__in=protected))
    if protected:
        raise LetterError(
            gettext(
                "En mottaker har fått beskyttet adresse. Brevet er flyttet til manuell behandling, og utskriftsfilen "
                "lages på nytt uten det. Last den ned når bunken er klar igjen."
            )
        )
    return batch.pdf


def letter_file_for_user(*, letter: Letter, user: User):
    """The letter's archived PDF, if this user may have it now.

    A PDF printed with an address (not made for manual handling) holds that address: it is served
    only when the address is visible to the user by its owners' protection now, never when strictly
    confidential. A letter not yet sent whose address may no longer be printed is withdrawn to
    manual handling (and made again without the address) instead of being served."""
    if not letter.pdf:
        raise LetterError(gettext("Brevet er ikke laget ennå."))
    if letter.manual_handling:
        return letter.pdf  # made without an address
    level = letters_current_protection([letter])[letter.pk]
    if letter.state != LetterState.SENT and not address_printable(level):
        letters_follow_protection(letters=Letter.objects.filter(id=letter.pk))
        raise LetterError(
            gettext("Mottakeren har fått beskyttet adresse. Brevet er flyttet til manuell behandling og lages på nytt uten adresse.")
        )
    if not address_visible(level, user):
        raise LetterAddressProtected(gettext("Mottakerens adresse er nå beskyttet. Brevet kan bare åpnes av den som har tilgang."))
    return letter.pdf
