"""The programme's plan for a child and the consultations' states (planned, due, booked, completed, expired).

A consultation's state is derived from its window and its appointments; the periodic advance moves
windows that opened or closed, in locked batches.
"""

from __future__ import annotations

from datetime import date, datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from attendance.hooks import outcome_recorded_notify
from attendance.models import AppointmentStatus, Consultation, ConsultationState, ProgrammeStep
from helsestasjon.models import Child, ChildStatus


def _initial_state(*, opens: date, closes: date, today: date) -> ConsultationState:
    if closes <= today:
        return ConsultationState.NOT_APPLICABLE
    if opens <= today:
        return ConsultationState.DUE
    return ConsultationState.PLANNED


def consultation_for_step(*, child: Child, step: ProgrammeStep, today: date, now: datetime) -> Consultation:
    """An unsaved plan item for one step, in the state the child's arrival gives it.

    A window that closed before the child arrived is *not applicable*, never missed.
    """
    opens, closes = step.window_for(child.birth_date)
    state = _initial_state(opens=opens, closes=closes, today=today)
    return Consultation(
        child=child,
        step=step,
        state=state,
        window_opens=opens,
        window_closes=closes,
        planned_at=now,
        due_at=now if state == ConsultationState.DUE else None,
        not_applicable_at=now if state == ConsultationState.NOT_APPLICABLE else None,
        state_changed_at=now,
    )


@transaction.atomic
def child_plan(*, child: Child, today: date | None = None) -> list[Consultation]:
    """Create the consultations the child does not have yet. Safe to run twice or concurrently.

    Returns the consultations created by this call.
    """
    today = today or timezone.localdate()
    now = timezone.now()
    existing = set(Consultation.objects.filter(child=child).values_list("step_id", flat=True))
    rows = [
        consultation_for_step(child=child, step=step, today=today, now=now)
        for step in ProgrammeStep.objects.order_by("order")
        if step.pk not in existing
    ]
    # A concurrent plan of the same child inserts the same (child, step) pairs;
    # the unique constraint keeps one of each.
    Consultation.objects.bulk_create(rows, ignore_conflicts=True)
    return rows


def consultation_set_state(consultation: Consultation, state: str, now: datetime) -> None:
    if consultation.state == state:
        return
    if consultation.state == ConsultationState.COMPLETED:
        # A corrected outcome undid the attendance.
        consultation.completed_at = None
    consultation.state = state
    consultation.state_changed_at = now
    if state == ConsultationState.DUE and consultation.due_at is None:
        consultation.due_at = now
    elif state == ConsultationState.BOOKED:
        consultation.booked_at = now
    elif state == ConsultationState.COMPLETED:
        consultation.completed_at = now
    elif state == ConsultationState.EXPIRED and consultation.expired_at is None:
        # The first expiry is kept: follow-up counts from when the window closed unattended.
        consultation.expired_at = now


def consultation_refresh(*, consultation: Consultation, today: date | None = None) -> Consultation:
    """Derive the consultation's state from its appointments and its window.

    Completed by the first attended appointment; booked while an appointment is
    open; otherwise planned, due or expired by the window. Call with the row locked.
    """
    today = today or timezone.localdate()
    now = timezone.now()
    statuses = set(consultation.appointments.values_list("status", flat=True))
    if AppointmentStatus.ATTENDED in statuses:
        state = ConsultationState.COMPLETED
    elif AppointmentStatus.BOOKED in statuses:
        state = ConsultationState.BOOKED
    elif consultation.state == ConsultationState.NOT_APPLICABLE:
        state = ConsultationState.NOT_APPLICABLE
    elif today < consultation.window_opens:
        state = ConsultationState.PLANNED
    elif today < consultation.window_closes or consultation.child.status != ChildStatus.ACTIVE:
        # A child who has left is not followed up, so its consultations never expire.
        state = ConsultationState.DUE
    else:
        state = ConsultationState.EXPIRED
    if state != consultation.state:
        consultation_set_state(consultation, state, now)
        consultation.save(
            update_fields=["state", "state_changed_at", "due_at", "booked_at", "completed_at", "expired_at"]
        )
    return consultation


ADVANCE_BATCH = 5000


def _advance(condition: Q, **values) -> int:
    """Move the consultations matching ``condition`` in locked batches; returns how many moved.

    Rows are claimed with SELECT ... FOR UPDATE SKIP LOCKED in id order, so two
    runs at once split the work instead of deadlocking, and a row being booked
    right now is left for the next run. The UPDATE repeats the condition, so a row
    that changed state since it was selected is not moved.
    """
    moved = 0
    while True:
        with transaction.atomic():
            ids = list(
                Consultation.objects.filter(condition)
                .order_by("id")
                .select_for_update(skip_locked=True)
                .values_list("id", flat=True)[:ADVANCE_BATCH]
            )
            if not ids:
                return moved
            moved += Consultation.objects.filter(condition, id__in=ids).update(**values)


def consultations_advance_states(*, today: date | None = None) -> dict[str, int]:
    """Planned -> due when the window opens, planned/due -> expired when it closes.

    Safe to run twice or concurrently: every row moves exactly once (see _advance).
    Children who have left the station are not moved.
    """
    today = today or timezone.localdate()
    now = timezone.now()
    active = Child.objects.filter(status=ChildStatus.ACTIVE).values("id")
    due = _advance(
        Q(state=ConsultationState.PLANNED, window_opens__lte=today, window_closes__gt=today, child_id__in=active),
        state=ConsultationState.DUE, due_at=now, state_changed_at=now,
    )
    expired = _advance(
        Q(state__in=[ConsultationState.PLANNED, ConsultationState.DUE], window_closes__lte=today, child_id__in=active),
        state=ConsultationState.EXPIRED, expired_at=now, state_changed_at=now,
    )
    if expired:
        outcome_recorded_notify()  # An expiry is a follow-up trigger too.
    return {"due": due, "expired": expired}
