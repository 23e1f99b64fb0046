"""Follow-up services: the sweep that derives cases from attendance facts, the
ladder's step actions, closing and reopening.

Everything here is safe to run twice. The sweep serialises itself on its cursor
row (SELECT ... FOR UPDATE inside each chunk's transaction) and relies on unique
constraints (one open case per child, one trigger per fact, one step per
case/round/number, one active step per case); people's actions claim a step with
a conditional UPDATE and go on only when it changed a row.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, F, Max, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from attendance.models import Appointment, AppointmentStatus, Consultation, ConsultationState, Outcome, OutcomeEvent
from helsestasjon.models import Child, ChildStatus, Station, User
from followup.models import (
    DEFAULT_LADDER,
    CallLog,
    CallResult,
    Case,
    CaseLogEntry,
    CaseLogKind,
    CaseStatus,
    CaseStep,
    CaseTrigger,
    CloseReason,
    Decision,
    LadderSettings,
    LadderStep,
    LeaderDecision,
    PauseReason,
    SmsMessage,
    SmsStatus,
    StepKind,
    StepStatus,
    SweepCursor,
    TriggerKind,
)
from followup.recipients import shares_protection, sms_recipients, sms_withheld
from followup.sms.texts import sms_text
from followup.statistics.closures import closure_record
from followup.workdays import add_working_days, is_working_day

logger = logging.getLogger(__name__)

SWEEP_NAME = "followup"
# Facts recorded up to this long before the cursor are read again, so an
# outcome whose transaction committed late is never missed. Re-reading is
# harmless: every trigger is keyed by its fact.
OVERLAP = timedelta(minutes=15)
CHUNK = 20000

REBOOK_OUTCOMES = (Outcome.CANCELLED_BY_GUARDIAN, Outcome.RESCHEDULED)


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


# --------------------------------------------------------------------------- ladder


def ladder_for_municipality(*, municipality_id: int) -> list[LadderStep]:
    """The municipality's ladder, created from the spec's default on first use."""
    steps = list(LadderStep.objects.filter(municipality_id=municipality_id).order_by("order"))
    if not steps:
        LadderStep.objects.bulk_create(
            [
                LadderStep(
                    municipality_id=municipality_id, order=index, kind=kind, name=kind.label, owner_role=role,
                    deadline_working_days=days,
                )
                for index, (kind, role, days) in enumerate(DEFAULT_LADDER, start=1)
            ],
            ignore_conflicts=True,
        )
        steps = list(LadderStep.objects.filter(municipality_id=municipality_id).order_by("order"))
    return steps


class _Ladders:
    """Ladders by station, read once per sweep or action."""

    def __init__(self):
        self._by_municipality: dict[int, list[LadderStep]] = {}
        self._municipality_of: dict[int, int] = {}

    def for_station(self, station_id: int) -> list[LadderStep]:
        if station_id not in self._municipality_of:
            self._municipality_of.update(dict(Station.objects.values_list("id", "municipality_id")))
        municipality_id = self._municipality_of[station_id]
        if municipality_id not in self._by_municipality:
            self._by_municipality[municipality_id] = ladder_for_municipality(municipality_id=municipality_id)
        return self._by_municipality[municipality_id]

    def first(self, station_id: int, special_attention: bool) -> LadderStep:
        steps = self.for_station(station_id)
        if special_attention:
            # A child the station is already concerned about goes straight to the leader.
            for step in steps:
                if step.kind == StepKind.LEADER_DECISION:
                    return step
            return steps[-1]
        return steps[0]

    def after(self, station_id: int, order: int) -> LadderStep | None:
        for step in self.for_station(station_id):
            if step.order > order:
                return step
        return None

    def of_kind(self, station_id: int, kind: str) -> LadderStep | None:
        for step in self.for_station(station_id):
            if step.kind == kind:
                return step
        return None

    def next_for(self, station_id: int, step: CaseStep) -> LadderStep | None:
        """The ladder step after a case's ``step`` on the station's ladder. A step
        begun on another municipality's ladder (the child moved station since)
        carries on after the same kind of step here, not after the same number:
        a case at the phone call goes on to what follows the phone call on the
        new ladder. A kind the new ladder lacks goes by number."""
        order = step.order
        ladder = self.for_station(station_id)
        if step.ladder_step_id is not None and all(rung.pk != step.ladder_step_id for rung in ladder):
            same = self.of_kind(station_id, step.kind)
            if same is not None:
                order = same.order
        return self.after(station_id, order)


def _build_step(*, case: Case, cycle: int, seq: int, ladder_step: LadderStep, now: datetime) -> CaseStep:
    return CaseStep(
        case=case, cycle=cycle, seq=seq, ladder_step=ladder_step, order=ladder_step.order, kind=ladder_step.kind,
        name=ladder_step.name, owner_role=ladder_step.owner_role, started_at=now,
        deadline=add_working_days(timezone.localdate(now), ladder_step.deadline_working_days),
    )


def _start_step(*, case: Case, ladder_step: LadderStep, now: datetime, new_cycle: bool = False) -> CaseStep:
    """Make ``ladder_step`` the case's active step (the previous one must have ended)."""
    if new_cycle:
        case.cycle += 1
        seq = 1
    else:
        last = CaseStep.objects.filter(case=case, cycle=case.cycle).aggregate(m=Max("seq"))["m"] or 0
        seq = last + 1
    step = _build_step(case=case, cycle=case.cycle, seq=seq, ladder_step=ladder_step, now=now)
    step.save()
    case.current_step = step
    case.risk = case.compute_risk(step.kind)
    case.save(update_fields=["cycle", "current_step", "risk", "overdue_since"])
    return step


# --------------------------------------------------------------------------- the sweep


@dataclass
class SweepReport:
    events_read: int = 0
    expired_read: int = 0
    triggers_added: int = 0
    cases_opened: int = 0
    cases_reopened: int = 0
    cases_closed: int = 0
    steps_passed: int = 0
    waits_ended: int = 0
    pauses_ended: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass
class _Fact:
    child_id: int
    at: datetime
    order: int  # tie-breaker: the event or consultation id
    kind: str  # a TriggerKind, or "attended"
    key: str = ""
    event_id: int | None = None
    consultation_id: int | None = None


@dataclass
class _Pending:
    """Writes collected while one chunk is applied, done in bulk at the end."""

    new_cases: list[Case] = field(default_factory=list)
    first_steps: dict[int, tuple[Case, LadderStep]] = field(default_factory=dict)  # id(case) -> ...
    triggers: list[CaseTrigger] = field(default_factory=list)
    log: list[CaseLogEntry] = field(default_factory=list)


def followup_sweep(*, now: datetime | None = None) -> SweepReport:
    """Open, join, close and advance cases from the attendance facts (idempotent)."""
    now = _now(now)
    report = SweepReport()
    SweepCursor.objects.get_or_create(name=SWEEP_NAME)
    _sweep_outcome_events(now, report)
    _sweep_expired_consultations(now, report)
    _sweep_waiting(now, report)
    cases_wait_for_family_bookings(now=now)
    _sweep_pauses(now, report)
    _sweep_deadlines(now, report)
    _sync_special_attention()
    return report


def _sweep_outcome_events(now: datetime, report: SweepReport) -> None:
    cursor = SweepCursor.objects.get(name=SWEEP_NAME)
    if cursor.last_event_recorded_at is not None and cursor.last_event_id:
        # Events below the cursor whose transactions committed late.
        late = list(
            OutcomeEvent.objects.filter(
                id__lte=cursor.last_event_id, recorded_at__gte=cursor.last_event_recorded_at - OVERLAP
            ).values_list("id", flat=True)
        )
        for start in range(0, len(late), CHUNK):
            chunk = late[start : start + CHUNK]
            _outcome_chunk(Q(id__in=chunk), None, now, report)
    top = OutcomeEvent.objects.aggregate(m=Max("id"))["m"] or 0
    low = cursor.last_event_id
    while low < top:
        high = min(low + CHUNK, top)
        low = _outcome_chunk(None, (low, high), now, report)


