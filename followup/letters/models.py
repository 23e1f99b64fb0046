"""Letters and print batches. Imported by followup/models.py, so app label "followup".

A Letter is one standard letter to one recipient. The database keeps each letter
single: one per case step and recipient, one invitation per appointment and
recipient, one GP confirmation per case and recipient. A batch is the clerk's
print run; workers claim its letters with conditional UPDATEs.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import ArrayField, RangeOperators
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import ExpressionWrapper, F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from followup.letters.svarut.choices import DeliveryStatus, LetterChannel, SendState
from followup.letters.translations import LetterKind

__all__ = ["LetterKind", "LetterState", "BatchState", "LetterBatch", "LetterBatchPart", "Letter", "LetterChannel",
           "SendState", "DeliveryStatus"]


# The kinds that tell a guardian about one appointment (the GP confirmation names none).
APPOINTMENT_LETTER_KINDS = ["invitation", "new_invitation", "duty_reminder"]


class LetterState(models.TextChoices):
    PENDING = "pending", _("Venter")
    RENDERING = "rendering", _("Lages")
    PRODUCED = "produced", _("Klar")
    SENT = "sent", _("Sendt")
    FAILED = "failed", _("Feilet")
    CANCELLED = "cancelled", _("Stoppet")


class BatchState(models.TextChoices):
    # Started by the clerk; a task makes the due letters and claims them (letter_batch_prepare).
    PREPARING = "preparing", _("Forberedes")
    RUNNING = "running", _("Lages")
    MERGING = "merging", _("Setter sammen utskriftsfil")
    READY = "ready", _("Klar til utskrift")
    SENT = "sent", _("Sendt")
    # Prepared, and nothing was due for ordinary post (letters for manual handling may have been made).
    EMPTY = "empty", _("Ingen brev til utskrift")


def _batch_upload_to(instance, filename):
    return f"letters/batches/{timezone.now():%Y/%m}/{filename}"


def _letter_upload_to(instance, filename):
    return f"letters/{timezone.now():%Y/%m}/{filename}"


class LetterBatch(models.Model):
    """The clerk's print run: one merged PDF of the letters that go by ordinary post."""

    station = models.ForeignKey("helsestasjon.Station", on_delete=models.PROTECT, related_name="+", verbose_name=_("helsestasjon"))
    state = models.CharField(_("status"), max_length=10, choices=BatchState.choices, default=BatchState.RUNNING)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("laget av"))
    created_at = models.DateTimeField(_("laget"), default=timezone.now)
    pdf = models.FileField(_("utskriftsfil"), upload_to=_batch_upload_to, blank=True)
    page_count = models.PositiveIntegerField(_("sider"), default=0)
    merge_claimed_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(_("klar"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sendt"), null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("sendt av")
    )

    class Meta:
        verbose_name = _("brevbunke")
        verbose_name_plural = _("brevbunker")
        ordering = ["-created_at", "-id"]
        indexes = [
            # The resume sweep: batches that are not finished.
            models.Index(fields=["state"], condition=Q(state__in=["running", "merging"]), name="letterbatch_unfinished"),
        ]

    def __str__(self) -> str:
        return f"Brevbunke {self.pk}"


class LetterBatchPart(models.Model):
    """The PDF one worker wrote for one chunk of a batch's letters (fonts embedded once).

    The print file is these parts joined, which is much cheaper than joining one
    PDF per letter. A letter belongs to at most one part; letters without a part
    (finished one by one after a failure) are joined from their own archived PDF.
    """

    batch = models.ForeignKey(LetterBatch, on_delete=models.CASCADE, related_name="parts")
    first_letter_id = models.BigIntegerField()
    letter_ids = models.JSONField(default=list)
    pdf = models.FileField(upload_to=_batch_upload_to)
    page_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("del av brevbunke")
        verbose_name_plural = _("deler av brevbunker")
        ordering = ["batch", "first_letter_id"]


class Letter(models.Model):
    kind = models.CharField(_("brev"), max_length=20, choices=LetterKind.choices)
    child = models.ForeignKey("helsestasjon.Child", on_delete=models.CASCADE, related_name="letters", verbose_name=_("barn"))
    station = models.ForeignKey("helsestasjon.Station", on_delete=models.PROTECT, related_name="+", verbose_name=_("helsestasjon"))
    case = models.ForeignKey("followup.Case", null=True, blank=True, on_delete=models.CASCADE, related_name="letters", verbose_name=_("sak"))
    case_step = models.ForeignKey(
        "followup.CaseStep", null=True, blank=True, on_delete=models.CASCADE, related_name="letters", verbose_name=_("trinn")
    )
    appointment = models.ForeignKey(
        "attendance.Appointment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("time")
    )
    recipient = models.ForeignKey("helsestasjon.Guardian", on_delete=models.PROTECT, related_name="letters", verbose_name=_("mottaker"))
    recipient_name = models.CharField(_("mottakers navn"), max_length=250)
    # Every guardian the letter is addressed to (guardians sharing an address share a letter): whose
    # protection is asked again when the letter is used, and whose protection change reaches it.
    addressee_ids = ArrayField(models.BigIntegerField(), verbose_name=_("adressater"), default=list, blank=True)
    # The address printed in the window; empty when the address is protected.
    address_lines = models.JSONField(_("adresse"), default=list, blank=True)
    # A protected address: the letter is kept out of the print batch.
    manual_handling = models.BooleanField(_("manuell behandling"), default=False)
    base_language = models.CharField(_("målform"), max_length=2, default="nb")
    translation_language = models.CharField(_("oversatt til"), max_length=5, blank=True)
    translation_reviewed = models.BooleanField(_("oversettelsen er kvalitetssikret"), default=False)
    # Facts fixed when the letter was made (e.g. the date the child did not come);
    # never a reason or any other health information.
    details = models.JSONField(_("detaljer"), default=dict, blank=True)
    state = models.CharField(_("status"), max_length=10, choices=LetterState.choices, default=LetterState.PENDING)
    batch = models.ForeignKey(LetterBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="letters", verbose_name=_("bunke"))
    attempts = models.PositiveSmallIntegerField(_("forsøk"), default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(_("feil"), max_length=300, blank=True)
    pdf = models.FileField(_("PDF"), upload_to=_letter_upload_to, blank=True)
    page_count = models.PositiveSmallIntegerField(_("sider"), default=0)
    created_at = models.DateTimeField(_("opprettet"), default=timezone.now)
    produced_at = models.DateTimeField(_("laget"), null=True, blank=True)
    produced_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("laget av")
    )
    sent_at = models.DateTimeField(_("sendt"), null=True, blank=True)
    sent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("sendt av")
    )
    returned_at = models.DateTimeField(_("kom i retur"), null=True, blank=True)
    returned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("registrert av")
    )
    # SvarUt (followup/letters/svarut/): the channel decided when the letter was made, or the
    # clerk's override with its reason; the one send (claimed, then the forsendelse id as soon as
    # it comes); the latest delivery status with its time (every change: LetterDeliveryEvent).
    channel = models.CharField(_("kanal"), max_length=12, choices=LetterChannel.choices, default=LetterChannel.LOCAL_PRINT)
    channel_reason = models.CharField(_("grunn for kanal"), max_length=300, blank=True)
    channel_set_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("kanal endret av")
    )
    send_state = models.CharField(_("sending"), max_length=10, choices=SendState.choices, default=SendState.NOT_SENT, blank=True)
    send_claimed_at = models.DateTimeField(null=True, blank=True)
    forsendelse_id = models.UUIDField(_("forsendelse-ID"), null=True, blank=True, unique=True)
    delivery_status = models.CharField(_("leveringsstatus"), max_length=20, choices=DeliveryStatus.choices, blank=True)
    delivery_status_at = models.DateTimeField(_("leveringsstatus endret"), null=True, blank=True)

    class Meta:
        verbose_name = _("brev")
        verbose_name_plural = _("brev")
        ordering = ["created_at", "id"]
        constraints = [
            # Exactly once: a letter for a case step and recipient exists only once.
            models.UniqueConstraint(
                fields=["case_step", "recipient"], condition=Q(case_step__isnull=False), name="letter_once_per_step_recipient"
            ),
            models.UniqueConstraint(
                fields=["appointment", "recipient"], condition=Q(kind="invitation"), name="letter_one_invitation_per_appointment"
            ),
            models.UniqueConstraint(
                fields=["case", "recipient"], condition=Q(kind="gp_confirmation"), name="letter_one_gp_confirmation_per_case"
            ),
            models.CheckConstraint(condition=~Q(kind="invitation") | Q(case_step__isnull=True), name="letter_invitation_has_no_step"),
            # One letter about an appointment per guardian: a ladder letter that names the time and an
            # invitation to the same time are never both made (two ladder letters of different steps may
            # name it). Letters stopped before they went out do not count.
            ExclusionConstraint(
                name="letter_invitation_or_ladder_letter_per_appointment",
                expressions=[
                    (F("appointment"), RangeOperators.EQUAL),
                    (F("recipient"), RangeOperators.EQUAL),
                    (ExpressionWrapper(Q(kind="invitation"), output_field=models.BooleanField()), RangeOperators.NOT_EQUAL),
                ],
                condition=Q(appointment__isnull=False, kind__in=APPOINTMENT_LETTER_KINDS) & ~Q(state="cancelled"),
                violation_error_message=_("Foresatte har allerede et brev om denne timen."),
            ),
            # The address of a protected recipient is never stored for printing.
            models.CheckConstraint(condition=Q(manual_handling=False) | Q(address_lines=[]), name="letter_manual_has_no_address"),
            # One forsendelse per letter, ever: only a letter through SvarUt has one, and an accepted one has it.
            models.CheckConstraint(
                condition=Q(forsendelse_id__isnull=True) | ~Q(channel="local_print"), name="letter_forsendelse_only_svarut"
            ),
            models.CheckConstraint(
                condition=~Q(send_state="accepted") | Q(forsendelse_id__isnull=False), name="letter_accepted_has_forsendelse"
            ),
        ]
        indexes = [
            # The clerk's page: a station's letters by state.
            models.Index(fields=["station", "state"], name="letter_station_state"),
            # Workers claim a batch's pending letters.
            models.Index(fields=["batch", "state"], name="letter_batch_state"),
            # The resume sweep: claims that went stale.
            models.Index(fields=["claimed_at"], condition=Q(state="rendering"), name="letter_rendering_claims"),
            # letters_follow_protection: a guardian's letters by any addressee (addressee_ids__overlap).
            GinIndex(fields=["addressee_ids"], name="letter_addressees"),
            # svarut_poll: accepted letters whose status is not final yet.
            models.Index(fields=["delivery_status"], condition=Q(send_state="accepted"), name="letter_svarut_polled"),
            # svarut_resume: sends whose answer never came (a claim gone stale).
            models.Index(fields=["send_claimed_at"], condition=Q(send_state="sending"), name="letter_svarut_sending"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} til {self.recipient_name}"

    @property
    def is_archived(self) -> bool:
        return bool(self.pdf)

    def download_name(self) -> str:
        """A safe file name: ASCII, no path separators, no names of people."""
        return f"brev-{self.pk}-{self.kind.replace('_', '-')}.pdf"
