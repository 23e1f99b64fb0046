"""Which channel a letter takes, decided when it is made (../shared/spec/digital-post.md).

- ``digital`` through SvarUt when the recipient (the guardian the letter row names, whose national
  id SvarUt delivers to) has an active digital mailbox in the contact register and no reservation;
- otherwise the station's paper channel: SvarUt's print service or the local print batch;
- a letter whose address may not be printed (a Confidential or StrictlyConfidential address, or no
  address) never goes to SvarUt's print: it is digital (without an address) when it can be, and
  otherwise local manual handling, as today.
"""

from __future__ import annotations

from django.utils.translation import gettext

from followup.letters.svarut.choices import LetterChannel


def can_go_digitally(guardian) -> bool:
    return bool(guardian.digital_mailbox) and not guardian.krr_reserved and bool(guardian.national_id) and not guardian.organisation


def letter_channel(*, guardian, station, manual_handling: bool) -> dict:
    """The channel fields of a new letter to ``guardian`` (a row of helsestasjon.Guardian)."""
    if can_go_digitally(guardian):
        return {"channel": LetterChannel.DIGITAL, "channel_reason": gettext("Aktiv digital postkasse.")}
    if guardian.krr_reserved:
        why = gettext("Reservert mot digital post.")
    elif not guardian.national_id or guardian.organisation:
        why = gettext("Uten fødselsnummer kan brevet ikke sendes digitalt.")
    else:
        why = gettext("Ingen aktiv digital postkasse.")
    if manual_handling:
        return {"channel": LetterChannel.LOCAL_PRINT, "channel_reason": f"{why} {gettext('Manuell behandling.')}"}
    return {"channel": station.paper_channel or LetterChannel.LOCAL_PRINT, "channel_reason": why}