def _outcome_chunk(where: Q | None, id_range: tuple[int, int] | None, now: datetime, report: SweepReport) -> int:
    """Process one chunk in its own transaction; returns the id the next chunk starts after."""
    with transaction.atomic():
        # The claim: sweeps running at once take chunks one after the other.
        cursor = SweepCursor.objects.select_for_update().get(name=SWEEP_NAME)
        if id_range is not None:
            low, high = id_range
            # Another sweep may have done this range while we waited for the lock.
            low = max(low, cursor.last_event_id)
            if low >= high:
                return low
            where = Q(id__gt=low, id__lte=high)
        summary = OutcomeEvent.objects.filter(where).aggregate(n=Count("id"), latest=Max("recorded_at"), top=Max("id"))
        report.events_read += summary["n"]
        if summary["n"]:
            _apply_outcome_events(where, now, report)
        updates = {"updated_at": now}
        top = high if id_range is not None else (summary["top"] or 0)
        updates["last_event_id"] = Greatest(F("last_event_id"), Value(top))
        if summary["latest"] is not None:
            latest = summary["latest"]
            updates["last_event_recorded_at"] = Greatest(Coalesce(F("last_event_recorded_at"), Value(latest)), Value(latest))
        SweepCursor.objects.filter(name=SWEEP_NAME).update(**updates)
        return top


def _fact_time(row: dict) -> datetime:
    # When it happened: the appointment's time for an outcome recorded after it,
    # the recording time for a cancellation made before the appointment.
    return min(row["appointment__starts_at"], row["recorded_at"])


EVENT_FIELDS = (
    "id", "outcome", "recorded_at", "replaces_id", "appointment__child_id", "appointment__consultation_id",
    "appointment__starts_at",
)


def _apply_outcome_events(where: Q, now: datetime, report: SweepReport) -> None:
    # Only the outcomes that count now (not replaced by a correction).
    current = OutcomeEvent.objects.filter(where, replaced_by__isnull=True).order_by()
    # Most outcomes are attendances; they matter only to a child with an open case.
    rows = list(current.exclude(outcome=Outcome.ATTENDED).values(*EVENT_FIELDS))
    rows += list(
        current.filter(
            outcome=Outcome.ATTENDED,
            appointment__child_id__in=Case.objects.filter(status=CaseStatus.OPEN).values("child_id"),
        ).values(*EVENT_FIELDS)
    )
    facts: list[_Fact] = []
    for r in rows:
        child_id = r["appointment__child_id"]
        if r["outcome"] == Outcome.ATTENDED:
            facts.append(_Fact(child_id, r["appointment__starts_at"], r["id"], "attended"))
        elif r["outcome"] in (Outcome.NOT_BROUGHT, Outcome.NO_ACCESS):
            kind = TriggerKind.NOT_BROUGHT if r["outcome"] == Outcome.NOT_BROUGHT else TriggerKind.NO_ACCESS
            facts.append(_Fact(child_id, _fact_time(r), r["id"], kind, f"event:{r['id']}", r["id"], r["appointment__consultation_id"]))
    facts.extend(_repeated_cancelling_facts([r for r in rows if r["outcome"] in REBOOK_OUTCOMES]))
    _apply_facts(facts, now, report)
    corrections = [r for r in rows if r["replaces_id"]]
    if corrections:
        _withdraw_corrected_triggers(corrections, now, report)


def _repeated_cancelling_facts(rows: list[dict]) -> list[_Fact]:
    """The spec's repeated-cancelling triggers, judged as of each cancellation."""
    if not rows:
        return []
    same_limit = settings.FOLLOWUP_SAME_CONSULTATION_REBOOKINGS
    period_limit = settings.FOLLOWUP_GUARDIAN_CANCELLATIONS
    window = timedelta(days=settings.FOLLOWUP_CANCELLATION_WINDOW_DAYS)
    current = OutcomeEvent.objects.filter(replaced_by__isnull=True).order_by()

    # Counted in the database first, so only the few candidates are read row by row.
    rebooks = current.filter(outcome__in=REBOOK_OUTCOMES)
    candidates = list(
        rebooks.filter(appointment__consultation_id__in={r["appointment__consultation_id"] for r in rows})
        .values("appointment__consultation_id")
        .annotate(n=Count("id"))
        .filter(n__gte=same_limit)
        .values_list("appointment__consultation_id", flat=True)
    )
    by_consultation: dict[int, list[tuple]] = defaultdict(list)
    if candidates:
        for e in rebooks.filter(appointment__consultation_id__in=candidates).values(
            "id", "appointment__consultation_id", "appointment__starts_at", "recorded_at"
        ):
            by_consultation[e["appointment__consultation_id"]].append((_fact_time(e), e["id"]))

    guardian_rows = [r for r in rows if r["outcome"] == Outcome.CANCELLED_BY_GUARDIAN]
    by_child: dict[int, list[tuple]] = defaultdict(list)
    if guardian_rows:
        earliest = min(_fact_time(r) for r in guardian_rows) - window
        cancellations = current.filter(outcome=Outcome.CANCELLED_BY_GUARDIAN, recorded_at__gte=earliest)
        children = list(
            cancellations.filter(appointment__child_id__in={r["appointment__child_id"] for r in guardian_rows})
            .values("appointment__child_id")
            .annotate(n=Count("id"))
            .filter(n__gte=period_limit)
            .values_list("appointment__child_id", flat=True)
        )
        if children:
            for e in cancellations.filter(appointment__child_id__in=children).values(
                "id", "appointment__child_id", "appointment__starts_at", "recorded_at"
            ):
                by_child[e["appointment__child_id"]].append((_fact_time(e), e["id"]))

    facts = []
    for r in rows:
        mine = (_fact_time(r), r["id"])
        same = sum(1 for other in by_consultation[r["appointment__consultation_id"]] if other <= mine)
        kind = None
        if same >= same_limit:
            kind = TriggerKind.REPEATED_REBOOKING
        elif r["outcome"] == Outcome.CANCELLED_BY_GUARDIAN:
            recent = sum(1 for other in by_child[r["appointment__child_id"]] if mine[0] - window < other[0] and other <= mine)
            if recent >= period_limit:
                kind = TriggerKind.REPEATED_CANCELLING
        if kind:
            facts.append(
                _Fact(r["appointment__child_id"], mine[0], r["id"], kind, f"event:{r['id']}", r["id"], r["appointment__consultation_id"])
            )
    return facts


def _sweep_expired_consultations(now: datetime, report: SweepReport) -> None:
    cursor = SweepCursor.objects.get(name=SWEEP_NAME)
    qs = Consultation.objects.filter(state=ConsultationState.EXPIRED, expired_at__isnull=False)
    if cursor.last_expired_at is not None:
        qs = qs.filter(expired_at__gte=cursor.last_expired_at - OVERLAP)
    rows = list(qs.order_by("expired_at", "id").values_list("id", "child_id", "expired_at"))
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start : start + CHUNK]
        report.expired_read += len(chunk)
        with transaction.atomic():
            SweepCursor.objects.select_for_update().get(name=SWEEP_NAME)
            facts = [
                _Fact(child_id, expired_at, cid, TriggerKind.CONSULTATION_EXPIRED, f"expired:{cid}", None, cid)
                for cid, child_id, expired_at in chunk
            ]
            _apply_facts(facts, now, report)
            latest = chunk[-1][2]
            SweepCursor.objects.filter(name=SWEEP_NAME).update(
                last_expired_at=Greatest(Coalesce(F("last_expired_at"), Value(latest)), Value(latest)), updated_at=now
            )


