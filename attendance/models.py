"""The programme, each child's plan, appointments and their outcomes, and the working hours and
exceptions that make the free slots (facts only).

One module past 500 lines on purpose: the booking's exclusion constraints tie appointments, working
hours and absences to the same time ranges, and Django finds an app's models in one module; the rules
that use them are in the modules named for them (booking, outcomes, slots, working_hours)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeOperators
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from helsestasjon.dates import add_period
from helsestasjon.models import Child, Station


class PeriodUnit(models.TextChoices):
    DAY = "day", _("dager")
    WEEK = "week", _("uker")
    MONTH = "month", _("måneder")
    YEAR = "year", _("år")


class ProgrammeStep(models.Model):
    """One of the 14 consultations of the national programme (data, editable in the admin)."""

    code = models.CharField(_("kode"), max_length=8, unique=True)
    name = models.CharField(_("navn"), max_length=60)
    order = models.PositiveSmallIntegerField(_("rekkefølge"), unique=True)
    target_age = models.CharField(_("målalder"), max_length=40)
    opens_after = models.PositiveSmallIntegerField(_("vinduet åpner etter"))
    opens_unit = models.CharField(_("enhet"), max_length=5, choices=PeriodUnit.choices)
    closes_after = models.PositiveSmallIntegerField(_("vinduet lukkes etter"))
    closes_unit = models.CharField(_("enhet"), max_length=5, choices=PeriodUnit.choices)
    professionals = models.CharField(_("fagpersoner"), max_length=80)
    is_home_visit = models.BooleanField(_("hjemmebesøk"), default=False)
    default_duration_minutes = models.PositiveSmallIntegerField(_("varighet (min)"), default=30)
    notes = models.CharField(_("merknad"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("konsultasjon i programmet")
        verbose_name_plural = _("programmet (14 konsultasjoner)")
        ordering = ["order"]

    def __str__(self) -> str:
        return self.name

    def window_for(self, birth_date: date) -> tuple[date, date]:
        """Inclusive opening day and exclusive closing day for a child born on ``birth_date``."""
        return (
            add_period(birth_date, self.opens_after, self.opens_unit),
            add_period(birth_date, self.closes_after, self.closes_unit),
        )


class ConsultationState(models.TextChoices):
    PLANNED = "planned", _("Planlagt")
    DUE = "due", _("Aktuell")
    BOOKED = "booked", _("Timebestilt")
    COMPLETED = "completed", _("Gjennomført")
    EXPIRED = "expired", _("Utløpt")
    NOT_APPLICABLE = "not_applicable", _("Ikke aktuell (kom etter vinduet)")


OPEN_STATES = (ConsultationState.PLANNED, ConsultationState.DUE, ConsultationState.BOOKED)


class ConsultationQuerySet(models.QuerySet):
    def needing_booking(self, station_ids):
        """Due consultations without a booked appointment, oldest window first."""
        return (
            self.filter(state=ConsultationState.DUE, child__station_id__in=station_ids, child__status="active")
            .select_related("child", "step", "child__station")
            .order_by("window_opens", "id")
        )


class Consultation(models.Model):
    """One programme step for one child: the plan item."""

    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="consultations", verbose_name=_("barn"))
    step = models.ForeignKey(ProgrammeStep, on_delete=models.PROTECT, related_name="+", verbose_name=_("konsultasjon"))
    state = models.CharField(_("status"), max_length=16, choices=ConsultationState.choices, default=ConsultationState.PLANNED)
    window_opens = models.DateField(_("vindu åpner"))
    window_closes = models.DateField(_("vindu lukkes"))
    planned_at = models.DateTimeField(_("planlagt"), default=timezone.now)
    due_at = models.DateTimeField(_("aktuell fra"), null=True, blank=True)
    booked_at = models.DateTimeField(_("timebestilt"), null=True, blank=True)
    completed_at = models.DateTimeField(_("gjennomført"), null=True, blank=True)
    expired_at = models.DateTimeField(_("utløpt"), null=True, blank=True)
    not_applicable_at = models.DateTimeField(_("ikke aktuell fra"), null=True, blank=True)
    state_changed_at = models.DateTimeField(_("status endret"), default=timezone.now)

    objects = ConsultationQuerySet.as_manager()

    class Meta:
        verbose_name = _("konsultasjon")
        verbose_name_plural = _("konsultasjoner")
        ordering = ["child", "step__order"]
        constraints = [
            models.UniqueConstraint(fields=["child", "step"], name="consultation_unique_child_step"),
            models.CheckConstraint(condition=Q(window_opens__lt=models.F("window_closes")), name="consultation_window_order"),
        ]
        indexes = [
            # The daily state task: planned/due consultations whose window opened or closed.
            models.Index(fields=["state", "window_opens"], name="consultation_state_opens"),
            models.Index(fields=["state", "window_closes"], name="consultation_state_closes"),
        ]

    def __str__(self) -> str:
        return f"{self.step} – {self.child_id}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class Place(models.TextChoices):
    STATION = "station", _("Helsestasjonen")
    HOME = "home", _("Hjemmebesøk")


class Outcome(models.TextChoices):
    ATTENDED = "attended", _("Møtt")
    NOT_BROUGHT = "not_brought", _("Ikke møtt (uteblitt)")
    CANCELLED_BY_GUARDIAN = "cancelled_by_guardian", _("Avbestilt av foresatte")
    CANCELLED_BY_SERVICE = "cancelled_by_service", _("Avlyst av helsestasjonen")
    NO_ACCESS = "no_access", _("Ingen hjemme (hjemmebesøk)")
    RESCHEDULED = "rescheduled", _("Flyttet")


# Outcomes that count against the family when a nurse looks at a child's history.
MISSED_OUTCOMES = (Outcome.NOT_BROUGHT, Outcome.NO_ACCESS, Outcome.CANCELLED_BY_GUARDIAN)
MISSED_STATUSES = tuple(o.value for o in MISSED_OUTCOMES)
# "Missed in the last 12 months", the count a nurse and the follow-up lists show beside a child.
MISSED_WINDOW = timedelta(days=365)


class Reason(models.TextChoices):
    FORGOT = "forgot", _("Glemt timen")
    ILLNESS = "illness", _("Sykdom")
    LANGUAGE = "language", _("Forsto ikke innkallingen / språk, lese- og skrivevansker")
    MOVED_DOMESTIC = "moved_domestic", _("Flyttet innenlands")
    ABROAD = "abroad", _("Oppholder seg i utlandet")
    EMIGRATED_UNREPORTED = "emigrated_unreported", _("Flyttet ut av landet uten å melde flytting")
    LOGISTICS = "logistics", _("Transport / tid")
    SPECIALIST_CARE = "specialist_care", _("Følges opp av spesialisthelsetjenesten")
    GP_FOLLOWUP = "gp_followup", _("Ønsker oppfølging hos fastlege")
    UNKNOWN = "unknown", _("Ukjent")
    # Set by the system, never chosen by a person: the register reported the event that cancelled the time.
    REGISTER_MOVED = "register_moved", _("Avlyst: flyttet")
    REGISTER_DECEASED = "register_deceased", _("Avlyst: død")


REASON_OUTCOMES = (Outcome.NOT_BROUGHT, Outcome.CANCELLED_BY_GUARDIAN, Outcome.NO_ACCESS)
# The reasons of a time the station cancelled because the register reported a move, an emigration or a death.
REGISTER_REASONS = (Reason.REGISTER_MOVED, Reason.REGISTER_DECEASED)
# The reasons a person may choose.
CHOSEN_REASONS = [(value, label) for value, label in Reason.choices if value not in REGISTER_REASONS]


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked", _("Bestilt")
    ATTENDED = Outcome.ATTENDED.value, Outcome.ATTENDED.label
    NOT_BROUGHT = Outcome.NOT_BROUGHT.value, Outcome.NOT_BROUGHT.label
    CANCELLED_BY_GUARDIAN = Outcome.CANCELLED_BY_GUARDIAN.value, Outcome.CANCELLED_BY_GUARDIAN.label
    CANCELLED_BY_SERVICE = Outcome.CANCELLED_BY_SERVICE.value, Outcome.CANCELLED_BY_SERVICE.label
    NO_ACCESS = Outcome.NO_ACCESS.value, Outcome.NO_ACCESS.label
    RESCHEDULED = Outcome.RESCHEDULED.value, Outcome.RESCHEDULED.label


def local_day_bounds(day: date):
    """The aware start and end of a calendar day in the current (Oslo) time zone.

    Both ends are computed from local midnight, so a daylight-saving day is 23 or
    25 hours long, as the nurse's calendar is.
    """
    start = timezone.make_aware(datetime.combine(day, time.min))
    end = timezone.make_aware(datetime.combine(day + timedelta(days=1), time.min))
    return start, end


def appointment_span() -> models.Func:
    """The half-open time range [starts_at, starts_at + duration) an appointment occupies.

    An index may only hold immutable expressions, and ``timestamptz + interval`` is merely
    stable in PostgreSQL (adding a day depends on the time zone). Minutes are the same in
    every zone, so they are added to the UTC wall time and the sum read back as UTC.
    """
    utc_start = models.Func(models.F("starts_at"), template="timezone('UTC', %(expressions)s)", output_field=models.DateTimeField())
    minutes = models.Func(
        models.F("duration_minutes"), template="make_interval(mins => %(expressions)s)", output_field=models.DurationField()
    )
    ends_at = models.Func(
        models.ExpressionWrapper(utc_start + minutes, output_field=models.DateTimeField()),
        template="timezone('UTC', %(expressions)s)",
        output_field=models.DateTimeField(),
    )
    # tstzrange's default bounds are '[)': an appointment ending at 09:30 and one starting then do not overlap.
    return models.Func(models.F("starts_at"), ends_at, function="tstzrange", output_field=DateTimeRangeField())


APPOINTMENT_NO_OVERLAP = "appointment_professional_no_overlap"


class AppointmentQuerySet(models.QuerySet):
    def for_professional_day(self, professional_id: int, day: date):
        start, end = local_day_bounds(day)
        # A home visit for two is on both professionals' day.
        return self.filter(Q(professional_id=professional_id) | Q(second_professional_id=professional_id), starts_at__gte=start, starts_at__lt=end)

    def booked_ahead(self, *, now=None):
        """Booked appointments still to come (the one home of "the next booked appointment")."""
        return self.filter(status=AppointmentStatus.BOOKED, starts_at__gt=now or timezone.now())

    def next_booked_appointment(self, *, now=None) -> "Appointment | None":
        """The earliest booked appointment still to come among these (filter by child first)."""
        return self.booked_ahead(now=now).order_by("starts_at", "id").first()

    def next_booked_by_child(self, *, now=None) -> dict[int, "Appointment"]:
        """Each child's ``next_booked_appointment``, by child id: one query for any number of children."""
        nearest: dict[int, Appointment] = {}
        for appointment in self.booked_ahead(now=now).order_by("-starts_at", "-id"):
            nearest[appointment.child_id] = appointment  # Latest first, so the earliest wins.
        return nearest

    def missed_in_last_12_months(self, *, now=None):
        """Missed or guardian-cancelled appointments in the 12 months before ``now`` (MISSED_OUTCOMES)."""
        return self.filter(status__in=MISSED_STATUSES, starts_at__gte=(now or timezone.now()) - MISSED_WINDOW)

    def missed_counts(self, *, now=None) -> dict[int, int]:
        """Each child's count of ``missed_in_last_12_months``, by child id (children without any are absent)."""
        rows = self.missed_in_last_12_months(now=now).order_by().values("child_id").annotate(n=models.Count("id"))
        return dict(rows.values_list("child_id", "n"))


