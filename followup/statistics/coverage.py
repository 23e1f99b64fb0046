"""The cohort coverage: each of the 14 consultations counted in the year its window closes.

Every consultation in the cohort gets exactly one category, computed in the database from
its row of the statistics summary (``StatisticsConsultation``, kept by triggers) and today;
each figure is a union of some categories, and the list behind a figure is the same base
filtered to the same categories. The rules are written out in docs/decisions.md under
"Statistics".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Case, CharField, Count, F, Q, QuerySet, Value, When
from django.utils.translation import gettext_lazy

from attendance.models import ConsultationState, ProgrammeStep
from followup.statistics.models import StatisticsConsultation
from followup.statistics.scope import Scope, share

# (key, label, shown as a column in the coverage table, share of "due")
COVERAGE_CATEGORIES = [
    ("due", gettext_lazy("Aktuelle (nevner)"), True, False),
    ("in_window", gettext_lazy("Gjennomført i tide"), True, True),
    ("late", gettext_lazy("Gjennomført for sent"), True, True),
    ("expired", gettext_lazy("Utløpt uten oppmøte"), True, True),
    ("open", gettext_lazy("Fortsatt åpen"), True, True),
    ("not_applicable", gettext_lazy("Ikke aktuell (kom etter vinduet)"), True, False),
    ("left", gettext_lazy("Flyttet eller død før vinduet lukket"), True, False),
    ("closed", gettext_lazy("Vinduet lukket (nevner for KOSTRA)"), False, False),
    ("in_window_closed", gettext_lazy("Gjennomført i tide, vinduet lukket (teller for KOSTRA)"), False, False),
]
COVERAGE_LABELS = {key: label for key, label, _shown, _share in COVERAGE_CATEGORIES}

# Each figure as a union of the one category every consultation gets.
COVERAGE_GROUPS: dict[str, tuple[str, ...]] = {
    "due": ("in_window_closed", "in_window_open", "late", "late_open", "expired", "open"),
    "in_window": ("in_window_closed", "in_window_open"),
    "late": ("late", "late_open"),
    "expired": ("expired",),
    "open": ("open",),
    "not_applicable": ("not_applicable",),
    "left": ("left",),
    "closed": ("in_window_closed", "late", "expired"),
    "in_window_closed": ("in_window_closed",),
}


def coverage_category(today: date) -> Case:
    """The one category of a consultation, tried in order: a completed consultation is never
    "left" (a child seen before moving counts); a child who moved, emigrated or died before the
    window closed is "left"; a child who aged out is still counted (every window had closed)."""
    completed = Q(state=ConsultationState.COMPLETED)
    closed = Q(window_closes__lte=today)
    return Case(
        When(state=ConsultationState.NOT_APPLICABLE, then=Value("not_applicable")),
        When(completed & closed & Q(in_time=True), then=Value("in_window_closed")),
        When(completed & closed, then=Value("late")),
        When(completed & Q(in_time=True), then=Value("in_window_open")),
        When(completed, then=Value("late_open")),
        When(left_on__lt=F("window_closes"), then=Value("left")),
        When(closed, then=Value("expired")),
        default=Value("open"),
        output_field=CharField(),
    )


def coverage_base(scope: Scope) -> QuerySet:
    """Consultations that fall due in the period (the last day of the window lies in it), each with
    its ``category``."""
    return StatisticsConsultation.objects.filter(
        station_id__in=scope.station_ids,
        window_closes__gt=scope.start,
        window_closes__lte=scope.end + timedelta(days=1),
    ).annotate(category=coverage_category(scope.today))


@dataclass
class CoverageRow:
    step: ProgrammeStep | None  # None for the total row
    counts: dict[str, int]

    def share(self, key: str) -> float | None:
        return share(self.counts.get(key, 0), self.counts.get("due", 0))


@dataclass
class Coverage:
    rows: list[CoverageRow]
    total: CoverageRow
    by_station: dict[int, dict[int, dict[str, int]]] = field(default_factory=dict)  # station -> step -> counts

    def row_for(self, code: str) -> CoverageRow | None:
        return next((row for row in self.rows if row.step and row.step.code == code), None)


def coverage(scope: Scope, steps: list[ProgrammeStep]) -> Coverage:
    """Per station, consultation and category, how many consultations: one query.

    The database returns at most stations x 14 x 8 rows whatever the number of
    children; they are summed into the figures here.
    """
    grouped = coverage_base(scope).values("station_id", "step_id", "category").annotate(n=Count("pk")).order_by()
    empty = dict.fromkeys(COVERAGE_GROUPS, 0)
    by_station: dict[int, dict[int, dict[str, int]]] = {}
    by_step: dict[int, dict[str, int]] = {}
    for row in grouped:
        counts = by_station.setdefault(row["station_id"], {}).setdefault(row["step_id"], dict(empty))
        total = by_step.setdefault(row["step_id"], dict(empty))
        for key, members in COVERAGE_GROUPS.items():
            if row["category"] in members:
                counts[key] += row["n"]
                total[key] += row["n"]
    rows = [CoverageRow(step=step, counts=by_step.get(step.pk, dict(empty))) for step in steps]
    total = CoverageRow(step=None, counts={key: sum(row.counts[key] for row in rows) for key in COVERAGE_GROUPS})
    return Coverage(rows=rows, total=total, by_station=by_station)