def _apply_facts(facts: list[_Fact], now: datetime, report: SweepReport) -> None:
    """Apply one chunk's facts child by child, in the order they happened."""
    if not facts:
        return
    trigger_facts = [f for f in facts if f.kind != "attended"]
    child_ids = {f.child_id for f in facts}
    known = set(
        CaseTrigger.objects.filter(source_key__in=[f.key for f in trigger_facts]).order_by().values_list("source_key", flat=True)
    )
    trigger_children = {f.child_id for f in trigger_facts if f.key not in known}
    attended_children = {f.child_id for f in facts if f.kind == "attended"}

    open_cases = {c.child_id: c for c in Case.objects.filter(child_id__in=child_ids, status=CaseStatus.OPEN).order_by()}
    relevant = trigger_children | (attended_children & set(open_cases))
    if not relevant:
        return
    children = {
        c["id"]: c
        for c in Child.objects.filter(id__in=trigger_children).order_by().values("id", "station_id", "special_attention", "status")
    }
    last_attended = dict(
        Appointment.objects.filter(child_id__in=trigger_children, status=AppointmentStatus.ATTENDED)
        .order_by()
        .values("child_id")
        .annotate(last=Max("starts_at"))
        .values_list("child_id", "last")
    )
    closed_ids = (
        Case.objects.filter(child_id__in=trigger_children - set(open_cases), status=CaseStatus.CLOSED)
        .order_by()
        .values("child_id")
        .annotate(last=Max("id"))
        .values_list("last", flat=True)
    )
    latest_closed = {c.child_id: c for c in Case.objects.filter(id__in=list(closed_ids))}

    ladders = _Ladders()
    pending = _Pending()
    by_child: dict[int, list[_Fact]] = defaultdict(list)
    for f in facts:
        if f.child_id in relevant:
            by_child[f.child_id].append(f)
    for child_id in sorted(by_child):
        case = open_cases.get(child_id)
        for f in sorted(by_child[child_id], key=lambda f: (f.at, f.order)):
            if f.kind == "attended":
                if case is not None and case.pk and f.at > case.triggered_at:
                    if _close(case, reason=CloseReason.ATTENDED, by=None, note="", now=now):
                        report.cases_closed += 1
                    latest_closed[child_id] = case
                    case = None
                continue
            if f.key in known:
                continue
            child = children.get(child_id)
            if child is None or child["status"] != ChildStatus.ACTIVE:
                continue
            if last_attended.get(child_id) and last_attended[child_id] > f.at:
                # The child has come to a consultation since: nothing to follow up.
                continue
            if case is None:
                case = _open_or_reopen(child, latest_closed.get(child_id), f, now, ladders, pending, report)
            known.add(f.key)
            pending.triggers.append(
                CaseTrigger(
                    case=case, kind=f.kind, source_key=f.key, outcome_event_id=f.event_id, consultation_id=f.consultation_id,
                    occurred_at=f.at, created_at=now,
                )
            )
            report.triggers_added += 1
    _flush(pending, now)


def _open_or_reopen(child: dict, closed: Case | None, fact: _Fact, now, ladders: _Ladders, pending: _Pending, report) -> Case:
    special = bool(child["special_attention"])
    first = ladders.first(child["station_id"], special)
    if closed is not None:
        # A new trigger reopens the child's last case: a new round of the ladder.
        updated = Case.objects.filter(id=closed.id, status=CaseStatus.CLOSED).update(
            status=CaseStatus.OPEN, cycle=F("cycle") + 1, triggered_at=fact.at, special_attention=special,
            station_id=child["station_id"],
            overdue_since=None, closed_at=None, closed_by=None, close_reason="", close_note="",
        )
        closed.refresh_from_db()
        if updated:
            pending.log.append(CaseLogEntry(case=closed, kind=CaseLogKind.REOPENED, text=TriggerKind(fact.kind).label, at=now))
            step = _build_step(case=closed, cycle=closed.cycle, seq=1, ladder_step=first, now=now)
            step.save()
            closed.current_step = step
            closed.risk = closed.compute_risk(step.kind)
            closed.save(update_fields=["current_step", "risk"])
            report.cases_reopened += 1
        return closed
    case = Case(
        child_id=child["id"], station_id=child["station_id"], status=CaseStatus.OPEN, opened_at=now, triggered_at=fact.at,
        special_attention=special,
    )
    case.risk = case.compute_risk(first.kind)
    pending.new_cases.append(case)
    pending.first_steps[id(case)] = (case, first)
    pending.log.append(CaseLogEntry(case=case, kind=CaseLogKind.OPENED, text=TriggerKind(fact.kind).label, at=now))
    report.cases_opened += 1
    return case


def _flush(pending: _Pending, now: datetime) -> None:
    if pending.new_cases:
        Case.objects.bulk_create(pending.new_cases, batch_size=1000)
        steps = [
            _build_step(case=case, cycle=1, seq=1, ladder_step=ladder_step, now=now)
            for case, ladder_step in pending.first_steps.values()
        ]
        CaseStep.objects.bulk_create(steps, batch_size=1000)
        for step in steps:
            step.case.current_step = step
        # One statement instead of a bulk_update per row.
        Case.objects.filter(id__in=[c.pk for c in pending.new_cases]).update(
            current_step=Subquery(
                CaseStep.objects.filter(case=OuterRef("pk"), status=StepStatus.ACTIVE).order_by().values("id")[:1]
            )
        )
    if pending.triggers:
        CaseTrigger.objects.bulk_create(pending.triggers, batch_size=1000, ignore_conflicts=True)
    if pending.log:
        CaseLogEntry.objects.bulk_create(pending.log, batch_size=1000)


def _withdraw_corrected_triggers(corrections: list[dict], now: datetime, report: SweepReport) -> None:
    """An outcome corrected to one that is not a trigger withdraws the trigger it made.

    A case left with no live trigger, and no work done on it, was opened by mistake and closes.
    """
    replaced_keys = [f"event:{r['replaces_id']}" for r in corrections]
    for trigger in CaseTrigger.objects.filter(source_key__in=replaced_keys, withdrawn_at__isnull=True).select_related("case"):
        CaseTrigger.objects.filter(id=trigger.id, withdrawn_at__isnull=True).update(withdrawn_at=now)
        CaseLogEntry.objects.create(case=trigger.case, kind=CaseLogKind.TRIGGER_WITHDRAWN, text=trigger.get_kind_display(), at=now)
        case = trigger.case
        if case.is_open and not case.triggers.filter(withdrawn_at__isnull=True, occurred_at__gte=case.triggered_at).exists():
            if _close(case, reason=CloseReason.OUTCOME_CORRECTED, by=None, note="", now=now):
                report.cases_closed += 1


def _sync_special_attention() -> None:
    """Open cases follow their child's særlig-oppfølging mark (set or removed by staff)."""
    Case.objects.filter(status=CaseStatus.OPEN, special_attention=False, child__special_attention=True).update(
        special_attention=True, risk=F("risk") + 40
    )
    Case.objects.filter(status=CaseStatus.OPEN, special_attention=True, child__special_attention=False, risk__gte=40).update(
        special_attention=False, risk=F("risk") - 40
    )


def _sweep_deadlines(now: datetime, report: SweepReport) -> None:
    """Steps whose deadline passed move the case on and mark it overdue."""
    today = timezone.localdate(now)
    ladders = _Ladders()
    while True:
        with transaction.atomic():
            steps = list(
                CaseStep.objects.filter(status=StepStatus.ACTIVE, overdue=False, deadline__lt=today)
                # A case waiting for an agreed time, paused, or waiting for child welfare does not move.
                .exclude(
                    Q(case__waiting_for__isnull=False) | Q(case__paused_until__isnull=False) | Q(case__awaiting_child_welfare=True)
                )
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("id")[:500]
            )
            if not steps:
                return
            cases = Case.objects.in_bulk([s.case_id for s in steps])
            for step in steps:
                case = cases[step.case_id]
                if case.status != CaseStatus.OPEN:
                    # Left active by a close that raced with this pass; it ends with the case.
                    CaseStep.objects.filter(id=step.id, status=StepStatus.ACTIVE).update(status=StepStatus.CLOSED, ended_at=now)
                    continue
                following = ladders.next_for(case.station_id, step)
                if following is None:
                    # The last step stays where it is, shown as overdue.
                    CaseStep.objects.filter(id=step.id, status=StepStatus.ACTIVE).update(overdue=True)
                    case.overdue_since = case.overdue_since or now
                    case.risk = case.compute_risk(step.kind)
                    case.save(update_fields=["overdue_since", "risk"])
                    report.steps_passed += 1
                    continue
                changed = CaseStep.objects.filter(id=step.id, status=StepStatus.ACTIVE).update(
                    status=StepStatus.PASSED, overdue=True, ended_at=now
                )
                if changed:
                    case.overdue_since = case.overdue_since or now
                    _start_step(case=case, ladder_step=following, now=now)
                    report.steps_passed += 1


