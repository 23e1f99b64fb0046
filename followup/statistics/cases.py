"""The follow-up figures: cases opened, closings (from the history a reopen never erases), how long
they took, how far cases climbed, and reports of concern."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection
from django.db.models import (
    DurationField,
    ExpressionWrapper,
    F,
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


def _compiled(queryset: QuerySet) -> tuple[str, list]:
    sql, params = queryset.query.sql_with_params()
    return sql, list(params)


def followup(scope: Scope) -> FollowupFigures:
    """Cases opened and closed in the period, why they closed, how long that took, how far they
    climbed, and reports of concern per year: one statement.

    It reads the querysets the child lists filter by (cases_opened, closures, concern_reports),
    compiled by Django: the period's cases and closings once each, then every figure from them
    (five statements of their own cost about twice as much, each joining the children again). The
    steps of the opened cases are read case by case (LATERAL, by the index on case_id; OFFSET 0 keeps
    the planner from flattening it): it would otherwise hash every step of every case.
    """
    opened_sql, opened_params = _compiled(cases_opened(scope).values("id", "child_id").order_by())
    closed_sql, closed_params = _compiled(
        closures(scope).annotate(took=ExpressionWrapper(F("closed_at") - F("opened_at"), output_field=DurationField()))
        .values("child_id", "reason", "took").order_by()
    )
    concern_sql, concern_params = _compiled(
        concern_reports(scope).annotate(year=ExtractYear("concern_report_date")).values("year", "case__child_id").order_by()
    )
    step_table = connection.ops.quote_name(CaseStep._meta.db_table)
    sql = f"""
        WITH opened AS MATERIALIZED ({opened_sql}), closed AS MATERIALIZED ({closed_sql})
        SELECT 'opened', NULL::text, count(DISTINCT child_id), NULL::integer, NULL::interval FROM opened
        UNION ALL SELECT 'closed', reason, count(DISTINCT child_id), NULL, percentile_cont(0.5) WITHIN GROUP (ORDER BY took)
                    FROM closed GROUP BY GROUPING SETS ((), (reason))
        UNION ALL SELECT 'step', s.kind, count(DISTINCT o.child_id), min(s."order"), NULL
                    FROM opened AS o CROSS JOIN LATERAL (SELECT kind, "order" FROM {step_table} WHERE case_id = o.id OFFSET 0) AS s
                   GROUP BY s.kind
        UNION ALL SELECT 'concern', NULL, count(DISTINCT child_id), year::integer, NULL
                    FROM ({concern_sql}) AS concerns (year, child_id) GROUP BY year
    """
    opened, closed, median = 0, 0, None
    by_reason: dict[str, int] = {}
    reached: dict[str, tuple[int, int]] = {}  # kind -> (children, first order)
    concerns: dict[int, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [*opened_params, *closed_params, *concern_params])
        for kind, key, children, first, took in cursor.fetchall():
            if kind == "opened":
                opened = children
            elif kind == "closed" and key is None:
                closed, median = children, took
            elif kind == "closed":
                by_reason[key] = children
            elif kind == "step":
                reached[key] = (children, first)
            else:
                concerns[first] = children  # the year
    return FollowupFigures(
        opened=opened,
        closed=closed,
        median_days_to_close=round(median.total_seconds() / 86400, 1) if median is not None else None,
        closed_by_reason=[(value, str(label), by_reason[value]) for value, label in CloseReason.choices if by_reason.get(value)],
        steps_reached=[
            (kind, str(StepKind(kind).label), children)
            for kind, (children, _first) in sorted(reached.items(), key=lambda item: item[1][1])
        ],
        concern_reports_by_year=sorted(concerns.items()),
    )
