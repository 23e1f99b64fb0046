"""The follow-up sweep: derive cases from the attendance facts and move them along the ladder.

``followup_sweep`` runs its passes in order: new outcome events and expired consultations (read
from a cursor, in chunks, as ``followup.facts`` turns them into facts), the waits that ended,
the family's own bookings, the pauses that ended, and the deadlines that passed.

Everything here is safe to run twice. The sweep serialises itself on its cursor row (SELECT ...
FOR UPDATE inside each chunk's transaction) and relies on unique constraints (one open case per
child, one trigger per fact, one step per case/round/number, one active step per case).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, F, Max, OuterRef, Q, Subquery, Value, Exists
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext

from attendance.models import Appointment, AppointmentStatus, Consultation, ConsultationState, OutcomeEvent
from followup.closing import case_mark_closed
from followup.facts import ATTENDED, Fact, outcome_event_rows, outcome_facts
from followup.ladder import LadderCache, ladder_advance, ladder_build_step, ladder_start_step
from followup.models import (
    Case,
    CaseLogEntry,
    CaseLogKind,
    CaseStatus,
    CaseStep,
    CaseTrigger,
    CloseReason,
    LadderStep,
    StepStatus,
    SweepCursor,
    TriggerKind,
)
from followup.waiting import case_end_pause, case_wait_for, cases_wait_for_family_bookings, step_restart_deadline
from helsestasjon.models import Child, ChildStatus

SWEEP_NAME = "followup"
# Facts recorded up to this long before the cursor are read again, so an
# outcome whose transaction committed late is never missed. Re-reading is
# harmless: every trigger is keyed by its fact.
OVERLAP = timedelta(minutes=15)
CHUNK = 20000


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
class _Pending:
    """Writes collected while one chunk is applied, done in bulk at the end."""

    new_cases: list[Case] = field(default_factory=list)
    first_steps: dict[int, tuple[Case, LadderStep]] = field(default_factory=dict)  # id(case) -> ...
    triggers: list[CaseTrigger] = field(default_factory=list)
    log: list[CaseLogEntry] = field(default_factory=list)


@dataclass
class _Chunk:
    """What one chunk's facts are applied against, read in a few queries before the loop."""

    known: set[str]
    open_cases: dict[int, Case]
    children: dict[int, dict]
    last_attended: dict[int, datetime]
    latest_closed: dict[int, Case]
    ladders: LadderCache = field(default_factory=LadderCache)
    pending: _Pending = field(default_factory=_Pending)


def followup_sweep(*, now: datetime | None = None) -> SweepReport:
    """Open, join, close and advance cases from the attendance facts (idempotent)."""
    now = now or timezone.now()
    report = SweepReport()
    SweepCursor.objects.get_or_create(name=SWEEP_NAME)
    _sweep_outcome_events(now, report)
    _sweep_expired_consultations(now, report)
    _sweep_waiting(now, report)
    cases_wait_for_family_bookings(now=now)
    _sweep_pauses(now, report)
    _sweep_deadlines(now, report)
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


def _apply_outcome_events(where: Q, now: datetime, report: SweepReport) -> None:
    rows = outcome_event_rows(where)
    _apply_facts(outcome_facts(rows), now, report)
    corrections = [r for r in rows if r["replaces_id"]]
    if corrections:
        _withdraw_corrected_triggers(corrections, now, report)


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
                Fact(child_id, expired_at, cid, TriggerKind.CONSULTATION_EXPIRED, f"expired:{cid}", None, cid)
                for cid, child_id, expired_at in chunk
            ]
            _apply_facts(facts, now, report)
            latest = chunk[-1][2]
            SweepCursor.objects.filter(name=SWEEP_NAME).update(
                last_expired_at=Greatest(Coalesce(F("last_expired_at"), Value(latest)), Value(latest)), updated_at=now
            )


def _apply_facts(facts: list[Fact], now: datetime, report: SweepReport) -> None:
    """Apply one chunk's facts child by child, in the order they happened."""
    if not facts:
        return
    chunk, relevant = _read_chunk(facts)
    if not relevant:
        return
    by_child: dict[int, list[Fact]] = defaultdict(list)
    for f in facts:
        if f.child_id in relevant:
            by_child[f.child_id].append(f)
    for child_id in sorted(by_child):
        _apply_child_facts(child_id, sorted(by_child[child_id], key=lambda f: (f.at, f.order)), chunk, now, report)
    _flush(chunk.pending, now)


def _read_chunk(facts: list[Fact]) -> tuple[_Chunk, set[int]]:
    """The triggers already known, the open and last closed cases, the children: and which children matter."""
    trigger_facts = [f for f in facts if f.kind != ATTENDED]
    known = set(
        CaseTrigger.objects.filter(source_key__in=[f.key for f in trigger_facts]).order_by().values_list("source_key", flat=True)
    )
    trigger_children = {f.child_id for f in trigger_facts if f.key not in known}
    attended_children = {f.child_id for f in facts if f.kind == ATTENDED}
    child_ids = {f.child_id for f in facts}
    open_cases = {c.child_id: c for c in Case.objects.filter(child_id__in=child_ids, status=CaseStatus.OPEN).order_by()}
    relevant = trigger_children | (attended_children & set(open_cases))
    if not relevant:
        return _Chunk(known, open_cases, {}, {}, {}), relevant
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
    return _Chunk(known, open_cases, children, last_attended, latest_closed), relevant