# --------------------------------------------------------------------------- waiting and pauses


def _sweep_waiting(now: datetime, report: SweepReport) -> None:
    """Cases waiting for an agreed time whose time has an outcome now.

    Attended closes the case (the attendance pass above already did); not brought, nobody at
    home, or cancelled by the family ends the step the case waited on and moves it on; cancelled
    by the station starts the step's deadline again (it never counts against the family); a
    moved time is waited for at its new time."""
    cases = list(
        Case.objects.filter(status=CaseStatus.OPEN, waiting_for__isnull=False)
        .exclude(waiting_for__status=AppointmentStatus.BOOKED)
        .select_related("waiting_for", "current_step__ladder_step")
    )
    ladders = _Ladders()
    for case in cases:
        with transaction.atomic():
            case = Case.objects.select_for_update(of=("self",)).select_related("waiting_for", "current_step__ladder_step").get(pk=case.pk)
            appointment = case.waiting_for
            if not case.is_open or appointment is None or appointment.status == AppointmentStatus.BOOKED:
                continue
            when = timezone.localtime(appointment.starts_at)
            label = appointment.get_status_display()
            text = gettext("Timen %(date)s kl. %(time)s: %(outcome)s") % {
                "date": f"{when:%d.%m.%Y}", "time": f"{when:%H:%M}", "outcome": label,
            }
            if appointment.status == AppointmentStatus.RESCHEDULED and appointment.rescheduled_to_id:
                _wait_for(case, appointment.rescheduled_to, by=None, now=now)
                continue
            case.waiting_for = None
            case.save(update_fields=["waiting_for"])
            CaseLogEntry.objects.create(case=case, kind=CaseLogKind.WAIT_ENDED, text=text[:300], at=now)
            report.waits_ended += 1
            if appointment.status == AppointmentStatus.ATTENDED:
                if _close(case, reason=CloseReason.ATTENDED, by=None, note="", now=now):
                    report.cases_closed += 1
                continue
            step = case.current_step
            if appointment.status in (AppointmentStatus.NOT_BROUGHT, AppointmentStatus.NO_ACCESS, AppointmentStatus.CANCELLED_BY_GUARDIAN):
                if step is not None and step.is_active:
                    changed = CaseStep.objects.filter(id=step.id, status=StepStatus.ACTIVE).update(
                        status=StepStatus.DONE, ended_at=now, evidence=text
                    )
                    if changed:
                        step.status = StepStatus.DONE
                        _advance(case=case, step=step, now=now, ladders=ladders)
            else:
                _restart_deadline(case, now)


def cases_wait_for_family_bookings(*, now: datetime | None = None, station_id: int | None = None) -> int:
    """A time the family booked for the consultation that opened the case pauses the ladder too.

    Counted are times booked after the case reached its current step and not at step 1 (there a
    new time is the step's own work, followed by its SMS). Called by the sweep and before letters
    are made, so a letter is never made for a case whose family has booked meanwhile."""
    now = _now(now)
    qs = Case.objects.filter(
        status=CaseStatus.OPEN, waiting_for__isnull=True, paused_until__isnull=True, current_step__isnull=False
    ).exclude(current_step__kind=StepKind.SMS_REBOOK)
    if station_id is not None:
        qs = qs.filter(station_id=station_id)
    booked = Appointment.objects.filter(
        child_id=OuterRef("child_id"), status=AppointmentStatus.BOOKED, starts_at__gt=now,
        booked_at__gte=OuterRef("current_step__started_at"),
        consultation_id__in=CaseTrigger.objects.filter(case_id=OuterRef(OuterRef("pk")), consultation__isnull=False).values("consultation_id"),
    ).order_by("starts_at").values("id")[:1]
    found = list(qs.annotate(booked_id=Subquery(booked)).filter(booked_id__isnull=False).values_list("id", "booked_id"))
    for case_id, appointment_id in found:
        with transaction.atomic():
            case = Case.objects.select_for_update().get(pk=case_id)
            if not case.is_open or case.waiting_for_id is not None or case.paused_until is not None:
                continue
            _wait_for(case, Appointment.objects.get(pk=appointment_id), by=None, now=now)
    return len(found)


def _sweep_pauses(now: datetime, report: SweepReport) -> None:
    """Pauses end on their day, or early with any new appointment or outcome for the child."""
    today = timezone.localdate(now)
    paused = Case.objects.filter(status=CaseStatus.OPEN, paused_until__isnull=False)
    booked_since = Appointment.objects.filter(child_id=OuterRef("child_id"), booked_at__gt=OuterRef("paused_at"))
    outcome_since = OutcomeEvent.objects.filter(appointment__child_id=OuterRef("child_id"), recorded_at__gt=OuterRef("paused_at"))
    due = list(
        paused.filter(Q(paused_until__lte=today) | Q(Exists(booked_since)) | Q(Exists(outcome_since))).values_list("id", "paused_until")
    )
    for case_id, until in due:
        with transaction.atomic():
            case = Case.objects.select_for_update(of=("self",)).select_related("current_step__ladder_step").get(pk=case_id)
            if not case.is_open or case.paused_until is None:
                continue
            if case.paused_until <= today:
                text = gettext("Pausen varte til %(date)s; oppfølgingen fortsetter") % {"date": f"{case.paused_until:%d.%m.%Y}"}
            else:
                text = gettext("Pausen ble avsluttet tidlig: ny time eller nytt utfall for barnet")
            _end_pause(case, text=text, by=None, now=now)
            report.pauses_ended += 1


PAUSE_LIMIT_DAYS = 366 * 2


@transaction.atomic
def case_pause(*, case: Case, user: User, reason: str, until: date, note: str = "", now: datetime | None = None) -> Case:
    """Pause a case and the child's reminders until a date (abroad, specialist care, the GP)."""
    now = _now(now)
    today = timezone.localdate(now)
    if reason not in PauseReason.values:
        raise ValidationError(gettext("Velg årsaken til pausen."))
    if until is None or until <= today:
        raise ValidationError(gettext("Pausen må vare til en dato fram i tid."))
    if until > today + timedelta(days=PAUSE_LIMIT_DAYS):
        raise ValidationError(gettext("En pause kan vare i høyst to år. Velg en tidligere dato."))
    case = Case.objects.select_for_update().get(pk=case.pk)
    if not case.is_open:
        raise StepNotActive(gettext("Saken er allerede avsluttet."))
    if case.awaiting_child_welfare:
        raise ValidationError(gettext("Saken venter på svar fra barnevernet og kan ikke settes på pause."))
    case.paused_until, case.pause_reason, case.paused_at, case.overdue_since = until, reason, now, None
    case.save(update_fields=["paused_until", "pause_reason", "paused_at", "overdue_since"])
    text = gettext("%(reason)s til %(date)s") % {"reason": PauseReason(reason).label, "date": f"{until:%d.%m.%Y}"}
    note = (note or "").strip()
    CaseLogEntry.objects.create(case=case, kind=CaseLogKind.PAUSED, text=(f"{text}. {note}" if note else text)[:300], by=user, at=now)
    return case


@transaction.atomic
def case_pause_end(*, case: Case, user: User, now: datetime | None = None) -> Case:
    now = _now(now)
    case = Case.objects.select_for_update(of=("self",)).select_related("current_step__ladder_step").get(pk=case.pk)
    if not case.is_open or case.paused_until is None:
        raise ValidationError(gettext("Saken er ikke på pause."))
    _end_pause(case, text=gettext("Pausen ble avsluttet"), by=user, now=now)
    return case


def paused_children_q(today: date, prefix: str = "child") -> Q:
    """Children whose open case is paused today: no ladder step, letter or reminder for them."""
    return Q(**{f"{prefix}__followup_cases__status": CaseStatus.OPEN, f"{prefix}__followup_cases__paused_until__gt": today})


