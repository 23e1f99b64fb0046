"""Follow-up cases and the escalation ladder, derived from attendance facts.

A case belongs to one child and climbs the municipality's ladder one step at a
time. Each step a case reaches is a CaseStep row: it records when the case got
there, its deadline in working days, and how it ended (done with evidence,
skipped with a reason, or passed when its deadline ran out).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from helsestasjon.models import Child, Guardian, Municipality, Role, Station


class StepKind(models.TextChoices):
    SMS_REBOOK = "sms_rebook", _("Ny time og SMS-påminnelse")
    PHONE_CALL = "phone_call", _("Telefon til foresatte")
    ADDRESS_CHECK = "address_check", _("Adressekontroll mot folkeregisteret")
    LETTER_NEW_INVITATION = "letter_new_invitation", _("Brev: ny innkalling")
    LETTER_DUTY_REMINDER = "letter_duty_reminder", _("Brev med henvisning til foreldrenes plikt")
    HOME_VISIT = "home_visit", _("Vurder hjemmebesøk")
    DISCUSSION = "discussion", _("Drøfting med kollega / tverrfaglig team / leder")
    LEADER_DECISION = "leader_decision", _("Lederbeslutning")


# Step kinds whose work is a letter; the letters part produces them.
LETTER_STEP_KINDS = (StepKind.LETTER_NEW_INVITATION, StepKind.LETTER_DUTY_REMINDER)

# The spec's default ladder: (kind, owner role, deadline in working days).
DEFAULT_LADDER = [
    (StepKind.SMS_REBOOK, Role.CLERK, 2),
    (StepKind.PHONE_CALL, Role.NURSE, 5),
    (StepKind.ADDRESS_CHECK, Role.CLERK, 2),
    (StepKind.LETTER_NEW_INVITATION, Role.CLERK, 3),
    (StepKind.LETTER_DUTY_REMINDER, Role.CLERK, 10),
    (StepKind.HOME_VISIT, Role.NURSE, 10),
    (StepKind.DISCUSSION, Role.NURSE, 5),
    (StepKind.LEADER_DECISION, Role.LEADER, 5),
]

OWNER_ROLES = [(Role.NURSE.value, Role.NURSE.label), (Role.CLERK.value, Role.CLERK.label), (Role.LEADER.value, Role.LEADER.label)]


class LadderStep(models.Model):
    """One rung of a municipality's ladder (editable in the admin)."""

    municipality = models.ForeignKey(Municipality, on_delete=models.CASCADE, related_name="ladder_steps", verbose_name=_("kommune"))
    order = models.PositiveSmallIntegerField(_("rekkefølge"))
    kind = models.CharField(_("type"), max_length=24, choices=StepKind.choices)
    name = models.CharField(_("navn"), max_length=100)
    owner_role = models.CharField(_("ansvarlig rolle"), max_length=10, choices=OWNER_ROLES)
    deadline_working_days = models.PositiveSmallIntegerField(_("frist (virkedager)"))

    class Meta:
        verbose_name = _("tiltakstrinn")
        verbose_name_plural = _("tiltakstrapp")
        ordering = ["municipality", "order"]
        constraints = [
            models.UniqueConstraint(fields=["municipality", "order"], name="ladderstep_unique_order"),
            models.UniqueConstraint(fields=["municipality", "kind"], name="ladderstep_unique_kind"),
            models.CheckConstraint(condition=Q(deadline_working_days__gte=1), name="ladderstep_deadline_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.order}. {self.name}"


class LadderSettings(models.Model):
    """How a municipality's phone step counts unanswered calls (editable in the admin).

    The phone step escalates after ``unanswered_calls`` calls without an answer made on at
    least ``unanswered_days`` different working days (or when its deadline passes)."""

    municipality = models.OneToOneField(Municipality, on_delete=models.CASCADE, related_name="ladder_settings", verbose_name=_("kommune"))
    unanswered_calls = models.PositiveSmallIntegerField(_("ubesvarte anrop før neste trinn"), default=3)
    unanswered_days = models.PositiveSmallIntegerField(_("på minst så mange ulike virkedager"), default=2)

    class Meta:
        verbose_name = _("innstilling for tiltakstrappen")
        verbose_name_plural = _("innstillinger for tiltakstrappen")
        constraints = [
            models.CheckConstraint(condition=Q(unanswered_calls__gte=1) & Q(unanswered_calls__lte=20), name="laddersettings_calls_range"),
            models.CheckConstraint(condition=Q(unanswered_days__gte=1) & Q(unanswered_days__lte=20), name="laddersettings_days_range"),
        ]

    def __str__(self) -> str:
        return str(self.municipality)


class PauseReason(models.TextChoices):
    ABROAD = "abroad", _("Oppholder seg i utlandet")
    SPECIALIST_CARE = "specialist_care", _("Følges av spesialisthelsetjenesten")
    GP_FOLLOWUP = "gp_followup", _("Følges opp hos fastlege")


class CaseStatus(models.TextChoices):
    OPEN = "open", _("Åpen")
    CLOSED = "closed", _("Avsluttet")


class CloseReason(models.TextChoices):
    ATTENDED = "attended", _("Barnet møtte til konsultasjon")
    MOVED_OUT = "moved_out", _("Flyttet ut av kommunen")
    EMIGRATED = "emigrated", _("Utvandret")
    DECEASED = "deceased", _("Død")
    GP_CONFIRMED = "gp_confirmed", _("Oppfølging hos fastlege bekreftet")
    LEADER_CLOSED = "leader_closed", _("Avsluttet av leder")
    AGED_OUT = "aged_out", _("Barnet er over 6 år")
    OUTCOME_CORRECTED = "outcome_corrected", _("Utfallet som åpnet saken ble rettet")


# How urgent a case is, computed (never stored): særlig oppfølging, a reported concern, a leader step, lateness.
RISK_WEIGHTS = {"special_attention": 40, "concern_reported": 20, "leader_step": 10, "overdue": 5}
LEADER_RISK_KINDS = (StepKind.DISCUSSION, StepKind.LEADER_DECISION)


class CaseQuerySet(models.QuerySet):
    def with_risk(self):
        """``risk_now``: the case's risk computed in the database, as ``Case.compute_risk`` computes it
        for one case; the leader queue orders by it."""
        def weight(condition: Q, name: str):
            return models.Case(models.When(condition, then=models.Value(RISK_WEIGHTS[name])), default=models.Value(0))

        return self.annotate(
            risk_now=weight(Q(child__special_attention=True), "special_attention")
            + weight(Q(concern_reported_on__isnull=False), "concern_reported")
            + weight(Q(current_step__kind__in=LEADER_RISK_KINDS), "leader_step")
            + weight(Q(overdue_since__isnull=False), "overdue")
        )


class Case(models.Model):
    """Follow-up of one child who was not brought (oppfølgingssak)."""

    child = models.ForeignKey(Child, on_delete=models.CASCADE, related_name="followup_cases", verbose_name=_("barn"))
    # Denormalised from the child so work lists filter by station without a join.
    station = models.ForeignKey(Station, on_delete=models.PROTECT, related_name="+", verbose_name=_("helsestasjon"))
    status = models.CharField(_("status"), max_length=8, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    # A reopened case starts a new round of the ladder; its steps carry the round number.
    cycle = models.PositiveSmallIntegerField(_("runde"), default=1)
    opened_at = models.DateTimeField(_("åpnet"), default=timezone.now)
    # When the fact that opened (or reopened) the case happened: an attendance
    # after this moment closes the case.
    triggered_at = models.DateTimeField(_("utløst"))
    current_step = models.OneToOneField(
        "CaseStep", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("nåværende trinn")
    )
    # Set when a step's deadline passed; cleared when someone completes a step.
    overdue_since = models.DateTimeField(_("over frist siden"), null=True, blank=True)
    last_contact_at = models.DateTimeField(_("siste kontakt"), null=True, blank=True)
    last_contact = models.CharField(_("siste kontakt"), max_length=120, blank=True)
    concern_reported_on = models.DateField(_("bekymringsmelding sendt"), null=True, blank=True)
    # After a report of concern the case waits for child welfare's answer (no step moves meanwhile).
    awaiting_child_welfare = models.BooleanField(_("venter på svar fra barnevernet"), default=False)
    # An agreed time (booked on the phone, or by the family for the consultation that opened
    # the case): the ladder waits for its outcome, and no ladder letter or SMS goes out.
    waiting_for = models.ForeignKey(
        "attendance.Appointment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("venter på time")
    )
    # A pause with an end date (abroad, specialist care, GP): no step, letter or reminder until then.
    paused_until = models.DateField(_("pause til"), null=True, blank=True)
    pause_reason = models.CharField(_("årsak til pause"), max_length=20, choices=PauseReason.choices, blank=True)
    paused_at = models.DateTimeField(_("pause fra"), null=True, blank=True)
    closed_at = models.DateTimeField(_("avsluttet"), null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("avsluttet av")
    )
    close_reason = models.CharField(_("årsak til avslutning"), max_length=20, choices=CloseReason.choices, blank=True)
    close_note = models.TextField(_("merknad"), blank=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        verbose_name = _("oppfølgingssak")
        verbose_name_plural = _("oppfølgingssaker")
        ordering = ["-opened_at"]
        constraints = [
            # One child has at most one open case; the sweep relies on this.
            models.UniqueConstraint(fields=["child"], condition=Q(status="open"), name="case_one_open_per_child"),
            models.CheckConstraint(
                condition=Q(status="open") | (Q(closed_at__isnull=False) & ~Q(close_reason="")), name="case_closed_has_reason"
            ),
            models.CheckConstraint(condition=Q(paused_until__isnull=True) | ~Q(pause_reason=""), name="case_pause_has_reason"),
        ]
        indexes = [
            # The leader queue and the work lists: a station's open cases (ordered by risk_now, computed).
            models.Index(fields=["station", "status"], name="case_station_status"),
            # The sweep's waiting and pause passes read only the few cases that wait or are paused.
            models.Index(fields=["waiting_for"], condition=Q(status="open", waiting_for__isnull=False), name="case_open_waiting"),
            models.Index(fields=["paused_until"], condition=Q(status="open", paused_until__isnull=False), name="case_open_paused"),
        ]

    def __str__(self) -> str:
        return f"Sak {self.pk} ({self.child_id})"

    @property
    def is_open(self) -> bool:
        return self.status == CaseStatus.OPEN

    @property
    def is_paused(self) -> bool:
        return self.is_open and self.paused_until is not None

    @property
    def is_waiting(self) -> bool:
        """The ladder stands still: an agreed time, a pause, or child welfare's answer."""
        return self.is_open and (self.waiting_for_id is not None or self.paused_until is not None or self.awaiting_child_welfare)

    @property
    def special_attention(self) -> bool:
        """Særlig oppfølging is the child's mark (set or removed by staff), read from the child."""
        return self.child.special_attention

    def compute_risk(self, step_kind: str | None = None) -> int:
        """Higher is more urgent: særlig oppfølging, a reported concern, the leader steps, lateness.

        The same weights as ``CaseQuerySet.with_risk`` (RISK_WEIGHTS), for one case in hand."""
        kind = step_kind if step_kind is not None else (self.current_step.kind if self.current_step_id else "")
        return (
            RISK_WEIGHTS["special_attention"] * bool(self.special_attention)
            + RISK_WEIGHTS["concern_reported"] * bool(self.concern_reported_on)
            + RISK_WEIGHTS["leader_step"] * (kind in LEADER_RISK_KINDS)
            + RISK_WEIGHTS["overdue"] * bool(self.overdue_since)
        )


class StepStatus(models.TextChoices):
    ACTIVE = "active", _("Pågår")
    DONE = "done", _("Utført")
    SKIPPED = "skipped", _("Hoppet over")
    PASSED = "passed", _("Fristen gikk ut")
    CLOSED = "closed", _("Saken ble avsluttet")


class CaseStep(models.Model):
    """A case at one step of the ladder. Name, owner and deadline are copied from the ladder."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="steps", verbose_name=_("sak"))
    cycle = models.PositiveSmallIntegerField(_("runde"))
    seq = models.PositiveSmallIntegerField(_("nummer i runden"))
    ladder_step = models.ForeignKey(LadderStep, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    order = models.PositiveSmallIntegerField(_("trinn"))
    kind = models.CharField(_("type"), max_length=24, choices=StepKind.choices)
    name = models.CharField(_("navn"), max_length=100)
    owner_role = models.CharField(_("ansvarlig rolle"), max_length=10, choices=OWNER_ROLES)
    started_at = models.DateTimeField(_("startet"), default=timezone.now)
    deadline = models.DateField(_("frist"))
    status = models.CharField(_("status"), max_length=8, choices=StepStatus.choices, default=StepStatus.ACTIVE)
    overdue = models.BooleanField(_("over frist"), default=False)
    follow_up_on = models.DateField(_("ring igjen"), null=True, blank=True)
    ended_at = models.DateTimeField(_("avsluttet"), null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("utført av")
    )
    evidence = models.TextField(_("dokumentasjon"), blank=True)
    # The home-visit step: the family's consent, recorded before the visit.
    consent_at = models.DateTimeField(_("samtykke registrert"), null=True, blank=True)
    consent_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("samtykke registrert av")
    )
    consent_note = models.CharField(_("samtykke"), max_length=300, blank=True)
    skip_reason = models.TextField(_("begrunnelse for å hoppe over"), blank=True)

    class Meta:
        verbose_name = _("trinn i sak")
        verbose_name_plural = _("trinn i saker")
        ordering = ["case", "cycle", "seq"]
        constraints = [
            # Creating the next step twice (two sweeps, a retried task) is impossible.
            models.UniqueConstraint(fields=["case", "cycle", "seq"], name="casestep_unique_seq"),
            models.UniqueConstraint(fields=["case"], condition=Q(status="active"), name="casestep_one_active_per_case"),
            models.CheckConstraint(condition=~Q(status="skipped") | ~Q(skip_reason=""), name="casestep_skip_has_reason"),
        ]
        indexes = [
            # The sweep's deadline pass: active steps whose deadline has passed.
            models.Index(fields=["deadline"], condition=Q(status="active", overdue=False), name="casestep_active_deadline"),
        ]

    def __str__(self) -> str:
        return f"{self.order}. {self.name}"

    @property
    def is_active(self) -> bool:
        return self.status == StepStatus.ACTIVE


class TriggerKind(models.TextChoices):
    NOT_BROUGHT = "not_brought", _("Ikke møtt")
    NO_ACCESS = "no_access", _("Ingen hjemme (hjemmebesøk)")
    REPEATED_REBOOKING = "repeated_rebooking", _("Samme konsultasjon avbestilt eller flyttet gjentatte ganger")
    REPEATED_CANCELLING = "repeated_cancelling", _("Gjentatte avbestillinger siste måneder")
    CONSULTATION_EXPIRED = "consultation_expired", _("Konsultasjon utløpt uten oppmøte")


class CaseTrigger(models.Model):
    """A fact that opened a case or joined an open one. ``source_key`` names the
    fact (an outcome event or an expired consultation), so processing it twice is harmless."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="triggers", verbose_name=_("sak"))
    kind = models.CharField(_("type"), max_length=24, choices=TriggerKind.choices)
    source_key = models.CharField(_("kilde"), max_length=40, unique=True)
    outcome_event = models.ForeignKey(
        "attendance.OutcomeEvent", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("utfall")
    )
    consultation = models.ForeignKey(
        "attendance.Consultation", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("konsultasjon")
    )
    occurred_at = models.DateTimeField(_("skjedde"))
    created_at = models.DateTimeField(_("registrert"), default=timezone.now)
    withdrawn_at = models.DateTimeField(_("trukket tilbake"), null=True, blank=True)

    class Meta:
        verbose_name = _("utløser")
        verbose_name_plural = _("utløsere")
        ordering = ["occurred_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.occurred_at:%Y-%m-%d})"


class CallResult(models.TextChoices):
    REACHED_REBOOKED = "reached_rebooked", _("Nådd, ny time avtalt")
    NO_ANSWER = "no_answer", _("Ikke svar")
    WRONG_NUMBER = "wrong_number", _("Feil nummer")
    NEEDS_INTERPRETER = "needs_interpreter", _("Trenger tolk")
    DECLINES = "declines", _("Takker nei")
    CALL_AGAIN = "call_again", _("Ring igjen")


class CallLog(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="calls", verbose_name=_("sak"))
    step = models.ForeignKey(CaseStep, on_delete=models.CASCADE, related_name="calls", verbose_name=_("trinn"))
    result = models.CharField(_("resultat"), max_length=20, choices=CallResult.choices)
    call_again_on = models.DateField(_("ring igjen"), null=True, blank=True)
    note = models.TextField(_("notat"), blank=True)
    # "Feil nummer": the number the contact register holds, shown to the nurse ("" when none).
    register_number = models.CharField(_("nummer fra kontaktregisteret"), max_length=20, blank=True)
    # "Nådd, ny time avtalt": the time booked during the call.
    appointment = models.ForeignKey(
        "attendance.Appointment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("avtalt time")
    )
    called_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("ringt av"))
    called_at = models.DateTimeField(_("tidspunkt"), default=timezone.now)

    class Meta:
        verbose_name = _("telefonsamtale")
        verbose_name_plural = _("telefonsamtaler")
        ordering = ["called_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(result="call_again") | Q(call_again_on__isnull=False), name="calllog_call_again_has_date"
            ),
        ]


class Decision(models.TextChoices):
    CONTINUE = "continue", _("Fortsett oppfølgingen på et valgt trinn")
    HOME_VISIT = "home_visit", _("Hjemmebesøk")
    CONCERN_REPORT = "concern_report", _("Bekymringsmelding til barnevernet (helsepersonelloven § 33)")
    FORMAL_DECISION = "formal_decision", _("Formelt vedtak etter pasient- og brukerrettighetsloven § 6-1")
    CLOSE = "close", _("Avslutt saken")


class LeaderDecision(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="decisions", verbose_name=_("sak"))
    step = models.ForeignKey(CaseStep, on_delete=models.CASCADE, related_name="decisions", verbose_name=_("trinn"))
    decision = models.CharField(_("beslutning"), max_length=20, choices=Decision.choices)
    # Where the case goes on after "continue" or a formal decision (the step's name, kept as it was).
    continue_step_name = models.CharField(_("fortsetter på trinn"), max_length=100, blank=True)
    concern_report_date = models.DateField(_("dato for bekymringsmelding"), null=True, blank=True)
    concern_report_reference = models.CharField(_("referanse"), max_length=60, blank=True)
    note = models.TextField(_("begrunnelse"))
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("besluttet av"))
    decided_at = models.DateTimeField(_("tidspunkt"), default=timezone.now)

    class Meta:
        verbose_name = _("lederbeslutning")
        verbose_name_plural = _("lederbeslutninger")
        ordering = ["decided_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(decision="concern_report")
                | (Q(concern_report_date__isnull=False) & ~Q(concern_report_reference="")),
                name="decision_concern_report_has_date_and_reference",
            ),
            models.CheckConstraint(condition=~Q(note=""), name="decision_has_note"),
        ]


class CaseLogKind(models.TextChoices):
    OPENED = "opened", _("Sak åpnet")
    REOPENED = "reopened", _("Sak gjenåpnet")
    CLOSED = "closed", _("Sak avsluttet")
    TRIGGER_WITHDRAWN = "trigger_withdrawn", _("Utløser trukket tilbake")
    MOVED_STATION = "moved_station", _("Flyttet til annen helsestasjon")
    WAITING = "waiting", _("Venter på avtalt time")
    WAIT_ENDED = "wait_ended", _("Avtalt time")
    PAUSED = "paused", _("Pause")
    RESUMED = "resumed", _("Pausen er slutt")
    CHILD_WELFARE = "child_welfare", _("Barnevernet")


class CaseLogEntry(models.Model):
    """Opening, reopening and closing of a case, for the chronology."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="log", verbose_name=_("sak"))
    kind = models.CharField(_("type"), max_length=20, choices=CaseLogKind.choices)
    text = models.CharField(_("tekst"), max_length=300, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("tidspunkt"), default=timezone.now)

    class Meta:
        verbose_name = _("sakslogg")
        verbose_name_plural = _("sakslogg")
        ordering = ["at", "id"]


class SmsStatus(models.TextChoices):
    QUEUED = "queued", _("I kø")
    SENT = "sent", _("Sendt")
    DELIVERED = "delivered", _("Levert")
    FAILED = "failed", _("Feilet")


class SmsMessage(models.Model):
    """One SMS to one guardian. The text never holds health information."""

    to = models.CharField(_("til"), max_length=20)
    text = models.TextField(_("tekst"))
    guardian = models.ForeignKey(Guardian, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("foresatt"))
    case_step = models.ForeignKey(
        CaseStep, null=True, blank=True, on_delete=models.CASCADE, related_name="sms_messages", verbose_name=_("trinn")
    )
    status = models.CharField(_("status"), max_length=10, choices=SmsStatus.choices, default=SmsStatus.QUEUED)
    gateway_id = models.CharField(_("gateway-ID"), max_length=100, blank=True)
    error = models.CharField(_("feil"), max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("opprettet"), default=timezone.now)
    sent_at = models.DateTimeField(_("sendt"), null=True, blank=True)

    class Meta:
        verbose_name = _("SMS")
        verbose_name_plural = _("SMS")
        ordering = ["created_at", "id"]
        constraints = [
            # The step-1 message goes to each guardian exactly once.
            models.UniqueConstraint(
                fields=["case_step", "guardian"], condition=Q(case_step__isnull=False), name="sms_once_per_step_guardian"
            ),
        ]


class SweepCursor(models.Model):
    """How far the sweep has read the attendance facts. One row per sweep name."""

    name = models.CharField(max_length=40, unique=True)
    last_event_id = models.BigIntegerField(default=0)
    last_event_recorded_at = models.DateTimeField(null=True, blank=True)
    last_expired_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("sveipemarkør")
        verbose_name_plural = _("sveipemarkører")


# The letters and SMS parts keep their models in their own packages (same app label).
from followup.letters.models import *  # noqa: E402,F401,F403
from followup.letters.svarut.models import *  # noqa: E402,F401,F403
from followup.sms.models import *  # noqa: E402,F401,F403
from followup.statistics.models import *  # noqa: E402,F401,F403
