"""The statistics' own history: every closing of a case, and the KOSTRA figures as reported.

Kept beside the statistics (app label ``followup``) and imported by followup/models.py,
as the letters' and SMS models are.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from followup.statistics.outcome_bits import bits_expression
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


# --- the summary the page counts (kept by database triggers: migration 0014_statistics_summary) ---------
#
# The page's figures read these three tables instead of joining the year's appointments to
# their children, events and professionals on every request. Nothing in Python writes them:
# statement-level triggers on the appointment, outcome event, consultation, child and user
# tables refresh the rows a write touched, in the same transaction, whichever code path wrote
# (services, bulk_create, COPY, raw SQL). No foreign-key constraints, so the triggers alone
# decide their lifetime; the statistics tests recount every figure from the raw tables.


class StatisticsAppointment(models.Model):
    """One appointment with what the appointment figures and SSB's numerators need."""

    appointment = models.OneToOneField(
        "attendance.Appointment", primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    consultation = models.ForeignKey(
        "attendance.Consultation", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    child = models.ForeignKey(Child, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    # The station the child belongs to now (the figures count each child where it belongs).
    station = models.ForeignKey(Station, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+")
    step = models.ForeignKey("attendance.ProgrammeStep", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+")
    starts_at = models.DateTimeField()
    month = models.DateField()  # the local calendar month of starts_at
    status = models.CharField(max_length=24)
    # The reason of the outcome that counts now (no correction replaced it); "" when none was given.
    reason = models.CharField(max_length=24, blank=True)
    by_register = models.BooleanField()  # cancelled by the station because the register reported a move or death
    age_days = models.IntegerField()  # days from birth to the local day of the appointment
    home_by_nurse = models.BooleanField()  # at home, by a nurse (helsesykepleier)
    # The figure bits of the row (outcome_bits: one per appointment figure; 0 without an outcome),
    # computed by the database from status and by_register.
    bits = models.GeneratedField(expression=bits_expression(), output_field=models.SmallIntegerField(), db_persist=True)
    # The bits this row is the first of its child's recorded rows to carry (by time, then id): in
    # its calendar year, in its consultation and calendar year, and in its calendar month. Summing
    # them counts children per figure for a calendar year without grouping by child
    # (appointments.py, "whole year"); the triggers keep them (followup_statistics_first_bits).
    year_first_bits = models.SmallIntegerField(db_default=0)
    step_first_bits = models.SmallIntegerField(db_default=0)
    month_first_bits = models.SmallIntegerField(db_default=0)

    class Meta:
        indexes = [
            # The page's one pass: a period's appointments with an outcome (followup/statistics/appointments.py).
            models.Index(
                fields=["starts_at"], name="statappointment_recorded",
                condition=models.Q(status__in=["attended", "not_brought", "no_access", "cancelled_by_guardian", "cancelled_by_service"]),
            ),
        ]


class StatisticsConsultation(models.Model):
    """One consultation with what the cohort coverage needs; its category follows from these and today."""

    consultation = models.OneToOneField(
        "attendance.Consultation", primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    child = models.ForeignKey(Child, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    station = models.ForeignKey(Station, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+")
    step = models.ForeignKey("attendance.ProgrammeStep", on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+")
    window_closes = models.DateField()
    state = models.CharField(max_length=16)
    # Seen before the window closed: by the local day of an attended appointment, or failing that
    # the local day the consultation was marked completed.
    in_time = models.BooleanField()
    # The local day the child moved, emigrated or died (its status date); NULL while it lives here.
    left_on = models.DateField(null=True)

    class Meta:
        indexes = [
            # The coverage count: consultations whose window closes in the period (coverage.py).
            models.Index(fields=["window_closes"], name="statconsultation_closes"),
        ]


class StatisticsChild(models.Model):
    """A child as SSB's "births in the year" counts it (kostra.births).

    ``birth_station`` is set when the journal is opened, and moves with the child while it is a
    newborn (its first 14 days: a journal opened at the wrong station and corrected); a later
    move keeps it. ``arrived_after_birth``: the programme's first consultation (the home visit)
    is "not applicable, arrived after the window", so the child moved here after it was born.
    """

    child = models.OneToOneField(Child, primary_key=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+")
    birth_station = models.ForeignKey(Station, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+")
    birth_date = models.DateField()
    arrived_after_birth = models.BooleanField(default=False)