def waiting_cases_q(prefix: str = "case") -> Q:
    """Cases whose ladder stands still (an agreed time, a pause, child welfare's answer)."""
    return (
        Q(**{f"{prefix}__waiting_for__isnull": False})
        | Q(**{f"{prefix}__paused_until__isnull": False})
        | Q(**{f"{prefix}__awaiting_child_welfare": True})
    )


# --------------------------------------------------------------------------- home visit


@transaction.atomic
def case_home_visit_book(*, step: CaseStep, user: User, booking: Booking, now: datetime | None = None) -> Appointment:
    """The home-visit step books a visit at home, tells the family by SMS and letter, and waits for it.

    "Ingen hjemme" at the visit moves the case on; attended closes it."""
    from followup.letters.models import Letter, LetterKind
    from followup.letters.services import _letter_rows

    now = _now(now)
    if step.kind != StepKind.HOME_VISIT:
        raise ValidationError(gettext("Hjemmebesøk bestilles på hjemmebesøkstrinnet."))
    case = _lock_active_step(step)
    if case.waiting_for_id is not None:
        raise ValidationError(gettext("Saken venter allerede på en avtalt time."))
    appointment = _book(case=case, booking=booking, user=user, place="home")
    appointment = Appointment.objects.select_related("station").get(pk=appointment.pk)
    sent = 0
    for guardian in sms_recipients(child_id=case.child_id):
        text = sms_text(appointment=appointment, language=guardian.preferred_language, purpose="new_time")
        message, created = SmsMessage.objects.get_or_create(
            case_step=step, guardian=guardian, defaults={"to": guardian.mobile, "text": text, "created_by": user, "created_at": now}
        )
        if created:
            sent += 1
            transaction.on_commit(lambda pk=message.pk: _enqueue_sms(pk))
    rows = _letter_rows(kind=LetterKind.INVITATION, child=case.child, station=case.station, now=now, appointment_id=appointment.id)
    Letter.objects.bulk_create(rows, ignore_conflicts=True)
    when = timezone.localtime(appointment.starts_at)
    _contact(case, gettext("Hjemmebesøk avtalt"), now)
    _wait_for(case, appointment, by=user, now=now)
    CaseLogEntry.objects.create(
        case=case, kind=CaseLogKind.WAITING, by=user, at=now,
        text=(gettext("Hjemmebesøk %(date)s kl. %(time)s: SMS til %(sms)s foresatt(e), brev til %(letters)s") % {
            "date": f"{when:%d.%m.%Y}", "time": f"{when:%H:%M}", "sms": sent, "letters": len(rows),
        })[:300],
    )
    return appointment


@transaction.atomic
def case_home_visit_consent(*, step: CaseStep, user: User, note: str, now: datetime | None = None) -> CaseStep:
    """The family's consent to the home visit, recorded before the visit."""
    now = _now(now)
    note = (note or "").strip()
    if step.kind != StepKind.HOME_VISIT:
        raise ValidationError(gettext("Samtykke gjelder hjemmebesøkstrinnet."))
    if not note:
        raise ValidationError(gettext("Skriv hvem som samtykket, og hvordan."))
    _lock_active_step(step)
    CaseStep.objects.filter(pk=step.pk).update(consent_at=now, consent_by=user, consent_note=note[:300])
    step.consent_at, step.consent_by, step.consent_note = now, user, note[:300]
    return step


# --------------------------------------------------------------------------- closing


def _close(case: Case, *, reason: str, by: User | None, note: str, now: datetime) -> bool:
    changed = Case.objects.filter(id=case.id, status=CaseStatus.OPEN).update(
        status=CaseStatus.CLOSED, closed_at=now, closed_by=by, close_reason=reason, close_note=note,
        waiting_for=None, paused_until=None, pause_reason="", paused_at=None, awaiting_child_welfare=False,
    )
    if not changed:
        return False
    CaseStep.objects.filter(case_id=case.id, status=StepStatus.ACTIVE).update(status=StepStatus.CLOSED, ended_at=now)
    CaseLogEntry.objects.create(case_id=case.id, kind=CaseLogKind.CLOSED, text=CloseReason(reason).label, by=by, at=now)
    closure_record(case_id=case.id, reason=reason, by=by, at=now)  # the statistics' history; a reopen never erases it
    case.status, case.closed_at, case.closed_by, case.close_reason, case.close_note = CaseStatus.CLOSED, now, by, reason, note
    case.waiting_for, case.paused_until, case.pause_reason, case.paused_at, case.awaiting_child_welfare = None, None, "", None, False
    return True


@transaction.atomic
def case_close(*, case: Case, reason: str, closed_by: User | None, note: str = "", now: datetime | None = None) -> bool:
    """Close an open case; every close records why and by whom. False if it was already closed."""
    if reason not in CloseReason.values:
        raise ValidationError(gettext("Ukjent årsak til avslutning."))
    if reason == CloseReason.LEADER_CLOSED and not note.strip():
        raise ValidationError(gettext("Skriv en begrunnelse for å avslutte saken."))
    return _close(case, reason=reason, by=closed_by, note=note.strip(), now=_now(now))


@transaction.atomic
def case_close_for_child(*, child: Child, reason: str, closed_by: User | None = None, note: str = "", now: datetime | None = None) -> Case | None:
    """Close the child's open case, if any (the register calls this: moved out, emigrated, deceased)."""
    case = Case.objects.select_for_update().filter(child=child, status=CaseStatus.OPEN).first()
    if case is None:
        return None
    case_close(case=case, reason=reason, closed_by=closed_by, note=note, now=now)
    return case


def case_follow_child_station(*, child: Child, by: User | None = None, now: datetime | None = None) -> int:
    """The child now belongs to another station (the register showed a move within the
    municipality): its open case goes with it, so the case's work appears on the new
    station's lists and leader queue, and the chronology says so. Its current step carries
    on; later steps come from the new station's ladder, after the same kind of step
    (_Ladders.next_for). Returns how many cases moved."""
    now = now or timezone.now()
    cases = list(Case.objects.select_for_update().filter(child=child, status=CaseStatus.OPEN)
                 .exclude(station_id=child.station_id).select_related("station"))
    for case in cases:
        Case.objects.filter(pk=case.pk).update(station_id=child.station_id)
        CaseLogEntry.objects.create(case_id=case.pk, kind=CaseLogKind.MOVED_STATION, by=by, at=now,
                                    text=(gettext("Fra %(old)s til %(new)s") % {"old": case.station.name, "new": child.station.name})[:300])
    return len(cases)


def case_gp_confirmed(*, case: Case, user: User, note: str = "", now: datetime | None = None) -> bool:
    """A confirmed follow-up by the child's GP closes the case."""
    return case_close(case=case, reason=CloseReason.GP_CONFIRMED, closed_by=user, note=note, now=now)


# --------------------------------------------------------------------------- step actions


class StepNotActive(ValidationError):
    """The step was already done, skipped or passed (someone else got there first)."""


def _lock_active_step(step: CaseStep) -> Case:
    case = Case.objects.select_for_update().get(id=step.case_id)
    if not case.is_open or case.current_step_id != step.id:
        raise StepNotActive(gettext("Saken har allerede gått videre fra dette trinnet."))
    return case


def _end_step(*, case: Case, step: CaseStep, status: str, user: User, evidence: str = "", skip_reason: str = "", now: datetime) -> None:
    changed = CaseStep.objects.filter(id=step.id, status=StepStatus.ACTIVE).update(
        status=status, ended_at=now, ended_by=user, evidence=evidence, skip_reason=skip_reason
    )
    if not changed:
        raise StepNotActive(gettext("Saken har allerede gått videre fra dette trinnet."))
    step.status, step.ended_at, step.ended_by, step.evidence, step.skip_reason = status, now, user, evidence, skip_reason
    # Someone is acting on the case again.
    case.overdue_since = None


def _advance(*, case: Case, step: CaseStep, now: datetime, ladders: _Ladders | None = None) -> CaseStep | None:
    # A sweep passes its one _Ladders, so the ladders are read once per pass, not once per case.
    ladders = ladders or _Ladders()
    following = ladders.next_for(case.station_id, step)
    if following is None:
        # Past the last step only a leader's decision moves the case; wait at the leader.
        following = ladders.of_kind(case.station_id, StepKind.LEADER_DECISION) or ladders.for_station(case.station_id)[-1]
    return _start_step(case=case, ladder_step=following, now=now)


