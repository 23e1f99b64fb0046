"""Letters follow the protection *now* of everyone their address belongs to.

A letter's address was copied when its row was made; before it is printed, served or kept, the
protection of its owners is asked again (``letters_current_protection``), and a letter that may
no longer carry its address goes to manual handling, its print file rebuilt without it.
"""

from __future__ import annotations

import logging

from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q

from followup.letters.addressing import letters_current_protection
from followup.letters.making import UNSENT_STATES
from followup.letters.models import BatchState, Letter, LetterBatch, LetterBatchPart, LetterState
from followup.letters.queue import letters_enqueue_manual, letters_enqueue_render
from helsestasjon.models import AddressProtection, Child, Guardian
from helsestasjon.protection import address_printable

logger = logging.getLogger(__name__)


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
        transaction.on_commit(lambda batch_id=batch.id: letters_enqueue_render(batch_id))


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
    withdrawn, stripped, readdress = _sort_by_protection(rows, letters_current_protection(rows))
    if stripped:
        Letter.objects.filter(id__in=stripped).update(address_lines=[])
    batch_ids = {letter.batch_id for letter in withdrawn if letter.batch_id}
    ids = {letter.pk for letter in withdrawn}
    if withdrawn:
        _withdraw_to_manual(withdrawn, ids, batch_ids)
    readdressed = _readdress(readdress) if readdress else 0
    if withdrawn or stripped:
        logger.info("Protection now: %s letters withdrawn to manual handling, %s archived addresses removed", len(ids), len(stripped))
    return {"withdrawn": len(ids), "stripped": len(stripped), "readdressed": readdressed, "batches": len(batch_ids)}


def _sort_by_protection(rows: list[Letter], levels: dict[int, str]) -> tuple[list[Letter], list[int], list[Letter]]:
    """(withdrawn, stripped, readdress): the letters that lose their address, the sent ones whose
    stored copy of a strictly confidential address goes, and the manual ones that may be addressed again."""
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
    return withdrawn, stripped, readdress


def _withdraw_to_manual(withdrawn: list[Letter], ids: set[int], batch_ids: set[int]) -> None:
    """The letters leave their batches for manual handling; a rendered one is made again without the address."""
    rendered = [letter for letter in withdrawn if letter.state in (LetterState.RENDERING, LetterState.PRODUCED)]
    _delete_files_on_commit([letter.pdf.name for letter in rendered if letter.pdf])
    Letter.objects.filter(id__in=ids).update(manual_handling=True, address_lines=[], batch=None)
    Letter.objects.filter(id__in=[letter.pk for letter in rendered]).update(
        state=LetterState.PENDING, pdf="", page_count=0, attempts=0, claimed_at=None, produced_at=None, produced_by=None,
        error="",
    )
    for station_id in {letter.station_id for letter in withdrawn}:
        letters_enqueue_manual(station_id)
    _reopen_batches(batch_ids, ids)


def _readdress(readdress: list[Letter]) -> int:
    """Manual letters whose protection is gone are addressed again from the recipient's address now."""
    readdressed = 0
    guardians = {g.id: g for g in Guardian.objects.filter(id__in={letter.recipient_id for letter in readdress})}
    for letter in readdress:
        lines = guardians[letter.recipient_id].address_lines()
        if lines:
            readdressed += Letter.objects.filter(id=letter.pk, manual_handling=True, batch__isnull=True).update(
                manual_handling=False, address_lines=lines
            )
    return readdressed


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
