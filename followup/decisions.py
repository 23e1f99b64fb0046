"""The leader's decision on a case: the choices she has, and carrying out the one she makes.

Every decision ends in one clear state (closed, on a named step, at the home visit, or waiting
for child welfare); ``leader_decision_choices`` says on the page what each choice does, written
beside ``case_leader_decide`` so the page never promises what the service does not do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from followup.closing import case_mark_closed
from followup.ladder import LadderCache, ladder_start_step
from followup.models import Case, CaseLogEntry, CaseLogKind, CloseReason, Decision, LadderStep, LeaderDecision, StepKind, StepStatus
from followup.steps import StepNotActive, step_end
from helsestasjon.models import User


@dataclass(frozen=True)
class DecisionChoice:
    """One of the leader's choices on a case, with what happens to the case when it is chosen."""

    value: str
    label: str
    next: str


def leader_decision_choices(*, case: Case) -> list[DecisionChoice]:
    """The leader's choices with what follows each, as ``case_leader_decide`` carries them out.

    Written beside that function so the page never promises what the service does not do.
    """
    ladders = LadderCache()
    home_visit = ladders.of_kind(case.station_id, StepKind.HOME_VISIT)
    named = gettext("Saken fortsetter på trinnet du velger nedenfor, og begrunnelsen din vises på saken.")
    nexts = {
        Decision.CONTINUE: named,
        Decision.HOME_VISIT: (gettext("Saken går til trinnet «%(step)s».") % {"step": home_visit.name}) if home_visit else named,
        Decision.CONCERN_REPORT: gettext(
            "Dato og referanse for bekymringsmeldingen lagres, og saken venter på svar fra barnevernet. "
            "Når svaret kommer, registrerer du en ny beslutning."
        ),
        Decision.FORMAL_DECISION: gettext("Vedtaket lagres i sakens kronologi.") + " " + named,
        Decision.CLOSE: gettext("Saken avsluttes med begrunnelsen din, og oppfølgingen stopper."),
    }
    return [DecisionChoice(value=value, label=label, next=nexts[value]) for value, label in Decision.choices]


def continue_step_choices(*, case: Case) -> list[tuple[str, str]]:
    """The steps a leader may continue a case on: every step of the station's ladder but her own."""
    return [
        (rung.kind, f"{rung.order}. {rung.name}") for rung in LadderCache().for_station(case.station_id)
        if rung.kind != StepKind.LEADER_DECISION
    ]


NAMED_STEP_DECISIONS = (Decision.CONTINUE, Decision.FORMAL_DECISION)


@transaction.atomic
def case_leader_decide(
    *,
    case: Case,
    user: User,
    decision: str,
    note: str,
    concern_report_date: date | None = None,
    concern_report_reference: str = "",
    continue_step: str = "",
    now: datetime | None = None,
) -> LeaderDecision:
    """The leader's decision on a case at any step (step 8, or from the queue). It ends in one clear state:

    - close: the case is closed with the reason;
    - continue / formal decision: the case goes on at the step she names, the reason shown on the case;
    - home visit: the case goes to the home-visit step;
    - report of concern: the case waits for child welfare's answer (no step moves meanwhile); her next
      decision, when the answer has come, ends the wait.
    """
    now = now or timezone.now()
    note = (note or "").strip()
    concern_report_reference = (concern_report_reference or "").strip()
    _check_decision(decision=decision, note=note, concern_report_date=concern_report_date, reference=concern_report_reference)
    case = Case.objects.select_for_update(of=("self",)).select_related("current_step").get(id=case.id)
    if not case.is_open:
        raise StepNotActive(gettext("Saken er allerede avsluttet."))
    target = _decision_target(case=case, decision=decision, continue_step=continue_step)
    concern = decision == Decision.CONCERN_REPORT
    record = LeaderDecision.objects.create(
        case=case, step=case.current_step, decision=decision, note=note,
        concern_report_date=concern_report_date if concern else None,
        concern_report_reference=concern_report_reference if concern else "",
        continue_step_name=target.name if target is not None else "",
        decided_by=user, decided_at=now,
    )
    if decision == Decision.CLOSE:
        case_mark_closed(case, reason=CloseReason.LEADER_CLOSED, by=user, note=note, now=now)
    elif concern:
        _await_child_welfare(case, user=user, reported_on=concern_report_date, reference=concern_report_reference, now=now)
    else:
        _continue_at(case, target, user=user, label=Decision(decision).label, now=now)
    return record