def _contact(case: Case, text: str, now: datetime) -> None:
    case.last_contact_at = now
    case.last_contact = text[:120]
    case.save(update_fields=["last_contact_at", "last_contact"])


@transaction.atomic
def case_step_complete(*, step: CaseStep, user: User, evidence: str, now: datetime | None = None) -> CaseStep | None:
    """The step's work is done (with its evidence): the case moves to the next step."""
    now = _now(now)
    evidence = (evidence or "").strip()
    if not evidence:
        raise ValidationError(gettext("Skriv hva som ble gjort."))
    case = _lock_active_step(step)
    _end_step(case=case, step=step, status=StepStatus.DONE, user=user, evidence=evidence, now=now)
    return _advance(case=case, step=step, now=now)


@transaction.atomic
def case_step_skip(*, step: CaseStep, user: User, reason: str, now: datetime | None = None) -> CaseStep | None:
    """Skipping a step needs a written reason."""
    now = _now(now)
    reason = (reason or "").strip()
    if step.kind == StepKind.LEADER_DECISION:
        # The last step ends only in a decision: a skip would restart the ladder with nothing decided.
        raise ValidationError(gettext("Lederbeslutningen kan ikke hoppes over. Velg en beslutning."))
    if not reason:
        raise ValidationError(gettext("Skriv en begrunnelse for å hoppe over trinnet."))
    case = _lock_active_step(step)
    _end_step(case=case, step=step, status=StepStatus.SKIPPED, user=user, skip_reason=reason, now=now)
    return _advance(case=case, step=step, now=now)


def ladder_settings(*, municipality_id: int) -> LadderSettings:
    """The municipality's ladder settings (the defaults until someone changes them in the admin)."""
    settings_row, _ = LadderSettings.objects.get_or_create(municipality_id=municipality_id)
    return settings_row


DOUBLE_CLICK = timedelta(seconds=10)


@dataclass(frozen=True)
class CallProgress:
    """The unanswered calls of a phone step, against the municipality's rule."""

    calls: int
    days: int
    calls_needed: int
    days_needed: int
    next_attempt: date

    @property
    def escalates(self) -> bool:
        return self.calls >= self.calls_needed and self.days >= self.days_needed


def call_progress(*, step: CaseStep, municipality_id: int, today: date) -> CallProgress:
    """How many calls went unanswered on how many working days, and when to try next.

    A day counts once however many calls were made on it; a call on a weekend or a
    public holiday counts as a call but not as a working day."""
    rule = ladder_settings(municipality_id=municipality_id)
    days = set()
    calls = 0
    for called_at in CallLog.objects.filter(step=step, result=CallResult.NO_ANSWER).values_list("called_at", flat=True):
        calls += 1
        day = timezone.localdate(called_at)
        if is_working_day(day):
            days.add(day)
    # Another day is what the rule still lacks once enough calls were made today.
    next_attempt = add_working_days(today, 1) if (today in days or not is_working_day(today)) else today
    return CallProgress(calls, len(days), rule.unanswered_calls, rule.unanswered_days, next_attempt)


def call_progress_for(*, case: Case, today: date | None = None) -> CallProgress | None:
    step = case.current_step
    if not case.is_open or step is None or step.kind != StepKind.PHONE_CALL:
        return None
    return call_progress(step=step, municipality_id=case.station.municipality_id, today=today or timezone.localdate())


@dataclass
class Booking:
    """A time to book from the case page: the same fields the clerk's booking takes."""

    starts_at: datetime
    professional: User
    duration_minutes: int = 30
    second_professional: User | None = None


def consultation_to_book(*, case: Case):
    """The consultation a new time is booked for: the one that opened the case (its latest
    trigger's), or, when that cannot be booked any more, the child's earliest bookable one."""
    from attendance.booking import BOOKABLE_STATES

    ids = list(
        CaseTrigger.objects.filter(case=case, consultation__isnull=False, withdrawn_at__isnull=True)
        .order_by("-occurred_at", "-id").values_list("consultation_id", flat=True)
    )
    for consultation in Consultation.objects.filter(id__in=ids, state__in=BOOKABLE_STATES).select_related("step"):
        return consultation
    return (
        Consultation.objects.filter(child_id=case.child_id, state__in=BOOKABLE_STATES)
        .select_related("step").order_by("window_opens", "id").first()
    )


def _book(*, case: Case, booking: Booking, user: User, place: str) -> Appointment:
    """Book through attendance's booking service (the clerk's), its refusals as validation errors."""
    from attendance.booking import appointment_book
    from attendance.errors import AttendanceError

    consultation = consultation_to_book(case=case)
    if consultation is None:
        raise ValidationError(gettext("Barnet har ingen konsultasjon som kan bestilles."))
    if booking.starts_at <= timezone.now():
        raise ValidationError(gettext("Den nye timen må være fram i tid."))
    if booking.starts_at > timezone.now() + timedelta(days=366):
        raise ValidationError(gettext("Den nye timen kan ikke være mer enn ett år fram i tid."))
    second = booking.second_professional
    if second is not None and (second.pk == booking.professional.pk or case.station_id not in second.station_ids()):
        raise ValidationError(gettext("Fagperson nr. 2 må være en annen fagperson ved barnets helsestasjon."))
    try:
        # Its own savepoint: a refused booking leaves the case as it was.
        with transaction.atomic():
            appointment = appointment_book(
                consultation=consultation, starts_at=booking.starts_at, duration_minutes=booking.duration_minutes, place=place,
                professional=booking.professional, booked_by=user,
            )
            if second is not None:
                appointment.second_professional = second
                appointment.save(update_fields=["second_professional"])
    except AttendanceError as exc:
        raise ValidationError(exc.message) from None
    return appointment


def _wait_for(case: Case, appointment: Appointment, *, by: User | None, now: datetime) -> None:
    """The ladder waits for ``appointment``: no step moves, no ladder letter or SMS, until its outcome."""
    when = timezone.localtime(appointment.starts_at)
    case.waiting_for = appointment
    case.overdue_since = None
    case.save(update_fields=["waiting_for", "overdue_since"])
    CaseLogEntry.objects.create(
        case=case, kind=CaseLogKind.WAITING, by=by, at=now,
        text=gettext("Venter på timen %(date)s kl. %(time)s") % {"date": f"{when:%d.%m.%Y}", "time": f"{when:%H:%M}"},
    )


def _end_pause(case: Case, *, text: str, by: User | None, now: datetime, restart_deadline: bool = True) -> None:
    Case.objects.filter(pk=case.pk).update(paused_until=None, pause_reason="", paused_at=None)
    case.paused_until, case.pause_reason, case.paused_at = None, "", None
    CaseLogEntry.objects.create(case=case, kind=CaseLogKind.RESUMED, text=text[:300], by=by, at=now)
    if restart_deadline:
        _restart_deadline(case, now)


def _restart_deadline(case: Case, now: datetime) -> None:
    """The current step starts its deadline again from today (the ladder stood still meanwhile)."""
    step = case.current_step
    if step is None or not step.is_active:
        return
    days = step.ladder_step.deadline_working_days if step.ladder_step_id and step.ladder_step else 5
    deadline = add_working_days(timezone.localdate(now), days)
    CaseStep.objects.filter(pk=step.pk, status=StepStatus.ACTIVE).update(deadline=deadline, overdue=False)
    step.deadline, step.overdue = deadline, False


