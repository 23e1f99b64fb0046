"""The print file: rendering letters to PDF, joining a batch's print file, and serving the files.

Workers claim letters with a conditional UPDATE (pending -> rendering, stamped with the claim
time) and finish them with another one that only succeeds while their claim stands (``_finish``);
a letter whose address may no longer be printed leaves the batch before it is rendered, and a
file is served only to a user who may see every address in it now.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Case as SqlCase, F, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext

from attendance.models import Place
from followup.letters import rendering, translations
from followup.letters.addressing import letters_current_protection
from followup.letters.follow_protection import letters_follow_protection
from followup.letters.making import LetterAddressProtected, LetterError, letter_date_text
from followup.letters.models import BatchState, Letter, LetterBatch, LetterBatchPart, LetterState
from followup.letters.svarut.choices import LetterChannel
from helsestasjon.models import User
from helsestasjon.protection import address_printable, address_visible

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
STALE_AFTER = timedelta(minutes=5)


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
        "child_birth_date": letter_date_text(letter.child.birth_date),
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


def letters_claim(scope: Q, now: datetime, size: int) -> list[int]:
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


def letters_render_claimed(ids: list[int], claim: datetime) -> int:
    """Render the letters this worker claimed (at ``claim``) in one chunk, or one by one if the chunk
    fails; how many it finished. The address was copied when the row was made: the protection of
    its owners is asked again now, and a letter that may no longer carry it leaves for manual handling."""
    letters = _letters_for_render(ids)
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
        return _render_one_by_one(letters, claim, produced_by)
    return _store_chunk(letters, chunk, parts, claim, produced_by)


def _render_one_by_one(letters: list[Letter], claim: datetime, produced_by: dict[int, int]) -> int:
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


def _store_chunk(letters: list[Letter], chunk, parts: list[bytes], claim: datetime, produced_by: dict[int, int]) -> int:
    """Files first, then every row of the chunk in one transaction (one commit, not one per letter)."""
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
        ids = letters_claim(scope, claim, chunk_size)
        if not ids:
            break
        done += letters_render_claimed(ids, claim)
    if batch_id is not None:
        letter_batch_merge(batch_id=batch_id)
    return done


def letter_batch_merge(*, batch_id: int, now: datetime | None = None) -> bool:
    """Join the batch's produced letters into the print PDF, once every letter is finished."""
    now = now or timezone.now()
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
