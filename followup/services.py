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
from django.db.models import Count, F, Max, OuterRef, Q, Subquery, Value
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
    LadderStep,
    LeaderDecision,
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
from followup.workdays import add_working_days

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


# --------------------------------------------------------------------------- closing


def _close(case: Case, *, reason: str, by: User | None, note: str, now: datetime) -> bool:
    changed = Case.objects.filter(id=case.id, status=CaseStatus.OPEN).update(
        status=CaseStatus.CLOSED, closed_at=now, closed_by=by, close_reason=reason, close_note=note
    )
    if not changed:
        return False
    CaseStep.objects.filter(case_id=case.id, status=StepStatus.ACTIVE).update(status=StepStatus.CLOSED, ended_at=now)
    CaseLogEntry.objects.create(case_id=case.id, kind=CaseLogKind.CLOSED, text=CloseReason(reason).label, by=by, at=now)
    closure_record(case_id=case.id, reason=reason, by=by, at=now)  # the statistics' history; a reopen never erases it
    case.status, case.closed_at, case.closed_by, case.close_reason, case.close_note = CaseStatus.CLOSED, now, by, reason, note
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


def _advance(*, case: Case, step: CaseStep, now: datetime) -> CaseStep | None:
    ladders = _Ladders()
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


@transaction.atomic
def case_call_log(
    *, step: CaseStep, user: User, result: str, note: str = "", call_again_on: date | None = None, now: datetime | None = None
) -> CallLog:
    """Log a phone call. Every result but "call again" completes the call step."""
    now = _now(now)
    if result not in CallResult.values:
        raise ValidationError(gettext("Velg resultatet av samtalen."))
    if result == CallResult.CALL_AGAIN:
        if call_again_on is None:
            raise ValidationError(gettext("Velg datoen du skal ringe igjen."))
        if call_again_on < timezone.localdate(now):
            raise ValidationError(gettext("Datoen for å ringe igjen kan ikke være tilbake i tid."))
    case = _lock_active_step(step)
    call = CallLog.objects.create(
        case=case, step=step, result=result, call_again_on=call_again_on if result == CallResult.CALL_AGAIN else None,
        note=note.strip(), called_by=user, called_at=now,
    )
    label = CallResult(result).label
    _contact(case, gettext("Telefon: %(result)s") % {"result": label}, now)
    if result == CallResult.CALL_AGAIN:
        # The nurse's plan moves the deadline to the day she will call again.
        CaseStep.objects.filter(id=step.id).update(follow_up_on=call_again_on, deadline=max(step.deadline, call_again_on))
        return call
    _end_step(case=case, step=step, status=StepStatus.DONE, user=user, evidence=gettext("Telefon: %(result)s") % {"result": label}, now=now)
    _advance(case=case, step=step, now=now)
    return call


def next_booked_appointment(*, child_id: int, now: datetime | None = None) -> Appointment | None:
    return (
        Appointment.objects.filter(child_id=child_id, status=AppointmentStatus.BOOKED, starts_at__gt=_now(now))
        .select_related("station", "consultation__step")
        .order_by("starts_at")
        .first()
    )


@transaction.atomic
def case_sms_rebook(*, step: CaseStep, user: User, now: datetime | None = None) -> list[SmsMessage]:
    """Step 1: a new appointment is booked; an SMS goes to each guardian with a mobile number."""
    now = _now(now)
    case = _lock_active_step(step)
    if step.kind != StepKind.SMS_REBOOK:
        raise ValidationError(gettext("Dette trinnet sender ikke SMS."))
    appointment = next_booked_appointment(child_id=case.child_id, now=now)
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
    step = case.current_step
    at_leader_step = step is not None and step.kind == StepKind.LEADER_DECISION
    home_visit = ladders.of_kind(case.station_id, StepKind.HOME_VISIT) or (step and ladders.next_for(case.station_id, step))
    home_visit = home_visit or ladders.first(case.station_id, False)
    if at_leader_step:
        first = ladders.first(case.station_id, False).name
        goes_on = gettext("Saken begynner en ny runde i oppfølgingen, fra trinnet «%(step)s».") % {"step": first}
    else:
        goes_on = gettext("Saken blir stående på trinnet «%(step)s».") % {"step": step.name if step else ""}
    nexts = {
        Decision.CONTINUE: goes_on,
        Decision.HOME_VISIT: gettext("Saken går til trinnet «%(step)s».") % {"step": home_visit.name},
        Decision.CONCERN_REPORT: gettext("Dato og referanse for bekymringsmeldingen lagres på saken.")
        + " " + goes_on,
        Decision.FORMAL_DECISION: gettext("Vedtaket lagres i sakens kronologi.") + " " + goes_on,
        Decision.CLOSE: gettext("Saken avsluttes med begrunnelsen din, og oppfølgingen stopper."),
    }
    return [DecisionChoice(value=value, label=label, next=nexts[value]) for value, label in Decision.choices]


@transaction.atomic
def case_leader_decide(
    *,
    case: Case,
    user: User,
    decision: str,
    note: str,
    concern_report_date: date | None = None,
    concern_report_reference: str = "",
    now: datetime | None = None,
) -> LeaderDecision:
    """The leader's decision on a case at any step (step 8, or from the queue)."""
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
    step = case.current_step
    record = LeaderDecision.objects.create(
        case=case, step=step, decision=decision, note=note,
        concern_report_date=concern_report_date if decision == Decision.CONCERN_REPORT else None,
        concern_report_reference=concern_report_reference if decision == Decision.CONCERN_REPORT else "",
        decided_by=user, decided_at=now,
    )
    label = Decision(decision).label
    if decision == Decision.CLOSE:
        _close(case, reason=CloseReason.LEADER_CLOSED, by=user, note=note, now=now)
        return record
    if decision == Decision.CONCERN_REPORT:
        case.concern_reported_on = concern_report_date
        case.save(update_fields=["concern_reported_on"])
    ladders = _Ladders()
    case.overdue_since = None
    if decision == Decision.HOME_VISIT:
        _end_step(case=case, step=step, status=StepStatus.DONE, user=user, evidence=gettext("Lederbeslutning: %(decision)s") % {"decision": label}, now=now)
        target = ladders.of_kind(case.station_id, StepKind.HOME_VISIT) or ladders.next_for(case.station_id, step)
        _start_step(case=case, ladder_step=target or ladders.first(case.station_id, False), now=now)
    elif step.kind == StepKind.LEADER_DECISION:
        # Continuing after the leader's step starts a new round of the ladder.
        _end_step(case=case, step=step, status=StepStatus.DONE, user=user, evidence=gettext("Lederbeslutning: %(decision)s") % {"decision": label}, now=now)
        _start_step(case=case, ladder_step=ladders.first(case.station_id, False), now=now, new_cycle=True)
    else:
        # A decision on a case at an earlier step leaves the step where it is.
        case.risk = case.compute_risk(step.kind)
        case.save(update_fields=["overdue_since", "risk"])
    return record