@transaction.atomic
def case_call_log(
    *,
    step: CaseStep,
    user: User,
    result: str,
    note: str = "",
    call_again_on: date | None = None,
    booking: Booking | None = None,
    guardian_id: int | None = None,
    language: str = "",
    now: datetime | None = None,
) -> CallLog:
    """Log one attempt of the phone step. What happens next depends on the result:

    - "Ikke svar": the step stays open until the municipality's number of unanswered calls on
      enough different working days (default 3 over 2), then the case moves on (the sweep also
      moves it when the deadline passes);
    - "Ring igjen": the step stays open, the case is on the nurse's list again on that day;
    - "Trenger tolk": the guardian's interpreter need and language are set, the step stays open;
    - "Feil nummer": the contact register's number is looked up and shown; with none, the case
      goes to the address check;
    - "Takker nei": the refusal and its reason go to the leader;
    - "Nådd, ny time avtalt": the new time is booked here and the case waits for it.
    """
    from helsestasjon.models import Guardian, Language

    now = _now(now)
    today = timezone.localdate(now)
    note = (note or "").strip()
    if result not in CallResult.values:
        raise ValidationError(gettext("Velg resultatet av samtalen."))
    if step.kind != StepKind.PHONE_CALL:
        raise ValidationError(gettext("Samtaler logges bare på telefontrinnet."))
    if result == CallResult.CALL_AGAIN:
        if call_again_on is None:
            raise ValidationError(gettext("Velg datoen du skal ringe igjen."))
        if call_again_on < today:
            raise ValidationError(gettext("Datoen for å ringe igjen kan ikke være tilbake i tid."))
        if call_again_on > today + timedelta(days=366):
            raise ValidationError(gettext("Datoen for å ringe igjen kan ikke være mer enn ett år fram i tid."))
    if result == CallResult.DECLINES and not note:
        raise ValidationError(gettext("Skriv hvorfor familien takker nei."))
    if result == CallResult.REACHED_REBOOKED and booking is None:
        raise ValidationError(gettext("Velg tidspunkt og fagperson for den nye timen."))
    guardian = None
    if result == CallResult.NEEDS_INTERPRETER:
        if language not in Language.values or language in (Language.NB, Language.NN):
            raise ValidationError(gettext("Velg språket det trengs tolk til."))
        guardian = (
            Guardian.objects.filter(pk=guardian_id, guardianships__child_id=step.case.child_id).first() if guardian_id else None
        )
        if guardian is None:
            raise ValidationError(gettext("Velg hvilken foresatt som trenger tolk."))
    case = _lock_active_step(step)
    # A double click logs one attempt: the same result by the same nurse seconds ago is that attempt.
    recent = (
        CallLog.objects.filter(step=step, called_by=user, result=result, called_at__gte=now - DOUBLE_CLICK, called_at__lte=now)
        .order_by("-called_at").first()
    )
    if recent is not None:
        return recent
    if case.waiting_for_id is not None:
        raise ValidationError(gettext("Saken venter på en avtalt time. Ny samtale logges når timen er passert."))
    register_number = ""
    if result == CallResult.WRONG_NUMBER:
        register_number = contact_register_number(case=case)
    appointment = None
    if result == CallResult.REACHED_REBOOKED:
        appointment = _book(case=case, booking=booking, user=user, place="station")
    call = CallLog.objects.create(
        case=case, step=step, result=result, call_again_on=call_again_on if result == CallResult.CALL_AGAIN else None,
        note=note, called_by=user, called_at=now, register_number=register_number, appointment=appointment,
    )
    label = CallResult(result).label
    _contact(case, gettext("Telefon: %(result)s") % {"result": label}, now)
    if result == CallResult.CALL_AGAIN:
        # The nurse's plan moves the deadline to the day she will call again.
        CaseStep.objects.filter(id=step.id).update(follow_up_on=call_again_on, deadline=max(step.deadline, call_again_on))
        return call
    if result == CallResult.NEEDS_INTERPRETER:
        Guardian.objects.filter(pk=guardian.pk).update(interpreter_needed=True, preferred_language=language)
        CaseStep.objects.filter(id=step.id).update(follow_up_on=None)
        return call
    if result == CallResult.NO_ANSWER:
        progress = call_progress(step=step, municipality_id=case.station.municipality_id, today=today)
        if not progress.escalates:
            CaseStep.objects.filter(id=step.id).update(follow_up_on=None)
            return call
        evidence = gettext("%(calls)s ubesvarte anrop på %(days)s virkedager") % {"calls": progress.calls, "days": progress.days}
        _end_step(case=case, step=step, status=StepStatus.DONE, user=user, evidence=evidence, now=now)
        _advance(case=case, step=step, now=now)
        return call
    if result == CallResult.WRONG_NUMBER:
        if register_number:
            # The nurse calls the register's number next; the step stays open.
            CaseStep.objects.filter(id=step.id).update(follow_up_on=None)
            return call
        _end_step(case=case, step=step, status=StepStatus.DONE, user=user,
                  evidence=gettext("Feil nummer, og kontaktregisteret har ikke noe annet nummer"), now=now)
        target = _Ladders().of_kind(case.station_id, StepKind.ADDRESS_CHECK)
        if target is not None and target.order > step.order:
            _start_step(case=case, ladder_step=target, now=now)
        else:
            _advance(case=case, step=step, now=now)
        return call
    if result == CallResult.DECLINES:
        _end_step(case=case, step=step, status=StepStatus.DONE, user=user,
                  evidence=gettext("Takker nei: %(reason)s") % {"reason": note}, now=now)
        ladders = _Ladders()
        target = ladders.of_kind(case.station_id, StepKind.LEADER_DECISION) or ladders.for_station(case.station_id)[-1]
        _start_step(case=case, ladder_step=target, now=now)
        return call
    # Reached, and a new time agreed: the step waits for that time.
    CaseStep.objects.filter(id=step.id).update(follow_up_on=None)
    _wait_for(case, appointment, by=user, now=now)
    return call


def contact_register_number(*, case: Case) -> str:
    """The mobile number the contact register (KRR, through the population register) holds for
    one of the child's guardians that differs from the one on record; "" when there is none.

    A register that does not answer is a message to the nurse, not a wrong answer."""
    from helsestasjon.models import Guardianship
    from registry_sync.client import RegisterClient
    from registry_sync.person_document import parse_person
    from registry_sync.register_errors import RegisterError

    guardians = [
        g.guardian for g in Guardianship.objects.with_responsibility().filter(child_id=case.child_id).select_related("guardian")
        if g.guardian.register_person_id
    ]
    if not guardians:
        return ""
    try:
        documents = RegisterClient.from_settings().persons_by_id([g.register_person_id for g in guardians])
        records = [parse_person(doc) for doc in documents]
    except RegisterError:
        raise ValidationError(gettext("Kontaktregisteret svarer ikke nå. Prøv igjen om litt.")) from None
    known = {g.mobile for g in guardians}
    for record in records:
        phone = (record.phone or "").replace(" ", "").strip()
        if phone.startswith("+47") and len(phone) == 11:
            phone = phone[3:]
        if phone and phone not in known:
            return phone[:20]
    return ""


@transaction.atomic
def case_sms_rebook(*, step: CaseStep, user: User, now: datetime | None = None) -> list[SmsMessage]:
    """Step 1: a new appointment is booked; an SMS goes to each guardian with a mobile number."""
    now = _now(now)
    case = _lock_active_step(step)
    if step.kind != StepKind.SMS_REBOOK:
        raise ValidationError(gettext("Dette trinnet sender ikke SMS."))
    if case.is_waiting:
        raise ValidationError(gettext("Saken står stille (pause eller avtalt time): ingen SMS fra tiltakstrappen nå."))
    appointment = (
        Appointment.objects.filter(child_id=case.child_id).select_related("station", "consultation__step")
        .next_booked_appointment(now=now)
    )
    if appointment is None:
        raise ValidationError(gettext("Barnet har ingen ny time. Bestill en ny time først."))
    messages = []
    for guardian in sms_recipients(child_id=case.child_id):
        # Norwegian first, then the guardian's language (the same texts as the reminders).
        text = sms_text(appointment=appointment, language=guardian.preferred_language, purpose="new_time")
        message, created = SmsMessage.objects.get_or_create(
            case_step=step, guardian=guardian, defaults={"to": guardian.mobile, "text": text, "created_by": user, "created_at": now}
        )
        if created:
            messages.append(message)
            transaction.on_commit(lambda pk=message.pk: _enqueue_sms(pk))
    when = timezone.localtime(appointment.starts_at)
    withheld = sms_withheld(child_id=case.child_id)
    if messages:
        evidence = gettext("Ny time %(when)s. SMS sendt til %(count)s foresatt(e).") % {
            "when": f"{when:%d.%m.%Y %H:%M}", "count": len(messages),
        }
        _contact(case, gettext("SMS om ny time"), now)
    elif withheld:
        evidence = gettext("Ny time %(when)s. Ingen SMS sendt.") % {"when": f"{when:%d.%m.%Y %H:%M}"}
    else:
        evidence = gettext("Ny time %(when)s. Ingen mobilnummer kjent (eller reservert), ingen SMS sendt.") % {
            "when": f"{when:%d.%m.%Y %H:%M}",
        }
    if withheld:
        # The child's address is protected: no automatic SMS to a guardian who does not share it.
        evidence += " " + ngettext(
            "%(count)d foresatt fikk ikke SMS fordi barnets adresse er beskyttet: manuell avgjørelse trengs (se barnets side).",
            "%(count)d foresatte fikk ikke SMS fordi barnets adresse er beskyttet: manuell avgjørelse trengs (se barnets side).",
            len(withheld),
        ) % {"count": len(withheld)}
    _end_step(case=case, step=step, status=StepStatus.DONE, user=user, evidence=evidence, now=now)
    _advance(case=case, step=step, now=now)
    return messages


