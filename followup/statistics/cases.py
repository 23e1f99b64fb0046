"""The follow-up figures: cases opened, closings (from the history a reopen never erases), how long
they took, how far cases climbed, and reports of concern."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import (
    Aggregate,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Min,
    QuerySet,
)
from django.db.models.functions import ExtractYear
from django.utils.translation import gettext_lazy

from followup.models import Case as FollowupCase
from followup.models import (
    CaseClosure,
    CaseStep,
    CloseReason,
    Decision,
    LeaderDecision,
    StepKind,
)
from followup.statistics.scope import Scope


class Median(Aggregate):
    """PostgreSQL's exact median (percentile_cont works on intervals too)."""

    function = "percentile_cont"
    name = "Median"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"


FOLLOWUP_CATEGORIES = {
    "opened": gettext_lazy("Barn med ny oppfølgingssak"),
    "closed": gettext_lazy("Barn med sak avsluttet"),
    "step": gettext_lazy("Barn med sak som nådde trinnet"),
    "concern": gettext_lazy("Barn meldt til barnevernet"),
}


def _case_base(scope: Scope) -> QuerySet:
    return FollowupCase.objects.filter(child__station_id__in=scope.station_ids)


def cases_opened(scope: Scope) -> QuerySet:
    start, end = scope.bounds()
    return _case_base(scope).filter(opened_at__gte=start, opened_at__lt=end)


def closures(scope: Scope) -> QuerySet:
    """Every closing of a round of a case in the period, from the history a reopen never erases."""
    start, end = scope.bounds()
    return CaseClosure.objects.filter(child__station_id__in=scope.station_ids, closed_at__gte=start, closed_at__lt=end)


def concern_reports(scope: Scope) -> QuerySet:
    return LeaderDecision.objects.filter(
        decision=Decision.CONCERN_REPORT,
        case__child__station_id__in=scope.station_ids,
        concern_report_date__gte=scope.start,
        concern_report_date__lte=scope.end,
    )


@dataclass
class FollowupFigures:
    opened: int
    closed: int
    median_days_to_close: float | None
    closed_by_reason: list[tuple[str, str, int]]  # (reason, label, children)
    steps_reached: list[tuple[str, str, int]]  # (kind, label, children)
    concern_reports_by_year: list[tuple[int, int]]  # (year, children)


def followup(scope: Scope) -> FollowupFigures:
    """Cases opened and closed in the period, why they closed, how long that took, how far they
    climbed, and reports of concern per year: five queries."""
    opened = cases_opened(scope).aggregate(children=Count("child_id", distinct=True))["children"]
    closed = closures(scope).aggregate(
        children=Count("child_id", distinct=True),
        median=Median(ExpressionWrapper(F("closed_at") - F("opened_at"), output_field=DurationField()), output_field=DurationField()),
    )
    by_reason = dict(
        closures(scope).values("reason").annotate(children=Count("child_id", distinct=True)).order_by().values_list(
            "reason", "children"
        )
    )
    reached = {
        row["kind"]: row
        for row in CaseStep.objects.filter(case__in=cases_opened(scope))
        .values("kind")
        .annotate(children=Count("case__child_id", distinct=True), first=Min("order"))
        .order_by()
    }
    concerns = (
        concern_reports(scope)
        .annotate(year=ExtractYear("concern_report_date"))
        .values("year")
        .annotate(children=Count("case__child_id", distinct=True))
        .order_by("year")
    )
    median = closed["median"]
    return FollowupFigures(
        opened=opened,
        closed=closed["children"],
        median_days_to_close=round(median.total_seconds() / 86400, 1) if median is not None else None,
        closed_by_reason=[(value, str(label), by_reason[value]) for value, label in CloseReason.choices if by_reason.get(value)],
        steps_reached=[
            (kind, str(StepKind(kind).label), row["children"])
            for kind, row in sorted(reached.items(), key=lambda item: item[1]["first"])
        ],
        concern_reports_by_year=[(row["year"], row["children"]) for row in concerns],
    )