class Appointment(models.Model):
    """A booked slot for a consultation. Its status mirrors the newest outcome event."""

    consultation = models.ForeignKey(Consultation, on_delete=models.CASCADE, related_name="appointments", verbose_name=_("konsultasjon"))
    # Denormalised from the consultation so day lists and histories filter without a join.
    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="appointments", verbose_name=_("barn"))
    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="+", verbose_name=_("helsestasjon"))
    # Denormalised from the consultation so the statistics count a year's appointments per
    # programme step without joining every consultation. A database trigger
    # (migration 0009_appointment_step) sets it from the consultation on every insert and
    # change, and follows a consultation whose step changed, so it always equals consultation.step.
    step = models.ForeignKey(ProgrammeStep, on_delete=models.PROTECT, related_name="+", editable=False, verbose_name=_("konsultasjon"))
    starts_at = models.DateTimeField(_("tidspunkt"))
    duration_minutes = models.PositiveSmallIntegerField(_("varighet (min)"), default=30)
    place = models.CharField(_("sted"), max_length=10, choices=Place.choices, default=Place.STATION)
    room = models.CharField(_("rom"), max_length=60, blank=True)
    professional = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="appointments", verbose_name=_("fagperson")
    )
    # A home visit may have a second professional with the first; both see it on their day list.
    second_professional = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="second_appointments",
        verbose_name=_("fagperson nr. 2"),
    )
    status = models.CharField(_("status"), max_length=24, choices=AppointmentStatus.choices, default=AppointmentStatus.BOOKED)
    rescheduled_to = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="rescheduled_from", verbose_name=_("flyttet til")
    )
    booked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("bestilt av"))
    booked_at = models.DateTimeField(_("bestilt"), default=timezone.now)

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("time")
        verbose_name_plural = _("timer")
        ordering = ["starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(duration_minutes__gt=0) & Q(duration_minutes__lte=480), name="appointment_duration_range"),
            # A double-clicked "Bestill" books once: a consultation has at most one open booking.
            models.UniqueConstraint(fields=["consultation"], condition=Q(status="booked"), name="appointment_one_booked_per_consultation"),
            # A professional is never booked twice at once, whoever books and however many at the same moment.
            # Only booked appointments count: a cancelled, moved or recorded one frees its time.
            ExclusionConstraint(
                name=APPOINTMENT_NO_OVERLAP,
                expressions=[(models.F("professional"), RangeOperators.EQUAL), (appointment_span(), RangeOperators.OVERLAPS)],
                condition=Q(status="booked"),
                violation_error_message=_("Fagpersonen har allerede en time som overlapper dette tidspunktet. Velg et annet tidspunkt."),
            ),
        ]
        indexes = [
            # The nurse's day: one professional's appointments in one day.
            models.Index(fields=["professional", "starts_at"], name="appointment_prof_day"),
            # The second professional's day list (a home visit for two).
            models.Index(fields=["second_professional", "starts_at"], condition=Q(second_professional__isnull=False), name="appointment_second_prof_day"),
            # The 12-month missed/cancelled count per child on the day list.
            models.Index(fields=["child", "status", "starts_at"], name="appointment_child_status"),
        ]

    def save(self, *args, **kwargs):
        # The trigger sets the column in the database; this keeps the instance in step with it
        # when the consultation is at hand (no query).
        if self.step_id is None and "consultation" in self._state.fields_cache:
            self.step_id = self.consultation.step_id
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"{self.starts_at:%Y-%m-%d %H:%M} {self.child_id}"

    @property
    def ends_at(self):
        return self.starts_at + timedelta(minutes=self.duration_minutes)

    @property
    def is_booked(self) -> bool:
        return self.status == AppointmentStatus.BOOKED

    def event_history(self) -> list["OutcomeEvent"]:
        """All outcome events, oldest first (uses prefetched events when present)."""
        return sorted(self.events.all(), key=lambda e: (e.recorded_at, e.id))

    def current_event(self) -> "OutcomeEvent | None":
        """The event no correction replaces: the outcome that counts now."""
        events = self.event_history()
        replaced = {e.replaces_id for e in events if e.replaces_id}
        current = [e for e in events if e.id not in replaced]
        return current[-1] if current else None


