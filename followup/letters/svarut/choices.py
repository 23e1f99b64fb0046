"""The choices a letter's SvarUt fields take (imported by followup/letters/models.py)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class LetterChannel(models.TextChoices):
    DIGITAL = "digital", _("Digitalt")
    SVARUT_PRINT = "svarut_print", _("Utskrift i SvarUt")
    LOCAL_PRINT = "local_print", _("Lokal utskrift")


# The channels that go through SvarUt.
SVARUT_CHANNELS = (LetterChannel.DIGITAL, LetterChannel.SVARUT_PRINT)


class SendState(models.TextChoices):
    """Where a SvarUt letter's one send stands (exactly once: see followup/letters/svarut/services.py)."""

    NOT_SENT = "", _("Ikke sendt")
    SENDING = "sending", _("Sendes")
    ACCEPTED = "accepted", _("Mottatt av SvarUt")
    UNCERTAIN = "uncertain", _("Usikkert – sjekk i SvarUt")


class DeliveryStatus(models.TextChoices):
    """SvarUt's statuses of a forsendelse (KS, forsendelse-status-api-v3, ForsendelseStatus.status)."""

    MOTTATT = "MOTTATT", _("Mottatt")
    AKSEPTERT = "AKSEPTERT", _("Akseptert")
    AVVIST = "AVVIST", _("Avvist")
    VARSLET = "VARSLET", _("Varslet")
    LEST = "LEST", _("Lest")
    SENDT_PRINT = "SENDT_PRINT", _("Sendt til utskrift")
    PRINTET = "PRINTET", _("Skrevet ut og sendt i posten")
    MANUELT_HANDTERT = "MANUELT_HANDTERT", _("Manuelt håndtert")
    SENDT_DIGITALT = "SENDT_DIGITALT", _("Sendt digitalt")
    SENDT_SDP = "SENDT_SDP", _("Sendt til digital postkasse")
    LEVERT_SDP = "LEVERT_SDP", _("Levert i digital postkasse")
    KLAR_FOR_MOTTAK = "KLAR_FOR_MOTTAK", _("Klar for mottak")
    IKKE_LEVERT = "IKKE_LEVERT", _("Ikke levert")
    SLETTET = "SLETTET", _("Slettet")
    SENDT_NHN = "SENDT_NHN", _("Sendt via Norsk helsenett")


# The spec's rules: these count as delivered (the letter step is done and its deadline starts)...
DELIVERED = frozenset({DeliveryStatus.LEST, DeliveryStatus.LEVERT_SDP, DeliveryStatus.PRINTET})
# ...these send the letter to manual handling and the case to the address check...
NOT_DELIVERED = frozenset({DeliveryStatus.AVVIST, DeliveryStatus.IKKE_LEVERT})
# ...and after these nothing changes any more, so the poll stops asking.
FINAL = frozenset({DeliveryStatus.LEST, DeliveryStatus.PRINTET, DeliveryStatus.AVVIST, DeliveryStatus.IKKE_LEVERT,
                   DeliveryStatus.MANUELT_HANDTERT, DeliveryStatus.SLETTET})
