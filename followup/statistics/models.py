"""The statistics' own history: every closing of a case, and the KOSTRA figures as reported.

Kept beside the statistics (app label ``followup``) and imported by followup/models.py,
as the letters' and SMS models are.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from helsestasjon.models import Child, Station


class CaseClosure(models.Model):
    """One closing of one round of a case. A reopen starts a new round and never touches this
    row, so "closed in the period" and the time from opening to closing are read from here."""

    case = models.ForeignKey("followup.Case", on_delete=models.CASCADE, related_name="closures", verbose_name=_("sak"))
    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="+", verbose_name=_("barn"))
    cycle = models.PositiveSmallIntegerField(_("runde"))
    # When this round of the case opened: the case's opening, or the reopen that began the round.
    opened_at = models.DateTimeField(_("åpnet"))
    closed_at = models.DateTimeField(_("avsluttet"))
    reason = models.CharField(_("årsak til avslutning"), max_length=20, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("avsluttet av")
    )

    class Meta:
        verbose_name = _("avslutning av sak")
        verbose_name_plural = _("avslutninger av saker")
        ordering = ["closed_at", "id"]
        indexes = [models.Index(fields=["closed_at"], name="caseclosure_closed_at")]
        constraints = [models.UniqueConstraint(fields=["case", "cycle"], name="caseclosure_one_per_round")]


class KostraReport(models.Model):
    """A station's KOSTRA figures for one year as they were sent to SSB ("Marker som rapportert").

    ``figures`` maps each measure's key to ``{"numerator": n, "denominator": d}``; the page
    shows these from then on, and today's count beside them where it has drifted.
    """

    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="+", verbose_name=_("helsestasjon"))
    year = models.PositiveSmallIntegerField(_("år"))
    definitions = models.CharField(_("definisjoner"), max_length=120)
    figures = models.JSONField(_("tall"))
    reported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("rapportert av"))
    reported_at = models.DateTimeField(_("rapportert"), default=timezone.now)

    class Meta:
        verbose_name = _("rapporterte KOSTRA-tall")
        verbose_name_plural = _("rapporterte KOSTRA-tall")
        ordering = ["year", "station_id"]
        constraints = [models.UniqueConstraint(fields=["station", "year"], name="kostrareport_once_per_station_year")]