class OutcomeEventQuerySet(models.QuerySet):
    def recorded_since(self, since):
        """Events recorded at or after ``since`` (originals and corrections), oldest first.

        The follow-up sweep reads this to derive its cases from attendance facts.
        """
        return self.filter(recorded_at__gte=since).order_by("recorded_at", "id")

    def current(self):
        """Events that no later correction replaces (the outcome that counts now)."""
        return self.filter(replaced_by__isnull=True)


class OutcomeEvent(models.Model):
    """A recorded outcome. Nothing is overwritten: a correction is a new event
    that points to the one it replaces.

    Constraints make recording race-safe: an appointment has at most one
    original event, and an event is replaced at most once, so of two nurses
    recording at once exactly one insert succeeds.
    """

    appointment = models.ForeignKey(Appointment, on_delete=models.CASCADE, related_name="events", verbose_name=_("time"))
    outcome = models.CharField(_("utfall"), max_length=24, choices=Outcome.choices)
    reason = models.CharField(_("årsak"), max_length=24, choices=Reason.choices, blank=True)
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by", verbose_name=_("erstatter")
    )
    # Empty only for events the system records itself (the register reports a
    # death or a move and every future appointment is cancelled).
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("registrert av")
    )
    recorded_at = models.DateTimeField(_("registrert"), default=timezone.now)
    # Why the system recorded the event, e.g. "Død ifølge Folkeregisteret". Not clinical.
    note = models.CharField(_("merknad"), max_length=200, blank=True)

    objects = OutcomeEventQuerySet.as_manager()

    class Meta:
        verbose_name = _("utfall")
        verbose_name_plural = _("utfall")
        ordering = ["recorded_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["appointment"], condition=Q(replaces__isnull=True), name="outcome_one_original_per_appointment"
            ),
            models.CheckConstraint(
                condition=Q(reason="")
                | (Q(outcome__in=[o.value for o in REASON_OUTCOMES]) & ~Q(reason__in=[r.value for r in REGISTER_REASONS]))
                | Q(outcome=Outcome.CANCELLED_BY_SERVICE.value, reason__in=[r.value for r in REGISTER_REASONS]),
                name="outcome_reason_only_when_missed",
            ),
        ]
        indexes = [
            # Follow-up reads outcomes "recorded since" its last sweep.
            models.Index(fields=["recorded_at", "id"], name="outcome_recorded_at"),
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} ({self.recorded_at:%Y-%m-%d %H:%M})"