def _apply_child_facts(child_id: int, facts: list[Fact], chunk: _Chunk, now: datetime, report: SweepReport) -> None:
    """One child's facts in time order: an attendance closes the open case, a new trigger opens or joins one."""
    case = chunk.open_cases.get(child_id)
    for f in facts:
        if f.kind == ATTENDED:
            if case is not None and case.pk and f.at > case.triggered_at:
                if case_mark_closed(case, reason=CloseReason.ATTENDED, by=None, note="", now=now):
                    report.cases_closed += 1
                chunk.latest_closed[child_id] = case
                case = None
            continue
        if f.key in chunk.known:
            continue
        child = chunk.children.get(child_id)
        if child is None or child["status"] != ChildStatus.ACTIVE:
            continue
        if chunk.last_attended.get(child_id) and chunk.last_attended[child_id] > f.at:
            # The child has come to a consultation since: nothing to follow up.
            continue
        if case is None:
            case = _open_or_reopen(child, chunk.latest_closed.get(child_id), f, now, chunk.ladders, chunk.pending, report)
        chunk.known.add(f.key)
        chunk.pending.triggers.append(
            CaseTrigger(
                case=case, kind=f.kind, source_key=f.key, outcome_event_id=f.event_id, consultation_id=f.consultation_id,
                occurred_at=f.at, created_at=now,
            )
        )
        report.triggers_added += 1


def _open_or_reopen(child: dict, closed: Case | None, fact: Fact, now, ladders: LadderCache, pending: _Pending, report) -> Case:
    first = ladders.first(child["station_id"], bool(child["special_attention"]))
    if closed is not None:
        # A new trigger reopens the child's last case: a new round of the ladder.
        updated = Case.objects.filter(id=closed.id, status=CaseStatus.CLOSED).update(
            status=CaseStatus.OPEN, cycle=F("cycle") + 1, triggered_at=fact.at, station_id=child["station_id"],
            overdue_since=None, closed_at=None, closed_by=None, close_reason="", close_note="",
        )
        closed.refresh_from_db()
        if updated:
            pending.log.append(CaseLogEntry(case=closed, kind=CaseLogKind.REOPENED, text=TriggerKind(fact.kind).label, at=now))
            step = ladder_build_step(case=closed, cycle=closed.cycle, seq=1, ladder_step=first, now=now)
            step.save()
            closed.current_step = step
            closed.save(update_fields=["current_step"])
            report.cases_reopened += 1
        return closed
    case = Case(
        child_id=child["id"], station_id=child["station_id"], status=CaseStatus.OPEN, opened_at=now, triggered_at=fact.at,
    )
    pending.new_cases.append(case)
    pending.first_steps[id(case)] = (case, first)
    pending.log.append(CaseLogEntry(case=case, kind=CaseLogKind.OPENED, text=TriggerKind(fact.kind).label, at=now))
    report.cases_opened += 1
    return case


def _flush(pending: _Pending, now: datetime) -> None:
    if pending.new_cases:
        Case.objects.bulk_create(pending.new_cases, batch_size=1000)
        steps = [
            ladder_build_step(case=case, cycle=1, seq=1, ladder_step=ladder_step, now=now)
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
            if case_mark_closed(case, reason=CloseReason.OUTCOME_CORRECTED, by=None, note="", now=now):
                report.cases_closed += 1


def _sweep_deadlines(now: datetime, report: SweepReport) -> None:
    """Steps whose deadline passed move the case on and mark it overdue."""
    today = timezone.localdate(now)
    ladders = LadderCache()
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
                    case.save(update_fields=["overdue_since"])
                    report.steps_passed += 1
                    continue
                changed = CaseStep.objects.filter(id=step.id, status=StepStatus.ACTIVE).update(
                    status=StepStatus.PASSED, overdue=True, ended_at=now
                )
                if changed:
                    case.overdue_since = case.overdue_since or now
                    ladder_start_step(case=case, ladder_step=following, now=now)
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
    ladders = LadderCache()
    for case in cases:
        with transaction.atomic():
            _end_wait(case.pk, now, ladders, report)


def _end_wait(case_id: int, now: datetime, ladders: LadderCache, report: SweepReport) -> None:
    """One waiting case, locked: its agreed time's outcome ends the wait (or moves it to the new time)."""
    case = Case.objects.select_for_update(of=("self",)).select_related("waiting_for", "current_step__ladder_step").get(pk=case_id)
    appointment = case.waiting_for
    if not case.is_open or appointment is None or appointment.status == AppointmentStatus.BOOKED:
        return
    when = timezone.localtime(appointment.starts_at)
    text = gettext("Timen %(date)s kl. %(time)s: %(outcome)s") % {
        "date": f"{when:%d.%m.%Y}", "time": f"{when:%H:%M}", "outcome": appointment.get_status_display(),
    }
    if appointment.status == AppointmentStatus.RESCHEDULED and appointment.rescheduled_to_id:
        case_wait_for(case, appointment.rescheduled_to, by=None, now=now)
        return
    case.waiting_for = None
    case.save(update_fields=["waiting_for"])
    CaseLogEntry.objects.create(case=case, kind=CaseLogKind.WAIT_ENDED, text=text[:300], at=now)
    report.waits_ended += 1
    if appointment.status == AppointmentStatus.ATTENDED:
        if case_mark_closed(case, reason=CloseReason.ATTENDED, by=None, note="", now=now):
            report.cases_closed += 1
        return
    if appointment.status not in (AppointmentStatus.NOT_BROUGHT, AppointmentStatus.NO_ACCESS, AppointmentStatus.CANCELLED_BY_GUARDIAN):
        step_restart_deadline(case, now)
        return
    step = case.current_step
    if step is not None and step.is_active:
        changed = CaseStep.objects.filter(id=step.id, status=StepStatus.ACTIVE).update(status=StepStatus.DONE, ended_at=now, evidence=text)
        if changed:
            step.status = StepStatus.DONE
            ladder_advance(case=case, step=step, now=now, ladders=ladders)


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
            case_end_pause(case, text=text, by=None, now=now)
            report.pauses_ended += 1