def _enqueue_sms(sms_id: int) -> None:
    from followup.tasks import send_sms

    send_sms.delay(sms_id)


def _sms_child(message: SmsMessage):
    if message.case_step_id:
        return message.case_step.case.child
    for holder in ("cancellation_notice", "reminder"):
        link = getattr(message, holder, None)
        if link is not None:
            return link.appointment.child
    return None


def _sms_stop_reason(message: SmsMessage) -> str:
    """Why a queued SMS must not go out any more, or "" to send it."""
    child = _sms_child(message)
    if child is None:
        return ""
    if child.status != ChildStatus.ACTIVE:
        return gettext("Stoppet: barnet er ikke lenger aktivt ved helsestasjonen.")
    if message.guardian_id and not shares_protection(
        child_level=child.address_protection, guardian_level=message.guardian.address_protection
    ):
        # The child became protected (or the guardian's protection changed) after the message
        # was queued: the text names a time and a place, so it is checked again now.
        return gettext("Stoppet: barnets adresse er beskyttet, og den foresatte deler ikke beskyttelsen. Manuell avgjørelse trengs.")
    reminder = getattr(message, "reminder", None)
    if reminder is not None and reminder.appointment.status != AppointmentStatus.BOOKED:
        # Cancelled, moved or recorded after the reminder was queued (a move to another
        # station cancels the times and says so): no reminder of a time that is gone.
        return gettext("Stoppet: timen er ikke lenger bestilt.")
    return ""


def sms_send(*, sms_id: int, now: datetime | None = None) -> SmsMessage | None:
    """Hand one queued SMS to the gateway, at most once (claimed by setting sent_at)."""
    from followup.sms.backends import get_backend

    now = _now(now)
    claimed = SmsMessage.objects.filter(id=sms_id, status=SmsStatus.QUEUED, sent_at__isnull=True).update(sent_at=now)
    if not claimed:
        return None
    message = SmsMessage.objects.select_related(
        "guardian", "case_step__case__child", "reminder__appointment__child", "cancellation_notice__appointment__child"
    ).get(id=sms_id)
    error = _sms_stop_reason(message)
    if error:
        # The register reported a death, a move or an emigration after the message was
        # queued (nothing is ever sent about a child who is no longer ours), or the time
        # a reminder is about was cancelled meanwhile.
        SmsMessage.objects.filter(id=sms_id).update(status=SmsStatus.FAILED, error=error)
        message.status, message.error = SmsStatus.FAILED, error
        return message
    try:
        result = get_backend().send(message.to, message.text)
        status, gateway_id, error = result.status, result.id, result.error
    except Exception as exc:  # The gateway's failure is the message's state, not a crash.
        logger.exception("SMS %s failed", sms_id)
        status, gateway_id, error = SmsStatus.FAILED, "", str(exc)[:300]
    SmsMessage.objects.filter(id=sms_id).update(status=status, gateway_id=gateway_id, error=error[:300])
    message.status, message.gateway_id, message.error = status, gateway_id, error
    return message


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
    ladders = _Ladders()
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
        (rung.kind, f"{rung.order}. {rung.name}") for rung in _Ladders().for_station(case.station_id)
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
    now = _now(now)
    note = (note or "").strip()
    concern_report_reference = (concern_report_reference or "").strip()
    if decision not in Decision.values:
        raise ValidationError(gettext("Velg en beslutning."))
    if not note:
        raise ValidationError(gettext("Skriv en begrunnelse for beslutningen."))
    if decision == Decision.CONCERN_REPORT and (concern_report_date is None or not concern_report_reference):
        raise ValidationError(gettext("En bekymringsmelding må ha dato og referanse."))
    case = Case.objects.select_for_update(of=("self",)).select_related("current_step").get(id=case.id)
    if not case.is_open:
        raise StepNotActive(gettext("Saken er allerede avsluttet."))
    ladders = _Ladders()
    target = None
    if decision in NAMED_STEP_DECISIONS:
        target = ladders.of_kind(case.station_id, continue_step) if continue_step else None
        if target is None or target.kind == StepKind.LEADER_DECISION:
            raise ValidationError(gettext("Velg trinnet saken skal fortsette på."))
    elif decision == Decision.HOME_VISIT:
        target = ladders.of_kind(case.station_id, StepKind.HOME_VISIT)
        if target is None:
            raise ValidationError(gettext("Kommunens tiltakstrapp har ikke noe hjemmebesøkstrinn. Velg «Fortsett» og et trinn."))
    step = case.current_step
    record = LeaderDecision.objects.create(
        case=case, step=step, decision=decision, note=note,
        concern_report_date=concern_report_date if decision == Decision.CONCERN_REPORT else None,
        concern_report_reference=concern_report_reference if decision == Decision.CONCERN_REPORT else "",
        continue_step_name=target.name if target is not None else "",
        decided_by=user, decided_at=now,
    )
    label = Decision(decision).label
    if decision == Decision.CLOSE:
        _close(case, reason=CloseReason.LEADER_CLOSED, by=user, note=note, now=now)
        return record
    case.overdue_since = None
    if decision == Decision.CONCERN_REPORT:
        # The case stands where it is until child welfare answers.
        case.concern_reported_on = concern_report_date
        case.awaiting_child_welfare = True
        case.risk = case.compute_risk(step.kind if step else None)
        case.save(update_fields=["concern_reported_on", "awaiting_child_welfare", "overdue_since", "risk"])
        CaseLogEntry.objects.create(
            case=case, kind=CaseLogKind.CHILD_WELFARE, by=user, at=now,
            text=gettext("Venter på svar fra barnevernet (bekymringsmelding %(date)s, ref. %(reference)s)") % {
                "date": f"{concern_report_date:%d.%m.%Y}", "reference": concern_report_reference,
            },
        )
        return record
    if case.awaiting_child_welfare:
        case.awaiting_child_welfare = False
        case.save(update_fields=["awaiting_child_welfare"])
        CaseLogEntry.objects.create(case=case, kind=CaseLogKind.CHILD_WELFARE, by=user, at=now, text=gettext("Svar fra barnevernet mottatt"))
    # The pause or wait the case was in ends with the leader's decision.
    if case.waiting_for_id is not None or case.paused_until is not None:
        Case.objects.filter(pk=case.pk).update(waiting_for=None, paused_until=None, pause_reason="", paused_at=None)
        case.waiting_for, case.paused_until, case.pause_reason, case.paused_at = None, None, "", None
    if step is not None and step.is_active:
        _end_step(case=case, step=step, status=StepStatus.DONE, user=user,
                  evidence=gettext("Lederbeslutning: %(decision)s") % {"decision": label}, now=now)
    _start_step(case=case, ladder_step=target, now=now)
    return record


def latest_decision(*, case: Case) -> LeaderDecision | None:
    """The leader's last decision on the case's current round, shown on the case page."""
    return LeaderDecision.objects.filter(case=case).select_related("decided_by").order_by("-decided_at", "-id").first()
