"""The appointment figures: children not brought, cancelled and seen, per consultation, per month,
by reason and by recurrence, counted in one pass over the statistics summary.

Each figure is a condition on one row of ``appointment_base`` (the period's appointments with a
recorded outcome, one row each in ``StatisticsAppointment``, kept by triggers): the Q its child
list filters by, and the bit the database computes from the same condition (outcome_bits.py) for
the one-pass aggregate. A figure counts children, so it equals the number of children its list
shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import connection
from django.db.models import BooleanField, Case, Count, IntegerField, Q, QuerySet, Value, When
from django.utils.translation import gettext, gettext_lazy

from attendance.models import AppointmentStatus, ProgrammeStep, Reason
from followup.statistics import kostra
from followup.statistics.models import StatisticsAppointment
from followup.statistics.outcome_bits import (
    APPOINTMENT_CONDITIONS,
    FIGURE_BIT,
    NOT_BROUGHT_STATUSES,
    RECORDED_STATUSES,
    RowCondition,
)
from followup.statistics.scope import FigureError, Scope, months_in, share

# (key, label, share of "with_outcome")
APPOINTMENT_CATEGORIES = [
    ("with_outcome", gettext_lazy("Barn med registrert time"), False),
    ("attended", gettext_lazy("Møtt"), True),
    ("not_brought", gettext_lazy("Ikke møtt (inkl. ingen hjemme)"), True),
    ("cancelled_by_guardian", gettext_lazy("Avbestilt av foresatte"), True),
    ("cancelled_by_service", gettext_lazy("Avlyst av helsestasjonen"), True),
    ("cancelled_by_register", gettext_lazy("Avlyst: flyttet eller død (Folkeregisteret)"), False),
]
APPOINTMENT_LABELS = {key: label for key, label, _share in APPOINTMENT_CATEGORIES}

APPOINTMENT_FILTERS = {key: condition.q() for key, condition in APPOINTMENT_CONDITIONS.items()}
TREND_FILTERS = {key: APPOINTMENT_FILTERS[key] for key in ("with_outcome", "not_brought", "cancelled_by_guardian")}

# The statuses behind each reason column; a reason is only recorded with these.
REASON_GROUPS = {
    "not_brought": NOT_BROUGHT_STATUSES,
    "cancelled_by_guardian": (AppointmentStatus.CANCELLED_BY_GUARDIAN,),
}
REASON_STATUSES = tuple(status for statuses in REASON_GROUPS.values() for status in statuses)
# The pass reads a reason column's statuses from its outcome figure's bit, and the recurrence from
# "not_brought": they must be the same statuses.
assert all(APPOINTMENT_CONDITIONS[key] == RowCondition(tuple(statuses)) for key, statuses in REASON_GROUPS.items())
REASON_GROUP_LABELS = {"not_brought": gettext_lazy("Ikke møtt"), "cancelled_by_guardian": gettext_lazy("Avbestilt av foresatte")}
NO_REASON = "none"  # the URL value for "no reason given"

RECURRENCE_BUCKETS = {
    "once": (gettext_lazy("Én gang"), Q(missed=1)),
    "twice": (gettext_lazy("To ganger"), Q(missed=2)),
    "three_or_more": (gettext_lazy("Tre ganger eller mer"), Q(missed__gte=3)),
}


def appointment_base(scope: Scope) -> QuerySet:
    """Appointments in the period with a recorded outcome (moved appointments are not counted;
    the appointment they were moved to is), counted at the station the child belongs to now."""
    start, end = scope.bounds()
    return StatisticsAppointment.objects.filter(
        station_id__in=scope.station_ids, starts_at__gte=start, starts_at__lt=end, status__in=RECORDED_STATUSES
    )


def reason_filter(reason: str) -> Q:
    if reason == NO_REASON:
        return Q(reason="")
    if reason not in Reason.values:
        raise FigureError(gettext("Ukjent årsak."))
    return Q(reason=reason)


def missed_per_child(scope: Scope) -> QuerySet:
    return (
        appointment_base(scope)
        .filter(status__in=NOT_BROUGHT_STATUSES)
        .values("child_id")
        .annotate(missed=Count("pk"))
        .order_by()
    )


# --- the figures ---------------------------------------------------------------------------------


@dataclass
class AppointmentRow:
    step: ProgrammeStep | None
    counts: dict[str, int]

    def share(self, key: str) -> float | None:
        return share(self.counts.get(key, 0), self.counts.get("with_outcome", 0))


@dataclass
class MonthRow:
    month: date
    counts: dict[str, int]

    def share(self, key: str) -> float | None:
        return share(self.counts.get(key, 0), self.counts.get("with_outcome", 0))


@dataclass
class ReasonRow:
    reason: str  # the Reason value, or NO_REASON
    label: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class AppointmentFigures:
    rows: list[AppointmentRow]  # per consultation
    total: AppointmentRow  # over all consultations (a child counts once)
    recurrence: dict[str, int]
    months: list[MonthRow]
    reasons: list[ReasonRow]
    # KOSTRA numerators of the year asked for: station -> measure key -> children.
    kostra_numerators: dict[int, dict[str, int]] = field(default_factory=dict)


def _kostra_bits(year: int | None, steps: list[ProgrammeStep]) -> Case | None:
    """One bit per KOSTRA measure (in kostra.SSB_MEASURES order), set where the row is an attended
    appointment of the year that meets it (kostra.numerator_condition: the measure's step and its
    condition); None without a KOSTRA year.

    Written as one test of status and year, then one of the step (by id), then the measures of that
    step: per row a few comparisons rather than every measure's whole condition, which made this
    expression the costliest part of the pass."""
    if year is None:
        return None
    start, end = kostra.year_bounds(year)
    step_ids = _step_ids(steps, {m.step_code for m in kostra.SSB_MEASURES})
    per_step: dict[int, list] = {}
    for i, m in enumerate(kostra.SSB_MEASURES):
        if m.step_code not in step_ids:
            continue  # no such consultation in the programme: as the subquery of numerator_condition finds none
        bit = Value(1 << i)
        flag = Case(When(m.condition, then=bit), default=Value(0)) if m.condition else bit
        per_step.setdefault(step_ids[m.step_code], []).append(flag)
    if not per_step:
        return Value(0)
    by_step = Case(
        *(When(step_id=step_id, then=sum(flags[1:], flags[0])) for step_id, flags in per_step.items()),
        default=Value(0), output_field=IntegerField(),
    )  # distinct bits, so the sum is their OR
    in_year = Q(status=AppointmentStatus.ATTENDED, starts_at__gte=start, starts_at__lt=end)
    return Case(When(in_year, then=by_step), default=Value(0), output_field=IntegerField())


def _step_ids(steps: list[ProgrammeStep], codes: set[str]) -> dict[str, int]:
    """The ids of the consultations with these codes: from the page's list, else from the database."""
    known = {step.code: step.pk for step in steps if step.code in codes}
    if len(known) < len(codes):
        known = dict(ProgrammeStep.objects.filter(code__in=codes).values_list("code", "id"))
    return known


