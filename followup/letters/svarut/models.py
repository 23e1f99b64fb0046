"""Every delivery status SvarUt reported for a letter, with its time (imported by followup/models.py)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from followup.letters.svarut.choices import DeliveryStatus

__all__ = ["LetterDeliveryEvent"]


class LetterDeliveryEvent(models.Model):
    letter = models.ForeignKey("followup.Letter", on_delete=models.CASCADE, related_name="delivery_events", verbose_name=_("brev"))
    status = models.CharField(_("status"), max_length=20, choices=DeliveryStatus.choices)
    # SvarUt's sisteStatusEndring: when the status changed there.
    at = models.DateTimeField(_("tidspunkt"))
    recorded_at = models.DateTimeField(_("registrert"), default=timezone.now)

    class Meta:
        verbose_name = _("leveringsstatus")
        verbose_name_plural = _("leveringsstatuser")
        ordering = ["letter", "at", "id"]
        constraints = [
            # A poll that runs twice records each change once.
            models.UniqueConstraint(fields=["letter", "status", "at"], name="letter_delivery_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.get_status_display()} {self.at:%d.%m.%Y %H:%M}"
