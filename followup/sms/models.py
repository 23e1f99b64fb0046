"""SMS reminders and delivery reports. Imported by followup/models.py (app label "followup")."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = ["AppointmentCancellationNotice", "AppointmentReminder", "SmsDeliveryReport"]


class AppointmentReminder(models.Model):
    """The reminder SMS before one appointment to one guardian, sent at most once."""

    appointment = models.ForeignKey("attendance.Appointment", on_delete=models.CASCADE, related_name="+", verbose_name=_("time"))
    guardian = models.ForeignKey("helsestasjon.Guardian", on_delete=models.CASCADE, related_name="+", verbose_name=_("foresatt"))
    sms = models.OneToOneField("followup.SmsMessage", on_delete=models.CASCADE, related_name="reminder", verbose_name=_("SMS"))
    created_at = models.DateTimeField(_("opprettet"), default=timezone.now)

    class Meta:
        verbose_name = _("SMS-påminnelse")
        verbose_name_plural = _("SMS-påminnelser")
        constraints = [models.UniqueConstraint(fields=["appointment", "guardian"], name="reminder_once_per_appointment_guardian")]


class AppointmentCancellationNotice(models.Model):
    """The SMS telling one guardian that the station cancelled one booked time because
    the child now belongs to another station, sent at most once."""

    appointment = models.ForeignKey("attendance.Appointment", on_delete=models.CASCADE, related_name="+", verbose_name=_("time"))
    guardian = models.ForeignKey("helsestasjon.Guardian", on_delete=models.CASCADE, related_name="+", verbose_name=_("foresatt"))
    sms = models.OneToOneField("followup.SmsMessage", on_delete=models.CASCADE, related_name="cancellation_notice", verbose_name=_("SMS"))
    created_at = models.DateTimeField(_("opprettet"), default=timezone.now)

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
