"""The day's print batch: starting it, preparing it, marking it (or a letter) sent, returned mail,
and the safety net that finds work whose message was lost.

Exactly once: workers claim letters with a conditional UPDATE and finish them with another one
that only succeeds while their claim stands (``followup.letters.printing``); a claim that goes
stale (a worker killed, a lost message) is released by ``letters_resume`` and the letter is
rendered again. After MAX_ATTEMPTS claims a letter ends as failed and is shown to the clerk.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from followup.ladder import LadderCache, ladder_start_step
from followup.letters.follow_protection import letters_follow_protection
from followup.letters.making import (
    LetterError,
    letters_cancel_obsolete,
    letters_create_due,
    letters_due_count,
    letters_manual_waiting_count,
    local_print_pending,
    unbatched_letters,
)
from followup.letters.models import BatchState, Letter, LetterBatch, LetterState
from followup.letters.printing import MAX_ATTEMPTS, STALE_AFTER
from followup.letters.queue import letters_enqueue_manual, letters_enqueue_prepare, letters_enqueue_render, letters_enqueue_svarut
from followup.letters.svarut.choices import DELIVERED, LetterChannel
from followup.models import Case, CaseStatus, CaseStep, StepKind, StepStatus
from followup.steps import case_step_complete
from helsestasjon.models import Station, User

logger = logging.getLogger(__name__)


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


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
        raise _nothing_to_print(manual=due["manual"])
    with transaction.atomic():
        Station.objects.select_for_update().get(pk=station.pk)  # one start per station at a time
        if LetterBatch.objects.filter(station=station, state=BatchState.PREPARING).exists():
            raise LetterError(gettext("Dagens brev forberedes allerede. Vent til bunken er klar."))
        batch = LetterBatch.objects.create(station=station, created_by=user, created_at=now, state=BatchState.PREPARING)
        transaction.on_commit(lambda: letters_enqueue_prepare(batch.id))
    return batch


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
            transaction.on_commit(lambda: letters_enqueue_render(batch_id))
    return claimed


def letters_due_for_local_print(*, station: Station, now: datetime):
    """The letters a print batch takes now, the one rule for both ways of starting one.

    Inside the caller's transaction: the station is locked (one start at a time), the due letters
    are made, obsolete ones dropped, and every waiting letter's address asked again of the
    protection now; what is left for the local print (``local_print_pending``) is returned."""
    Station.objects.select_for_update().get(pk=station.pk)
    letters_create_due(station=station, now=now)
    letters_cancel_obsolete(station=station)
    letters_follow_protection(letters=unbatched_letters(station=station))
    return local_print_pending(station=station)


def _batch_claim_due(*, station: Station, batch: LetterBatch, now: datetime) -> int:
    """Give the batch every letter due for the local print; how many it got."""
    return letters_due_for_local_print(station=station, now=now).update(batch=batch)


def letter_batch_start(*, station: Station, user: User, now: datetime | None = None) -> LetterBatch:
    """Make the due letters and start the day's print batch with every pending letter for ordinary post.

    The letters for manual handling made on the way are committed whether or not anything is
    printable: the refusal "nothing to print" is raised only after the transaction, so a protected
    family's letter never waits for a day when a printable letter is due too.
    """
    now = _now(now)
    with transaction.atomic():
        pending = letters_due_for_local_print(station=station, now=now)
        if pending.exists():
            batch = LetterBatch.objects.create(station=station, created_by=user, created_at=now)
            pending.update(batch=batch)
            transaction.on_commit(lambda: letters_enqueue_render(batch.id))
            return batch
        manual = letters_manual_waiting_count(station=station)
        svarut = unbatched_letters(station=station).exclude(channel=LetterChannel.LOCAL_PRINT).count()
    if svarut and not manual:
        raise LetterError(
            ngettext(
                "Det er ingen brev til lokal utskrift. %(count)d brev sendes gjennom SvarUt.",
                "Det er ingen brev til lokal utskrift. %(count)d brev sendes gjennom SvarUt.",
                svarut,
            ) % {"count": svarut}
        )
    raise _nothing_to_print(manual=manual)


def _nothing_to_print(*, manual: int) -> LetterError:
    """The refusal when no letter is due for the local print: say so if some wait for manual handling."""
    if manual:
        return LetterError(
            ngettext(
                "Det er ingen brev til utskrift. %(count)d brev venter på manuell behandling.",
                "Det er ingen brev til utskrift. %(count)d brev venter på manuell behandling.",
                manual,
            ) % {"count": manual}
        )
    return LetterError(gettext("Det er ingen brev å lage nå."))


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
    """How far the batch's rendering has come (the clerk's page polls it)."""
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


def letter_steps_complete(step_ids: set[int], user: User | None, now: datetime) -> None:
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
    """The clerk posted the batch: its letters are sent, and the steps whose letters are all out move on."""
    now = _now(now)
    if not LetterBatch.objects.filter(id=batch.id, state=BatchState.READY).update(state=BatchState.SENT, sent_at=now, sent_by=user):
        raise LetterError(gettext("Bunken er ikke klar, eller den er allerede merket som sendt."))
    steps = set(
        Letter.objects.filter(batch=batch, state=LetterState.PRODUCED, case_step__isnull=False).values_list("case_step_id", flat=True)
    )
    count = Letter.objects.filter(batch=batch, state=LetterState.PRODUCED).update(state=LetterState.SENT, sent_at=now, sent_by=user)
    letter_steps_complete(steps, user, now)
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
        letter_steps_complete({letter.case_step_id}, user, now)
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
        letters_enqueue_svarut(letter.station_id)
    elif letter.manual_handling:
        letters_enqueue_manual(letter.station_id)
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
    case = Case.objects.select_for_update().filter(id=case_id, status=CaseStatus.OPEN).first()
    if case is None:
        return False
    active = case.current_step
    if active is not None and active.kind == StepKind.ADDRESS_CHECK and active.status == StepStatus.ACTIVE:
        return False
    ladder_step = LadderCache().of_kind(case.station_id, StepKind.ADDRESS_CHECK)
    if ladder_step is None:
        return False
    if active is not None and active.status == StepStatus.ACTIVE:
        CaseStep.objects.filter(id=active.id, status=StepStatus.ACTIVE).update(
            status=StepStatus.SKIPPED, ended_at=now, ended_by=user, skip_reason=gettext("Brev kom i retur: adressen må kontrolleres.")
        )
    ladder_start_step(case=case, ladder_step=ladder_step, now=now)
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
        letters_enqueue_prepare(batch_id)
        restarted += 1
    # A batch younger than the stale limit still has its own messages in the queue.
    for batch_id in LetterBatch.objects.filter(state=BatchState.RUNNING, created_at__lt=stale).values_list("id", flat=True):
        busy = Letter.objects.filter(batch_id=batch_id, state=LetterState.RENDERING).exists()
        if not busy:
            letters_enqueue_render(batch_id)
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