def whole_year(scope: Scope, kostra_year: int | None) -> bool:
    """The period is one calendar year (and the KOSTRA year, if any, is that year): the pass counts
    children from the rows' first bits instead of grouping the year's rows by child."""
    year = scope.start.year
    return (scope.start, scope.end) == (date(year, 1, 1), date(year, 12, 31)) and kostra_year in (None, year)


def _pass_rows(scope: Scope, kostra_year: int | None, steps: list[ProgrammeStep]) -> tuple[str, list]:
    """The rows the pass reads: the period (widened to the KOSTRA year) with an ``in_period`` flag,
    the figure bits and the first bits, the reason only where a reason column reads it, and the
    KOSTRA bits (0 without a year)."""
    period_start, period_end = scope.bounds()
    kbits = _kostra_bits(kostra_year, steps)
    widened = scope.widened_to_year(kostra_year)
    in_period = Case(When(starts_at__gte=period_start, starts_at__lt=period_end, then=Value(True)), default=Value(False),
                     output_field=BooleanField())
    base = appointment_base(widened).annotate(
        in_period=Value(True) if widened == scope else in_period,
        kbits=Value(0) if kbits is None else kbits,
    ).values(
        "child_id", "step_id", "status", "month", "reason", "station_id", "in_period", "kbits", "bits",
        "year_first_bits", "step_first_bits", "month_first_bits",
    ).order_by()
    base_sql, base_params = base.query.sql_with_params()
    sql = (
        "SELECT child_id, step_id AS step, month, CASE WHEN status = ANY(%s) THEN reason END AS reason, "
        "station_id AS station, in_period, kbits, bits, year_first_bits, step_first_bits, month_first_bits "
        f"FROM ({base_sql}) AS rows"
    )
    return sql, [list(REASON_STATUSES), *base_params]


