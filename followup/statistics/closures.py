"""The history of closings that the follow-up figures count (a reopen never erases one)."""

from __future__ import annotations

from datetime import datetime

from followup.models import Case, CaseLogEntry, CaseLogKind
from followup.statistics.models import CaseClosure


def round_opened_at(case_id: int, opened_at: datetime) -> datetime:
    """When the case's current round began: its last reopening, or its opening."""
    reopened = (
        CaseLogEntry.objects.filter(case_id=case_id, kind=CaseLogKind.REOPENED).order_by("-at", "-id").values_list("at", flat=True).first()
    )
    return reopened or opened_at


def closure_record(*, case_id: int, reason: str, by, at: datetime) -> CaseClosure:
    """Write the closing of the case's current round (called where a case is closed).

    Safe to call twice for one round: the first row stands.
    """
    case = Case.objects.values("child_id", "cycle", "opened_at").get(pk=case_id)
    closure, _created = CaseClosure.objects.get_or_create(
        case_id=case_id,
        cycle=case["cycle"],
        defaults={
            "child_id": case["child_id"], "opened_at": round_opened_at(case_id, case["opened_at"]), "closed_at": at,
            "reason": reason, "closed_by": by,
        },
    )
    return closure
