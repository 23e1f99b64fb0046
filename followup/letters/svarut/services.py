"""Sending letters through SvarUt exactly once, polling their statuses, and what delivery does to the ladder.

Exactly once (../shared/spec/digital-post.md): a letter is claimed for its one send by a
conditional UPDATE (``send_state`` "" -> "sending", stamped with the claim time) that is committed
before the call, with the letter's own id as ``eksternReferanse``; the forsendelse id is stored by
another conditional UPDATE as soon as the answer comes. A letter left "sending" (the worker died
between the call and the commit, or the answer was lost) is never claimed again: ``svarut_resume``
looks it up by its ``eksternReferanse`` (KS's documented lookup) and records the one forsendelse it
finds, and otherwise lists it for the clerk as uncertain. Only the clerk, having checked in
SvarUt, sends an uncertain letter again (``letter_svarut_resolve``).
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext

from followup.letters.addressing import letters_current_protection
from followup.letters.batch import case_start_address_check, letter_steps_complete
from followup.letters.follow_protection import letters_follow_protection
from followup.letters.making import UNSENT_STATES
from followup.letters.printing import STALE_AFTER, letters_claim, letters_render_claimed
from followup.letters.queue import letters_enqueue_manual
from followup.letters.models import Letter, LetterState
from followup.letters.svarut import client as svarut_client
from followup.letters.svarut.channel import can_go_digitally
from followup.letters.svarut.choices import DELIVERED, FINAL, NOT_DELIVERED, SVARUT_CHANNELS, DeliveryStatus, LetterChannel, SendState
from followup.letters.svarut.models import LetterDeliveryEvent
from helsestasjon.models import AddressProtection, User
from helsestasjon.protection import address_printable

logger = logging.getLogger(__name__)

# A send older than this without an answer is resolved by lookup (longer than any send may take).
def _stale_after() -> timedelta:
    return max(STALE_AFTER, timedelta(seconds=settings.SVARUT_SEND_TIMEOUT_SECONDS * 2))


def external_reference(letter_id: int) -> str:
    """The letter's own id as SvarUt's eksternReferanse (searchable there, and by KS's lookup)."""
    return f"helsestasjon-brev-{letter_id}"


def _client(client):
    return client or svarut_client.SvarUtClient.from_settings()


def svarut_enqueue(*, station_id: int) -> None:
    """After the commit: render and send the station's letters that go through SvarUt."""

    def enqueue():
        from followup.letters.svarut.tasks import dispatch

        dispatch.delay(station_id)

    transaction.on_commit(enqueue)


def _svarut_scope(station_id: int) -> Q:
    return Q(station_id=station_id, batch__isnull=True, channel__in=SVARUT_CHANNELS, send_state=SendState.NOT_SENT)


def _keep_protected_off_svarut_print(station_id: int) -> None:
    """A letter whose address may not be printed never goes to SvarUt's print: it goes to local
    manual handling (the rule of the protection issue, asked again now)."""
    candidates = list(Letter.objects.filter(_svarut_scope(station_id), channel=LetterChannel.SVARUT_PRINT,
                                            state__in=UNSENT_STATES))
    if not candidates:
        return
    levels = letters_current_protection(candidates)
    moved = [l.pk for l in candidates if l.manual_handling or not address_printable(levels[l.pk])]
    if moved:
        letters_follow_protection(letters=Letter.objects.filter(id__in=moved))
        Letter.objects.filter(id__in=moved, send_state=SendState.NOT_SENT).update(
            channel=LetterChannel.LOCAL_PRINT, channel_reason=gettext("Beskyttet adresse: manuell behandling.")
        )
        letters_enqueue_manual(station_id)


def svarut_dispatch(*, station_id: int, chunk_size: int | None = None) -> list[list[int]]:
    """Hand the station's SvarUt letters that wait to send tasks, one per chunk; each renders its
    chunk and sends it, so several workers render and send side by side."""
    with transaction.atomic():
        _keep_protected_off_svarut_print(station_id)
    size = chunk_size or settings.SVARUT_CHUNK_SIZE
    waiting = list(
        Letter.objects.filter(_svarut_scope(station_id), state__in=[LetterState.PENDING, LetterState.PRODUCED])
        .order_by("id").values_list("id", flat=True)
    )
    chunks = [waiting[i : i + size] for i in range(0, len(waiting), size)]
    from followup.letters.svarut.tasks import send_chunk

    for chunk in chunks:
        send_chunk.delay(chunk)
    return chunks


def _render_chunk(letter_ids: list[int]) -> None:
    """Render the chunk's letters that are not rendered yet (claimed as the print batch does)."""
    scope = Q(id__in=letter_ids, channel__in=SVARUT_CHANNELS, send_state=SendState.NOT_SENT, batch__isnull=True)
    claim = timezone.now()
    ids = letters_claim(scope, claim, len(letter_ids))
    if ids:
        letters_render_claimed(ids, claim)


@dataclass
class SendReport:
    accepted: int = 0
    lost: int = 0
    refused: int = 0
    postponed: int = 0


def _claim_for_send(letter_id: int, claim: datetime) -> bool:
    """Claim one letter for its one send, committed before the call (a letter at a time, so a worker
    that dies holds at most the letter it was sending)."""
    return bool(
        Letter.objects.filter(id=letter_id, state=LetterState.PRODUCED, send_state=SendState.NOT_SENT, channel__in=SVARUT_CHANNELS,
                              batch__isnull=True).update(send_state=SendState.SENDING, send_claimed_at=claim)
    )


def _recipient(letter: Letter, level: str) -> svarut_client.Recipient:
    guardian = letter.recipient
    digital = letter.channel == LetterChannel.DIGITAL and bool(guardian.national_id)
    # The address goes to SvarUt only where it may be printed now; a strictly confidential one never.
    lines = tuple(letter.address_lines) if (letter.address_lines and not letter.manual_handling and address_printable(level)) else ()
    street, postal, city = lines, "", ""
    # The window's last line is "<postnummer> <poststed>" (Guardian.address_lines): SvarUt wants them apart.
    last = re.fullmatch(r"(\d{4})\s+(.+)", lines[-1]) if lines else None
    if last:
        street, postal, city = lines[:-1], last[1], last[2]
    return svarut_client.Recipient(
        name=letter.recipient_name, national_id=guardian.national_id if digital else "", address_lines=tuple(street),
        postal_code=postal, city=city,
    )


def _record_accepted(letter_id: int, forsendelse_id: uuid.UUID, now: datetime) -> bool:
    return bool(
        Letter.objects.filter(id=letter_id, forsendelse_id__isnull=True, send_state__in=[SendState.SENDING, SendState.UNCERTAIN]).update(
            send_state=SendState.ACCEPTED, forsendelse_id=forsendelse_id, state=LetterState.SENT, sent_at=now,
            delivery_status=DeliveryStatus.MOTTATT, delivery_status_at=now, error="",
        )
    )


def _release(letter_ids: list[int], claim: datetime, error: str, *, failed: bool = False) -> None:
    """Nothing was taken by SvarUt: the claim ends (a refusal also fails the letter for the clerk)."""
    values = {"send_state": SendState.NOT_SENT, "send_claimed_at": None, "error": error[:300]}
    if failed:
        values["state"] = LetterState.FAILED
    Letter.objects.filter(id__in=letter_ids, send_state=SendState.SENDING, send_claimed_at=claim).update(**values)


def svarut_send_chunk(*, letter_ids: list[int], client=None) -> SendReport:
    """Send each claimed letter once. Safe to run twice: only unclaimed letters are claimed."""
    report = SendReport()
    _render_chunk(letter_ids)
    rows = list(
        Letter.objects.filter(id__in=letter_ids, state=LetterState.PRODUCED, send_state=SendState.NOT_SENT)
        .select_related("recipient").order_by("id")
    )
    if not rows:
        return report
    client = _client(client)
    levels = letters_current_protection(rows)
    for letter in rows:
        claim = timezone.now()
        if not _claim_for_send(letter.pk, claim):
            continue  # another run has it
        level = levels[letter.pk]
        if letter.channel == LetterChannel.SVARUT_PRINT and not address_printable(level):
            # Protected since it was made: never to SvarUt's print (local manual handling instead).
            _release([letter.pk], claim, "")
            _keep_protected_off_svarut_print(letter.station_id)
            continue
        if level == AddressProtection.STRICTLY_CONFIDENTIAL and not can_go_digitally(letter.recipient):
            _release([letter.pk], claim, "")
            Letter.objects.filter(id=letter.pk).update(channel=LetterChannel.LOCAL_PRINT, channel_reason=gettext(
                "Strengt fortrolig adresse uten digital postkasse: manuell behandling."))
            letters_follow_protection(letters=Letter.objects.filter(id=letter.pk))
            continue
        try:
            with letter.pdf.open("rb") as handle:
                pdf = handle.read()
            forsendelse_id = client.send_to_person(
                title=letter.get_kind_display(), recipient=_recipient(letter, level), external_reference=external_reference(letter.pk),
                pdf=pdf, filename=letter.download_name(), correlation_id=f"helsestasjon-{letter.station_id}",
            )
        except svarut_client.SvarUtAnswerLost as exc:
            # The forsendelse may exist: the letter stays "sending" and svarut_resume looks it up.
            logger.warning("SvarUt answer lost for letter %s: %s", letter.pk, exc)
            Letter.objects.filter(id=letter.pk, send_state=SendState.SENDING).update(error=str(exc)[:300])
            report.lost += 1
            continue
        except svarut_client.SvarUtUnavailable as exc:
            # Nothing was taken: this letter and the rest of the chunk wait for the next run.
            _release([letter.pk], claim, str(exc))
            report.postponed += 1
            return report
        except (svarut_client.SvarUtRefused, svarut_client.SvarUtProtocolError) as exc:
            _release([letter.pk], claim, str(exc), failed=True)
            report.refused += 1
            continue
        except OSError as exc:  # the archived PDF is missing: render again
            Letter.objects.filter(id=letter.pk, send_state=SendState.SENDING, send_claimed_at=claim).update(
                send_state=SendState.NOT_SENT, send_claimed_at=None, state=LetterState.PENDING, pdf="", error=str(exc)[:300])
            continue
        report.accepted += _record_accepted(letter.pk, forsendelse_id, timezone.now())
    return report


# --------------------------------------------------------------------------- the safety net


def svarut_resume(*, now: datetime | None = None, client=None) -> dict[str, int]:
    """Resolve sends whose answer never came, and send what waits (lost messages)."""
    now = now or timezone.now()
    stale = list(Letter.objects.filter(send_state=SendState.SENDING, send_claimed_at__lt=now - _stale_after()).order_by("id"))
    found = uncertain = 0
    if stale:
        client = _client(client)
    for letter in stale:
        try:
            ids = client.lookup_external_reference(external_reference(letter.pk))
        except svarut_client.SvarUtError as exc:
            logger.warning("Looking up letter %s in SvarUt failed: %s", letter.pk, exc)
            continue
        if ids is not None and len(ids) == 1:
            found += _record_accepted(letter.pk, ids[0], now)
            continue
        if ids is None:
            why = gettext("Svaret fra SvarUt kom ikke fram, og SvarUt kan ikke slås opp. Sjekk i SvarUt om brevet er sendt.")
        elif not ids:
            why = gettext("Svaret fra SvarUt kom ikke fram, og SvarUt finner ikke brevet. Sjekk i SvarUt før det sendes på nytt.")
        else:
            why = gettext("SvarUt har flere forsendelser for dette brevet. Sjekk i SvarUt.")
        uncertain += Letter.objects.filter(id=letter.pk, send_state=SendState.SENDING).update(
            send_state=SendState.UNCERTAIN, send_claimed_at=None, error=why[:300])
    stations = set(
        Letter.objects.filter(channel__in=SVARUT_CHANNELS, send_state=SendState.NOT_SENT, batch__isnull=True,
                              state__in=[LetterState.PENDING, LetterState.PRODUCED]).values_list("station_id", flat=True)
    )
    from followup.letters.svarut.tasks import dispatch

    for station_id in sorted(stations):
        dispatch.delay(station_id)
    return {"found": found, "uncertain": uncertain, "stations": len(stations)}


# --------------------------------------------------------------------------- statuses and the ladder


def svarut_poll(*, now: datetime | None = None, client=None) -> dict[str, int]:
    """Ask SvarUt for the status of every accepted letter that is not final, and apply changes."""
    now = now or timezone.now()
    waiting = dict(
        Letter.objects.filter(send_state=SendState.ACCEPTED).exclude(delivery_status__in=list(FINAL))
        .values_list("forsendelse_id", "id")
    )
    if not waiting:
        return {"asked": 0, "changed": 0}
    statuses = _client(client).statuses(list(waiting))
    changed = 0
    for status in statuses:
        letter_id = waiting.get(status.forsendelse_id)
        if letter_id is not None:
            changed += svarut_apply_status(letter_id=letter_id, status=status.status, at=status.changed_at, now=now)
    return {"asked": len(waiting), "changed": changed}


@transaction.atomic
def svarut_apply_status(*, letter_id: int, status: str, at: datetime, now: datetime | None = None) -> bool:
    """Record a status SvarUt reported (once) and let it drive the ladder (see the spec)."""
    now = now or timezone.now()
    LetterDeliveryEvent.objects.bulk_create([LetterDeliveryEvent(letter_id=letter_id, status=status, at=at, recorded_at=now)],
                                            ignore_conflicts=True)
    letter = Letter.objects.select_for_update().get(id=letter_id)
    if letter.delivery_status == status or (letter.delivery_status in FINAL) or (
        letter.delivery_status_at and at < letter.delivery_status_at
    ):
        return False
    Letter.objects.filter(id=letter_id).update(delivery_status=status, delivery_status_at=at)
    letter.delivery_status, letter.delivery_status_at = status, at
    when = min(at, now)
    if status in DELIVERED and letter.case_step_id:
        letter_steps_complete({letter.case_step_id}, None, when)
    elif status in NOT_DELIVERED:
        # As returned mail: the letter needs a hand, and the case goes to the address check.
        Letter.objects.filter(id=letter_id, returned_at__isnull=True).update(returned_at=when)
        if letter.case_id:
            case_start_address_check(case_id=letter.case_id, user=None, now=when)
    return True


# --------------------------------------------------------------------------- the clerk's actions


@transaction.atomic
def letter_channel_override(*, letter: Letter, channel: str, reason: str, user: User) -> Letter:
    """The clerk sends a letter another way than decided, before it is sent; the reason is kept."""
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationError(gettext("Skriv hvorfor brevet skal sendes på en annen måte."))
    if len(reason) > 300:
        raise ValidationError(gettext("Grunnen kan være høyst 300 tegn."))
    if channel not in LetterChannel.values:
        raise ValidationError(gettext("Ukjent kanal."))
    letter = Letter.objects.select_for_update().select_related("recipient").get(pk=letter.pk)
    if letter.send_state != SendState.NOT_SENT or letter.batch_id or letter.state not in (
        LetterState.PENDING, LetterState.PRODUCED, LetterState.FAILED
    ):
        raise ValidationError(gettext("Brevet er allerede sendt eller på vei, og kanalen kan ikke endres."))
    level = letters_current_protection([letter])[letter.pk]
    if channel == LetterChannel.SVARUT_PRINT and (letter.manual_handling or not address_printable(level)):
        raise ValidationError(gettext("Brev til beskyttet adresse eller uten adresse kan ikke skrives ut av SvarUt."))
    if channel == LetterChannel.DIGITAL and (not letter.recipient.national_id or letter.recipient.organisation):
        raise ValidationError(gettext("Mottakeren har ikke fødselsnummer, så brevet kan ikke sendes digitalt."))
    if channel == LetterChannel.DIGITAL and level == AddressProtection.STRICTLY_CONFIDENTIAL and not can_go_digitally(letter.recipient):
        raise ValidationError(gettext("Mottakeren har strengt fortrolig adresse og ingen digital postkasse: brevet må behandles manuelt."))
    values = {"channel": channel, "channel_reason": reason, "channel_set_by": user}
    if letter.state == LetterState.FAILED:
        values.update(state=LetterState.PENDING, attempts=0, error="", claimed_at=None)
    Letter.objects.filter(pk=letter.pk).update(**values)
    letter.refresh_from_db()
    if channel in SVARUT_CHANNELS:
        svarut_enqueue(station_id=letter.station_id)
    elif letter.manual_handling:
        letters_enqueue_manual(letter.station_id)
    return letter


@transaction.atomic
def letter_svarut_resolve(*, letter: Letter, user: User, forsendelse_id: str = "") -> Letter:
    """An uncertain letter, checked in SvarUt by the clerk: found there (its forsendelse id), or
    not found, and then sent (the only way a letter is ever sent a second time)."""
    letter = Letter.objects.select_for_update().get(pk=letter.pk)
    if letter.send_state != SendState.UNCERTAIN:
        raise ValidationError(gettext("Brevet er ikke på listen over usikre sendinger."))
    if forsendelse_id.strip():
        try:
            found = uuid.UUID(forsendelse_id.strip())
        except ValueError:
            raise ValidationError(gettext("Forsendelse-ID-en fra SvarUt er ikke gyldig.")) from None
        if Letter.objects.filter(forsendelse_id=found).exclude(pk=letter.pk).exists():
            raise ValidationError(gettext("Denne forsendelsen hører til et annet brev."))
        _record_accepted(letter.pk, found, timezone.now())
    else:
        Letter.objects.filter(pk=letter.pk, send_state=SendState.UNCERTAIN).update(
            send_state=SendState.NOT_SENT, send_claimed_at=None, error="",
            channel_reason=gettext("Sendt på nytt etter kontroll i SvarUt (%(user)s).") % {"user": user.get_username()},
        )
        svarut_enqueue(station_id=letter.station_id)
    letter.refresh_from_db()
    return letter


# --------------------------------------------------------------------------- what the clerk sees


def svarut_counts(*, station) -> dict[str, int]:
    """Digital / printed by SvarUt / waiting for local print / needs a hand (one query)."""
    sent = Q(send_state=SendState.ACCEPTED)
    needs_hand = (
        Q(send_state=SendState.UNCERTAIN)
        | Q(send_state=SendState.ACCEPTED, delivery_status__in=list(NOT_DELIVERED | {DeliveryStatus.MANUELT_HANDTERT}))
        | Q(state=LetterState.FAILED)
        | Q(channel=LetterChannel.LOCAL_PRINT, manual_handling=True, state__in=UNSENT_STATES)
    )
    return Letter.objects.filter(station=station).aggregate(
        digital=Count("id", filter=sent & Q(delivery_status__in=[DeliveryStatus.LEST, DeliveryStatus.LEVERT_SDP,
                                                                 DeliveryStatus.SENDT_SDP, DeliveryStatus.SENDT_DIGITALT,
                                                                 DeliveryStatus.VARSLET])),
        svarut_printed=Count("id", filter=sent & Q(delivery_status__in=[DeliveryStatus.SENDT_PRINT, DeliveryStatus.PRINTET])),
        svarut_waiting=Count("id", filter=Q(channel__in=SVARUT_CHANNELS) & (
            Q(send_state__in=[SendState.NOT_SENT, SendState.SENDING], state__in=[LetterState.PENDING, LetterState.RENDERING, LetterState.PRODUCED])
            | (sent & Q(delivery_status__in=[DeliveryStatus.MOTTATT, DeliveryStatus.AKSEPTERT, DeliveryStatus.KLAR_FOR_MOTTAK]))
        )),
        local_waiting=Count("id", filter=Q(channel=LetterChannel.LOCAL_PRINT, manual_handling=False,
                                           state__in=[LetterState.PENDING, LetterState.RENDERING, LetterState.PRODUCED])),
        needs_hand=Count("id", filter=needs_hand),
    )


def svarut_letters(*, station, limit: int = 50):
    """The latest letters through SvarUt, and every one that needs a hand, for the clerk's page."""
    base = Letter.objects.filter(station=station, channel__in=SVARUT_CHANNELS).select_related("child").order_by("-created_at", "-id")
    return {
        "uncertain": list(base.filter(send_state=SendState.UNCERTAIN)[:limit]),
        "not_delivered": list(base.filter(send_state=SendState.ACCEPTED, delivery_status__in=list(NOT_DELIVERED | {DeliveryStatus.MANUELT_HANDTERT}))[:limit]),
        "recent": list(base.exclude(send_state=SendState.UNCERTAIN)[:limit]),
    }


def svarut_digital_share_by_month(*, station_ids, since: datetime | None = None) -> list[dict]:
    """Per month: letters sent, letters delivered digitally (read or in the mailbox, not printed),
    and the share. For the statistics page (engineer "stats" calls this)."""
    rows = (
        Letter.objects.filter(station_id__in=list(station_ids), state=LetterState.SENT, sent_at__isnull=False)
        .filter(**({"sent_at__gte": since} if since else {}))
        .annotate(month=TruncMonth("sent_at")).values("month")
        .annotate(total=Count("id"), digital=Count("id", filter=Q(delivery_status__in=[DeliveryStatus.LEST, DeliveryStatus.LEVERT_SDP])))
        .order_by("month")
    )
    return [{"month": r["month"].date(), "total": r["total"], "digital": r["digital"],
             "share": round(100 * r["digital"] / r["total"], 1) if r["total"] else 0.0} for r in rows]
