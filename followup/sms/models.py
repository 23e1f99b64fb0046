"""SMS reminders and delivery reports, and the manual decision for a guardian who gets no
automatic messages about a protected child (followup/recipients.py). Imported by
followup/models.py (app label "followup")."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = ["AppointmentCancellationNotice", "AppointmentReminder", "ContactDecision", "ManualContactDecision", "SmsDeliveryReport"]


class _AppointmentNotice(models.Model):
    """One SMS about one appointment to one guardian; each kind has its unique constraint over the two,
    so it is sent at most once (followup/sms/services.py: _queue_once)."""

    appointment = models.ForeignKey("attendance.Appointment", on_delete=models.CASCADE, related_name="+", verbose_name=_("time"))
    guardian = models.ForeignKey("helsestasjon.Guardian", on_delete=models.CASCADE, related_name="+", verbose_name=_("foresatt"))
    created_at = models.DateTimeField(_("opprettet"), default=timezone.now)

    class Meta:
        abstract = True


class AppointmentReminder(_AppointmentNotice):
    """The reminder SMS before one appointment to one guardian, sent at most once."""

    sms = models.OneToOneField("followup.SmsMessage", on_delete=models.CASCADE, related_name="reminder", verbose_name=_("SMS"))

    class Meta:
        verbose_name = _("SMS-påminnelse")
        verbose_name_plural = _("SMS-påminnelser")
        constraints = [models.UniqueConstraint(fields=["appointment", "guardian"], name="reminder_once_per_appointment_guardian")]


class AppointmentCancellationNotice(_AppointmentNotice):
    """The SMS telling one guardian that the station cancelled one booked time because
    the child now belongs to another station, sent at most once."""

    sms = models.OneToOneField("followup.SmsMessage", on_delete=models.CASCADE, related_name="cancellation_notice", verbose_name=_("SMS"))

    class Meta:
        verbose_name = _("SMS om avlyst time")
        verbose_name_plural = _("SMS om avlyste timer")
        constraints = [
            models.UniqueConstraint(fields=["appointment", "guardian"], name="cancellation_notice_once_per_appointment_guardian")
        ]


class SmsDeliveryReport(models.Model):
    """A delivery report from the gateway, stored once by its report id (the webhook is idempotent)."""

    report_id = models.CharField(_("rapport-ID"), max_length=100, unique=True)
    gateway_id = models.CharField(_("gateway-ID"), max_length=100, db_index=True)
    status = models.CharField(_("status"), max_length=20)
    error = models.CharField(_("feil"), max_length=300, blank=True)
    received_at = models.DateTimeField(_("mottatt"), default=timezone.now)

    class Meta:
        verbose_name = _("leveringsrapport")
        verbose_name_plural = _("leveringsrapporter")
        ordering = ["received_at", "id"]


class ContactDecision(models.TextChoices):
    NOTHING = "nothing", _("Får ingen informasjon om timer og sted")
    TOLD_BY_STATION = "told_by_station", _("Helsestasjonen informerer selv, det som trygt kan sies")


class ManualContactDecision(models.Model):
    """What one guardian who gets no automatic messages about a protected child is told, and why.

    The child's address is protected and the guardian is not registered with the same
    protection, so reminders, invitations and cancellations are withheld from them
    (followup/recipients.py). Until a nurse or leader records a decision under the child's
    current protection level, the child's page and the case say that one is needed. Rows are
    never changed: a new decision is a new row, and the latest one holds."""

    child = models.ForeignKey(
        "helsestasjon.Child", on_delete=models.CASCADE, related_name="manual_contact_decisions", verbose_name=_("barn")
    )
    guardian = models.ForeignKey("helsestasjon.Guardian", on_delete=models.CASCADE, related_name="+", verbose_name=_("foresatt"))
    # The child's level the decision was made under: a change of level asks for a new decision.
    child_protection = models.CharField(_("barnets adressebeskyttelse"), max_length=24)
    decision = models.CharField(_("avgjørelse"), max_length=20, choices=ContactDecision.choices)
    reason = models.TextField(_("begrunnelse"))
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("avgjort av"))
    decided_at = models.DateTimeField(_("avgjort"), default=timezone.now)

    class Meta:
        verbose_name = _("manuell avgjørelse om varsling")
        verbose_name_plural = _("manuelle avgjørelser om varsling")
        ordering = ["decided_at", "id"]
        constraints = [models.CheckConstraint(condition=~models.Q(reason=""), name="manual_contact_decision_has_reason")]
