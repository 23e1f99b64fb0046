"""The work lists' reads: the open cases at the steps a role owns, for one user's stations.

Shared reads live here as functions returning querysets (and the page of one), so the views stay
one access check, one read and one render (docs/architecture.md, "Where rules live").
"""

from __future__ import annotations

from django.core.paginator import Page
from django.db.models import QuerySet

from followup.models import Case, CaseStatus


def worklist_cases(user, role: str) -> QuerySet[Case]:
    """Open cases of the user's stations whose current step the role owns, the oldest deadline first.

    Read a page of it with ``worklist_page``. The appointment a case waits for is fetched for the
    page's waiting cases only (no query when none waits): joined in, the planner hashed the whole
    appointment table to find the few the page needs, most of the list's database time
    (docs/decisions.md, "The work lists' rows").
    """
    return (
        Case.objects.filter(status=CaseStatus.OPEN, station_id__in=user.station_ids(), current_step__owner_role=role)
        .select_related("current_step")
        .prefetch_related("waiting_for")
        .order_by("current_step__deadline", "id")
    )


def worklist_page(cases: QuerySet[Case], page: Page) -> list[Case]:
    """The page's cases with their children, in one query, in the order of ``cases``.

    The page is cut in a subquery on the cases and their steps alone, and only its rows are joined to
    their children (by primary key). Joined before the cut, every open case's child was read and
    hashed before the sort could cut the page: a scan of the whole child table on each request, the
    slowest part of the clerk's list under load (docs/decisions.md, "Letters with postal sense, a demo
    with work, the clerk's list"); read after it, the children cost a query of their own.
    """
    if not page.paginator.count:
        return []
    ids = cases.values("id")[page.start_index() - 1 : page.end_index()]
    return list(cases.filter(id__in=ids).select_related("child"))