# --- Working hours and their exceptions (issue 18): what free slots are made of. ---------------


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("mandag")
    TUESDAY = 1, _("tirsdag")
    WEDNESDAY = 2, _("onsdag")
    THURSDAY = 3, _("torsdag")
    FRIDAY = 4, _("fredag")
    SATURDAY = 5, _("lørdag")
    SUNDAY = 6, _("søndag")


def _on_a_fixed_day(field: str) -> models.Func:
    """A time of day as a timestamp on one fixed date, so two ranges of a weekday can be compared.

    ``date + time`` is immutable in PostgreSQL, so the expression may stand in an exclusion constraint.
    """
    return models.Func(models.F(field), template="(DATE '2000-01-03' + %(expressions)s)", output_field=models.DateTimeField())


WORKING_HOURS_NO_OVERLAP = "working_hours_no_overlap"


class WorkingHoursQuerySet(models.QuerySet):
    def for_professional(self, professional_id: int):
        return self.filter(professional_id=professional_id).select_related("station").order_by("weekday", "starts", "id")


class WorkingHours(models.Model):
    """One range of a weekday a professional works at a station (Monday 08:00-15:30 at Helsestasjon A)."""

    professional = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="working_hours", verbose_name=_("fagperson")
    )
    station = models.ForeignKey(Station, on_delete=models.CASCADE, related_name="+", verbose_name=_("helsestasjon"))
    weekday = models.PositiveSmallIntegerField(_("ukedag"), choices=Weekday.choices)
    starts = models.TimeField(_("fra"))
    ends = models.TimeField(_("til"))

    objects = WorkingHoursQuerySet.as_manager()

    class Meta:
        verbose_name = _("arbeidstid")
        verbose_name_plural = _("arbeidstider")
        ordering = ["professional", "weekday", "starts"]
        constraints = [
            models.CheckConstraint(condition=Q(starts__lt=models.F("ends")), name="working_hours_end_after_start"),
            # A professional is at one place at a time: two ranges of one weekday never overlap, at any station.
            ExclusionConstraint(
                name=WORKING_HOURS_NO_OVERLAP,
                expressions=[
                    (models.F("professional"), RangeOperators.EQUAL),
                    (models.F("weekday"), RangeOperators.EQUAL),
                    (models.Func(_on_a_fixed_day("starts"), _on_a_fixed_day("ends"), function="tsrange",
                                 output_field=DateTimeRangeField()), RangeOperators.OVERLAPS),
                ],
                violation_error_message=_("Arbeidstiden overlapper en annen arbeidstid samme ukedag."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.starts:%H:%M}-{self.ends:%H:%M}"


class AbsenceKind(models.TextChoices):
    LEAVE = "leave", _("Fravær / permisjon")
    CLOSED = "closed", _("Helsestasjonen stengt")


ABSENCE_NO_OVERLAP = "absence_no_overlap"


def _absence_span() -> models.Func:
    # The local wall-clock time an exception covers: whole days inclusive of both, as a clerk reads
    # "1.–3. juli", or from the first day's start time to the last day's end time ("24:00" is the next
    # midnight). Wall-clock time, not instants: two exceptions overlap as they read on the page.
    def moment(day: str, at: str, default: str) -> models.Func:
        at_or_default = models.Func(models.F(at), template=f"COALESCE(%(expressions)s, '{default}'::time)", output_field=models.TimeField())
        # Keyword order as the migration writes it: the expression compares its extra arguments in order.
        return models.Func(models.F(day), at_or_default, arg_joiner=" + ", template="(%(expressions)s)", output_field=models.DateTimeField())

    return models.Func(moment("starts_on", "from_time", "00:00"), moment("ends_on", "until_time", "24:00"),
                       function="tsrange", output_field=DateTimeRangeField())


class AbsenceQuerySet(models.QuerySet):
    def touching(self, *, professional_ids, station_ids, first: date, last: date):
        """Exceptions of these professionals or closed days of these stations between two days (inclusive)."""
        return self.filter(Q(professional_id__in=professional_ids) | Q(station_id__in=station_ids),
                           starts_on__lte=last, ends_on__gte=first)


class Absence(models.Model):
    """Time without slots: a professional's leave (at every station) or a station's closed days.

    Whole days, or part of a day (issue 18: a dentist at 10-12 leaves the afternoon bookable): with
    ``from_time`` and ``until_time`` it runs from the first day at ``from_time`` to the last day at
    ``until_time``. Public holidays are not stored: they come from the ``holidays`` package when
    slots are computed.
    """

    kind = models.CharField(_("type"), max_length=10, choices=AbsenceKind.choices)
    professional = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="absences",
        verbose_name=_("fagperson"),
    )
    station = models.ForeignKey(Station, null=True, blank=True, on_delete=models.CASCADE, related_name="+",
                                verbose_name=_("helsestasjon"))
    starts_on = models.DateField(_("fra og med"))
    ends_on = models.DateField(_("til og med"))
    # Both empty: whole days. Both set: part of a day (see the class docstring).
    from_time = models.TimeField(_("fra klokken"), null=True, blank=True)
    until_time = models.TimeField(_("til klokken"), null=True, blank=True)
    note = models.CharField(_("merknad"), max_length=200, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("registrert av"))

    objects = AbsenceQuerySet.as_manager()

    class Meta:
        verbose_name = _("unntak fra arbeidstid")
        verbose_name_plural = _("unntak fra arbeidstid")
        ordering = ["starts_on", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(starts_on__lte=models.F("ends_on")), name="absence_end_after_start",
                                   violation_error_message=_("Sluttdatoen må være samme dag som eller etter startdatoen.")),
            models.CheckConstraint(
                condition=Q(from_time__isnull=True, until_time__isnull=True) | Q(from_time__isnull=False, until_time__isnull=False),
                name="absence_part_day_has_both_times",
                violation_error_message=_("Fyll inn både fra og til klokkeslett, eller ingen av dem for hele dager."),
            ),
            models.CheckConstraint(
                condition=Q(until_time__isnull=True) | Q(ends_on__gt=models.F("starts_on")) | Q(until_time__gt=models.F("from_time")),
                name="absence_part_day_end_after_start",
                violation_error_message=_("Sluttiden må være etter starttiden."),
            ),
            models.CheckConstraint(
                condition=Q(kind="leave", professional__isnull=False, station__isnull=True)
                | Q(kind="closed", professional__isnull=True, station__isnull=False),
                name="absence_leave_of_a_professional_closed_of_a_station",
                violation_error_message=_("Fravær gjelder en fagperson, stenging en helsestasjon."),
            ),
            # NULL never equals NULL, so each constraint binds only the rows that name its column.
            ExclusionConstraint(
                name=ABSENCE_NO_OVERLAP,
                expressions=[(models.F("professional"), RangeOperators.EQUAL), (_absence_span(), RangeOperators.OVERLAPS)],
                violation_error_message=_("Fraværet overlapper et fravær som allerede er registrert."),
            ),
            ExclusionConstraint(
                name="absence_closed_no_overlap",
                expressions=[(models.F("station"), RangeOperators.EQUAL), (_absence_span(), RangeOperators.OVERLAPS)],
                violation_error_message=_("Stengingen overlapper en stenging som allerede er registrert."),
            ),
        ]

    @property
    def is_part_day(self) -> bool:
        return self.from_time is not None

    def __str__(self) -> str:
        if self.is_part_day:
            return f"{self.get_kind_display()} {self.starts_on:%d.%m.%Y} {self.from_time:%H:%M}-{self.ends_on:%d.%m.%Y} {self.until_time:%H:%M}"
        return f"{self.get_kind_display()} {self.starts_on:%d.%m.%Y}-{self.ends_on:%d.%m.%Y}"
