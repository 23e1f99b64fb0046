"""Closing a case: why and by whom, from the sweep, a person, the register or the GP.

``case_mark_closed`` is the one write; ``case_close`` checks the reason first. A close ends the
case's active step, clears any wait or pause, and records the closure for the statistics.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from followup.models import Case, CaseLogEntry, CaseLogKind, CaseStatus, CaseStep, CloseReason, StepStatus
from followup.statistics.closures import closure_record
from helsestasjon.models import Child, User


def case_mark_closed(case: Case, *, reason: str, by: User | None, note: str, now: datetime) -> bool:
    """The one write of a closing, inside the caller's transaction; the caller has checked the
    reason. The sweep calls it for every attendance it reads, so it opens no savepoint of its own.
    False if the case was already closed."""
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
    return case_mark_closed(case, reason=reason, by=closed_by, note=note.strip(), now=now or timezone.now())


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
    (``LadderCache.next_for``). Returns how many cases moved."""
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

