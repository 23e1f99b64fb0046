"""The work lists' reads: the open cases at the steps a role owns, for one user's stations.

Shared reads live here as functions returning querysets, so the views stay one access check,
one read and one render (docs/architecture.md, "Where rules live").
"""

from __future__ import annotations

from django.db.models import QuerySet

from followup.models import Case, CaseStatus


def worklist_cases(user, role: str) -> QuerySet[Case]:
    """Open cases of the user's stations whose current step the role owns, the oldest deadline first.

    The list's order and page are cut in a join of the cases and their current steps alone; the
    children are read afterwards for the page's rows only (one more query, the same for any number
    of cases). Joined in, every open case's child was read and hashed before the sort could cut the
    page: a scan of the whole child table on each request, the slowest part of the clerk's list under
    load (docs/decisions.md, "Letters with postal sense, a demo with work, the clerk's list").

    The appointment a case waits for is read the same way, for the page's waiting cases only (no
    query when none waits): joined in, the planner hashed the whole appointment table to find the
    few the page needs, the largest part of the list's database time (docs/decisions.md, "The work
    lists' rows").
    """
    return (
        Case.objects.filter(status=CaseStatus.OPEN, station_id__in=user.station_ids(), current_step__owner_role=role)
        .select_related("current_step")
        .prefetch_related("child", "waiting_for")
        .order_by("current_step__deadline", "id")
    )