def _kostra_sql(with_kostra: bool, width: int) -> str:
    """Children per station meeting each measure (a child counts once per measure): first one row
    per station and child, then plain counts (cheaper than a sorting count(DISTINCT) per measure)."""
    if not with_kostra:
        return ""
    measures = len(kostra.SSB_MEASURES)
    counts = ", ".join(f"count(*) FILTER (WHERE kbits & {1 << i} <> 0)" for i in range(measures))
    return (
        f"UNION ALL SELECT 'kostra', station, NULL, NULL, {counts}{', 0' * (width - measures)} "
        "FROM (SELECT station, child_id, bit_or(kbits) AS kbits FROM appts WHERE kbits <> 0 "
        "GROUP BY station, child_id) AS kostra_children GROUP BY station"
    )


def _counts(column: str) -> str:
    return ", ".join(f"count(*) FILTER (WHERE {column} & {bit} <> 0)" for bit in FIGURE_BIT.values())


def _pass_sql(rows_sql: str, with_kostra: bool, *, whole_year: bool) -> str:
    """The one-pass aggregate over ``rows_sql``.

    Each row carries its figures as bits of one integer (``StatisticsAppointment.bits``), so a
    grouping ORs one integer (bit_or) rather than aggregating a boolean per figure. A figure counts
    children: in general the period's rows are first reduced to one row per child and consultation,
    per child, and per child and month. For a calendar year (``whole_year``) the rows' first bits
    say the same without that reduction: a row's ``step_first_bits`` are the bits no earlier row of
    its child, consultation and year carried, so counting rows by them counts children (likewise
    ``year_first_bits`` for the whole year and ``month_first_bits`` per month). The reasons, the
    recurrence and SSB's numerators group few rows and are counted alike in both.
    """
    width = len(APPOINTMENT_CONDITIONS)
    # A reason column's statuses are its outcome figure's (checked below REASON_GROUPS), so its bit says it.
    reason_flags = ", ".join(f"bool_or(bits & {FIGURE_BIT[key]} <> 0) AS {key}" for key in REASON_GROUPS)
    reason_counts = ", ".join(f"count(*) FILTER (WHERE {key})" for key in REASON_GROUPS)
    shared = f"""
        missed AS (SELECT child_id, count(*) AS n FROM period WHERE bits & {FIGURE_BIT["not_brought"]} <> 0 GROUP BY child_id),
        per_reason AS (SELECT child_id, reason, {reason_flags} FROM period WHERE reason IS NOT NULL GROUP BY child_id, reason)"""
    if whole_year:
        figures = f"""{shared}
        SELECT 'step', step, NULL::date, NULL::text, {_counts("step_first_bits")} FROM period GROUP BY step
        UNION ALL SELECT 'total', NULL, NULL, NULL, {_counts("year_first_bits")} FROM period
        UNION ALL SELECT 'month', NULL, month, NULL, {_counts("month_first_bits")} FROM period GROUP BY month"""
    else:
        figures = f"""
        per_step AS (SELECT child_id, step, bit_or(bits) AS bits FROM period GROUP BY child_id, step),
        per_child AS (SELECT child_id, bit_or(bits) AS bits FROM per_step GROUP BY child_id),
        per_month AS (SELECT child_id, month, bit_or(bits) AS bits FROM period GROUP BY child_id, month),{shared}
        SELECT 'step', step, NULL::date, NULL::text, {_counts("bits")} FROM per_step GROUP BY step
        UNION ALL SELECT 'total', NULL, NULL, NULL, {_counts("bits")} FROM per_child
        UNION ALL SELECT 'month', NULL, month, NULL, {_counts("bits")} FROM per_month GROUP BY month"""
    return f"""
        WITH appts AS MATERIALIZED ({rows_sql}),
        period AS NOT MATERIALIZED (SELECT * FROM appts WHERE in_period),{figures}
        UNION ALL SELECT 'recurrence', NULL, NULL, NULL, count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n = 2),
                         count(*) FILTER (WHERE n >= 3){", 0" * (width - 3)} FROM missed
        UNION ALL SELECT 'reason', NULL, NULL, reason, {reason_counts}{", 0" * (width - len(REASON_GROUPS))} FROM per_reason GROUP BY reason
        {_kostra_sql(with_kostra, width)}
    """


