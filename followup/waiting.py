"""When the ladder stands still: an agreed time the case waits for, a pause, and their ends.

A waiting or paused case moves no step and gets no ladder letter or SMS; the sweep's waiting and
pause passes (``followup.sweep``) end the waits, and ``step_restart_deadline`` gives the step
its full deadline again when the ladder moves on.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext

from attendance.models import Appointment, AppointmentStatus
from followup.models import Case, CaseLogEntry, CaseLogKind, CaseStatus, CaseStep, CaseTrigger, PauseReason, StepKind, StepStatus
from followup.steps import StepNotActive
from followup.workdays import add_working_days
from helsestasjon.models import User


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


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
            case_wait_for(case, Appointment.objects.get(pk=appointment_id), by=None, now=now)
    return len(found)


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
    """End a pause before its day (the family is back, the specialist has let go)."""
    now = _now(now)
    case = Case.objects.select_for_update(of=("self",)).select_related("current_step__ladder_step").get(pk=case.pk)
    if not case.is_open or case.paused_until is None:
        raise ValidationError(gettext("Saken er ikke på pause."))
    case_end_pause(case, text=gettext("Pausen ble avsluttet"), by=user, now=now)
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


def case_wait_for(case: Case, appointment: Appointment, *, by: User | None, now: datetime) -> None:
    """The ladder waits for ``appointment``: no step moves, no ladder letter or SMS, until its outcome."""
    when = timezone.localtime(appointment.starts_at)
    case.waiting_for = appointment
    case.overdue_since = None
    case.save(update_fields=["waiting_for", "overdue_since"])
    CaseLogEntry.objects.create(
        case=case, kind=CaseLogKind.WAITING, by=by, at=now,
        text=gettext("Venter på timen %(date)s kl. %(time)s") % {"date": f"{when:%d.%m.%Y}", "time": f"{when:%H:%M}"},
    )


def case_end_pause(case: Case, *, text: str, by: User | None, now: datetime, restart_deadline: bool = True) -> None:
    """The pause ends (on its day, early, or by hand) and the current step's deadline starts again."""
    Case.objects.filter(pk=case.pk).update(paused_until=None, pause_reason="", paused_at=None)
    case.paused_until, case.pause_reason, case.paused_at = None, "", None
    CaseLogEntry.objects.create(case=case, kind=CaseLogKind.RESUMED, text=text[:300], by=by, at=now)
    if restart_deadline:
        step_restart_deadline(case, now)


def step_restart_deadline(case: Case, now: datetime) -> None:
    """The current step starts its deadline again from today (the ladder stood still meanwhile)."""
    step = case.current_step
    if step is None or not step.is_active:
        return
    days = step.ladder_step.deadline_working_days if step.ladder_step_id and step.ladder_step else 5
    deadline = add_working_days(timezone.localdate(now), days)
    CaseStep.objects.filter(pk=step.pk, status=StepStatus.ACTIVE).update(deadline=deadline, overdue=False)
    step.deadline, step.overdue = deadline, False