def _check_decision(*, decision: str, note: str, concern_report_date: date | None, reference: str) -> None:
    if decision not in Decision.values:
        raise ValidationError(gettext("Velg en beslutning."))
    if not note:
        raise ValidationError(gettext("Skriv en begrunnelse for beslutningen."))
    if decision == Decision.CONCERN_REPORT and (concern_report_date is None or not reference):
        raise ValidationError(gettext("En bekymringsmelding må ha dato og referanse."))


def _decision_target(*, case: Case, decision: str, continue_step: str) -> LadderStep | None:
    """The step the decision sends the case to (None for a close or a report of concern)."""
    ladders = LadderCache()
    if decision in NAMED_STEP_DECISIONS:
        target = ladders.of_kind(case.station_id, continue_step) if continue_step else None
        if target is None or target.kind == StepKind.LEADER_DECISION:
            raise ValidationError(gettext("Velg trinnet saken skal fortsette på."))
        return target
    if decision == Decision.HOME_VISIT:
        target = ladders.of_kind(case.station_id, StepKind.HOME_VISIT)
        if target is None:
            raise ValidationError(gettext("Kommunens tiltakstrapp har ikke noe hjemmebesøkstrinn. Velg «Fortsett» og et trinn."))
        return target
    return None


def _await_child_welfare(case: Case, *, user: User, reported_on: date, reference: str, now: datetime) -> None:
    """The case stands where it is until child welfare answers."""
    case.overdue_since = None
    case.concern_reported_on = reported_on
    case.awaiting_child_welfare = True
    case.save(update_fields=["concern_reported_on", "awaiting_child_welfare", "overdue_since"])
    CaseLogEntry.objects.create(
        case=case, kind=CaseLogKind.CHILD_WELFARE, by=user, at=now,
        text=gettext("Venter på svar fra barnevernet (bekymringsmelding %(date)s, ref. %(reference)s)") % {
            "date": f"{reported_on:%d.%m.%Y}", "reference": reference,
        },
    )


def _continue_at(case: Case, target: LadderStep, *, user: User, label: str, now: datetime) -> None:
    """The case goes on at ``target``: child welfare's answer, a wait or a pause end with the decision."""
    case.overdue_since = None
    if case.awaiting_child_welfare:
        case.awaiting_child_welfare = False
        case.save(update_fields=["awaiting_child_welfare"])
        CaseLogEntry.objects.create(case=case, kind=CaseLogKind.CHILD_WELFARE, by=user, at=now, text=gettext("Svar fra barnevernet mottatt"))
    if case.waiting_for_id is not None or case.paused_until is not None:
        Case.objects.filter(pk=case.pk).update(waiting_for=None, paused_until=None, pause_reason="", paused_at=None)
        case.waiting_for, case.paused_until, case.pause_reason, case.paused_at = None, None, "", None
    step = case.current_step
    if step is not None and step.is_active:
        step_end(case=case, step=step, status=StepStatus.DONE, user=user,
                 evidence=gettext("Lederbeslutning: %(decision)s") % {"decision": label}, now=now)
    ladder_start_step(case=case, ladder_step=target, now=now)


def latest_decision(*, case: Case) -> LeaderDecision | None:
    """The leader's last decision on the case's current round, shown on the case page."""
    return LeaderDecision.objects.filter(case=case).select_related("decided_by").order_by("-decided_at", "-id").first()