@dataclass
class _PassResult:
    by_step: dict = field(default_factory=dict)
    by_month: dict = field(default_factory=dict)
    by_reason: dict = field(default_factory=dict)
    total: dict | None = None
    recurrence: dict = field(default_factory=dict)
    kostra: dict = field(default_factory=dict)


def _read_pass(rows) -> _PassResult:
    keys = list(APPOINTMENT_CONDITIONS)
    found = _PassResult()
    for kind, step_id, month, reason, *values in rows:
        figures = dict(zip(keys, values))
        if kind == "step":
            found.by_step[step_id] = figures
        elif kind == "month":
            # DATE_TRUNC of a local timestamp may come back as a naive datetime at local midnight.
            found.by_month[month.date() if isinstance(month, datetime) else month] = figures
        elif kind == "total":
            found.total = figures
        elif kind == "reason":
            found.by_reason[reason] = dict(zip(REASON_GROUPS, values))
        elif kind == "kostra":
            found.kostra[step_id] = {m.key: n for m, n in zip(kostra.SSB_MEASURES, values)}
        else:
            found.recurrence = dict(zip(RECURRENCE_BUCKETS, values))
    return found


def _reason_rows(found: dict[str, dict[str, int]]) -> list[ReasonRow]:
    rows = []
    for value, label in [*Reason.choices, (NO_REASON, gettext("Ikke oppgitt"))]:
        counts = found.get("" if value == NO_REASON else value)
        if counts and any(counts.values()):
            rows.append(ReasonRow(reason=value, label=str(label), counts=counts))
    return sorted(rows, key=lambda row: -row.total)


def appointment_figures(
    scope: Scope, steps: list[ProgrammeStep], *, kostra_year: int | None = None, by_first_bits: bool = True
) -> AppointmentFigures:
    """Every appointment figure, and with ``kostra_year`` SSB's numerators of that year, in one query.

    The period's rows (``appointment_base``, compiled by Django) are read once into a
    materialised CTE and counted as ``_pass_sql`` says: by their first bits for a calendar year,
    else reduced to one row per child first. ``by_first_bits=False`` takes the general way for a
    calendar year too (the tests compare the two).
    """
    rows_sql, rows_params = _pass_rows(scope, kostra_year, steps)
    sql = _pass_sql(rows_sql, kostra_year is not None, whole_year=whole_year(scope, kostra_year) if by_first_bits else False)
    with connection.cursor() as cursor:
        cursor.execute(sql, rows_params)
        found = _read_pass(cursor.fetchall())
    empty = dict.fromkeys(APPOINTMENT_CONDITIONS, 0)
    return AppointmentFigures(
        rows=[AppointmentRow(step=step, counts=found.by_step.get(step.pk, dict(empty))) for step in steps],
        total=AppointmentRow(step=None, counts=found.total or dict(empty)),
        recurrence=found.recurrence or dict.fromkeys(RECURRENCE_BUCKETS, 0),
        months=[
            MonthRow(month=month, counts={key: found.by_month.get(month, empty)[key] for key in TREND_FILTERS})
            for month in months_in(scope)
        ],
        reasons=_reason_rows(found.by_reason),
        kostra_numerators=found.kostra,
    )
