"""The leader's figures, counted in the database.

Every figure is a conditional count (``Count(..., filter=Q(...))``) over one base
queryset, and the list of children behind a figure is the same base queryset
filtered by the same ``Q``. A figure and its list therefore cannot disagree, and a
share's numerator is a subset of its denominator by construction: the numerator's
``Q`` is always the denominator's ``Q`` and something more.

The cohort rules are written out in docs/decisions.md under "Statistics". The follow-up
figures are in cases.py, SSB's KOSTRA in kostra.py, the registry of figures in figures.py.
This module is a little over 500 lines because the one-pass appointment aggregate and the
querysets its child lists filter are kept side by side, so the two cannot drift apart.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    DateField,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from attendance.models import (
    REGISTER_REASONS,
    Appointment,
    AppointmentStatus,
    Consultation,
    ConsultationState,
    OutcomeEvent,
    ProgrammeStep,
    Reason,
)
from followup.statistics import kostra
from helsestasjon.models import ChildStatus, Station


class FigureError(ValueError):
    """An unknown figure, category or parameter in a request for a child list."""


@dataclass(frozen=True)
class Scope:
    """Which children and which days a page counts: stations, an inclusive period, and today."""

    station_ids: tuple[int, ...]
    start: date
    end: date  # inclusive
    today: date

    def bounds(self) -> tuple[datetime, datetime]:
        """Aware start of the first day and end (exclusive) of the last day, local time."""
        return _local_midnight(self.start), _local_midnight(self.end + timedelta(days=1))


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


@contextmanager
def analytic_queries():
    """Run the page's aggregates in one transaction with PostgreSQL's JIT compiler off and room
    to group in memory.

    The planner prices these aggregates with their correlated subqueries high
    enough to JIT-compile them, which costs more (about 150 ms) than the query
    itself; grouping 100,000 appointments by child spills to disk with the default
    4 MB of work_mem. SET LOCAL ends with the transaction.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off; SET LOCAL work_mem = '32MB'")
        yield


# --- Coverage: the 14 consultations ----------------------------------------------------------

# A child whose journal says it left the area (the register reports a move, an
# emigration or a death). A child who aged out is still counted: that happens
# after every window has closed.
LEFT_STATUSES = (ChildStatus.MOVED, ChildStatus.EMIGRATED, ChildStatus.DECEASED)

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


# Every consultation in the cohort gets exactly one of these, computed once per
# row in the database; each figure is a union of some of them.
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
    """The one category of a consultation (needs ``in_time`` and ``left_on`` from ``coverage_base``).

    The branches are tried in order, so a completed consultation is never "left"
    (a child seen before moving counts), and ``in_time`` is evaluated at most once
    per row: every branch that reads it is preceded by cheaper tests on the row.
    """
    completed = Q(state=ConsultationState.COMPLETED)
    closed = Q(window_closes__lte=today)
    return Case(
        When(state=ConsultationState.NOT_APPLICABLE, then=Value("not_applicable")),
        When(completed & closed & Q(in_time=True), then=Value("in_window_closed")),
        When(completed & closed, then=Value("late")),
        When(completed & Q(in_time=True), then=Value("in_window_open")),
        When(completed, then=Value("late_open")),
        When(Q(child__status__in=LEFT_STATUSES) & Q(left_on__lt=F("window_closes")), then=Value("left")),
        When(closed, then=Value("expired")),
        default=Value("open"),
        output_field=CharField(),
    )


def coverage_base(scope: Scope) -> QuerySet:
    """Consultations that fall due in the period (the last day of the window lies in it), each with
    its ``category``.

    ``in_time``: the child was seen before the window closed, judged by the day of
    the attended appointment (not the day the outcome was typed in) or, failing
    that, by the day the consultation was marked completed. ``left_on`` is the
    local date the child's status last changed.
    """
    attended_in_time = Appointment.objects.annotate(day=TruncDate("starts_at")).filter(
        consultation_id=OuterRef("pk"), status=AppointmentStatus.ATTENDED, day__lt=OuterRef("window_closes")
    )
    return (
        Consultation.objects.filter(
            child__station_id__in=scope.station_ids,
            window_closes__gt=scope.start,
            window_closes__lte=scope.end + timedelta(days=1),
        )
        .alias(completed_on=TruncDate("completed_at"), left_on=TruncDate("child__status_changed_at"))
        .alias(
            in_time=ExpressionWrapper(
                Q(completed_on__lt=F("window_closes")) | Exists(attended_in_time), output_field=BooleanField()
            )
        )
        .annotate(category=coverage_category(scope.today))
    )


def _share(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


@dataclass
class CoverageRow:
    step: ProgrammeStep | None  # None for the total row
    counts: dict[str, int]

    def share(self, key: str) -> float | None:
        return _share(self.counts.get(key, 0), self.counts.get("due", 0))


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
    grouped = coverage_base(scope).values("child__station_id", "step_id", "category").annotate(n=Count("id")).order_by()
    empty = dict.fromkeys(COVERAGE_GROUPS, 0)
    by_station: dict[int, dict[int, dict[str, int]]] = {}
    by_step: dict[int, dict[str, int]] = {}
    for row in grouped:
        for key, members in COVERAGE_GROUPS.items():
            if row["category"] in members:
                counts = by_station.setdefault(row["child__station_id"], {}).setdefault(row["step_id"], dict(empty))
                counts[key] += row["n"]
                total = by_step.setdefault(row["step_id"], dict(empty))
                total[key] += row["n"]
    rows = [CoverageRow(step=step, counts=by_step.get(step.pk, dict(empty))) for step in steps]
    total = CoverageRow(step=None, counts={key: sum(row.counts[key] for row in rows) for key in COVERAGE_GROUPS})
    return Coverage(rows=rows, total=total, by_station=by_station)


# --- Appointments: not brought and cancelled ------------------------------------------------------

RECORDED_STATUSES = (
    AppointmentStatus.ATTENDED,
    AppointmentStatus.NOT_BROUGHT,
    AppointmentStatus.NO_ACCESS,
    AppointmentStatus.CANCELLED_BY_GUARDIAN,
    AppointmentStatus.CANCELLED_BY_SERVICE,
)
NOT_BROUGHT_STATUSES = (AppointmentStatus.NOT_BROUGHT, AppointmentStatus.NO_ACCESS)

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

# Each appointment figure as a condition on one row of appointment_base: the Q the child
# lists filter by, and the same condition in SQL for the one-pass aggregate. A time the
# station cancelled because the register reported a move or a death ("by_register") is
# shown apart and is not a "registered time" of the family.
_STATUS_SQL = "status = ANY(%s)"
APPOINTMENT_CONDITIONS: dict[str, tuple[Q, str, list]] = {
    "with_outcome": (Q(by_register=False), "NOT by_register", []),
    "attended": (Q(status=AppointmentStatus.ATTENDED), _STATUS_SQL, [[AppointmentStatus.ATTENDED]]),
    "not_brought": (Q(status__in=NOT_BROUGHT_STATUSES), _STATUS_SQL, [list(NOT_BROUGHT_STATUSES)]),
    "cancelled_by_guardian": (
        Q(status=AppointmentStatus.CANCELLED_BY_GUARDIAN), _STATUS_SQL, [[AppointmentStatus.CANCELLED_BY_GUARDIAN]]
    ),
    "cancelled_by_service": (
        Q(status=AppointmentStatus.CANCELLED_BY_SERVICE, by_register=False),
        f"{_STATUS_SQL} AND NOT by_register", [[AppointmentStatus.CANCELLED_BY_SERVICE]],
    ),
    "cancelled_by_register": (Q(by_register=True), "by_register", []),
}
APPOINTMENT_FILTERS = {key: condition for key, (condition, _sql, _params) in APPOINTMENT_CONDITIONS.items()}


def _cancelled_by_register() -> Case:
    """True for a time the station cancelled because of the register (its outcome's reason says so)."""
    current = OutcomeEvent.objects.filter(appointment_id=OuterRef("pk"), replaced_by__isnull=True, reason__in=REGISTER_REASONS)
    return Case(
        When(status=AppointmentStatus.CANCELLED_BY_SERVICE, then=Exists(current)), default=Value(False), output_field=BooleanField()
    )


def appointment_base(scope: Scope) -> QuerySet:
    """Appointments in the period with a recorded outcome (moved appointments are not counted;
    the appointment they were moved to is), each with ``by_register``."""
    start, end = scope.bounds()
    return Appointment.objects.filter(
        child__station_id__in=scope.station_ids, starts_at__gte=start, starts_at__lt=end, status__in=RECORDED_STATUSES
    ).alias(by_register=_cancelled_by_register())


@dataclass
class AppointmentRow:
    step: ProgrammeStep | None
    counts: dict[str, int]

    def share(self, key: str) -> float | None:
        return _share(self.counts.get(key, 0), self.counts.get("with_outcome", 0))


@dataclass
class AppointmentFigures:
    rows: list[AppointmentRow]  # per consultation
    total: AppointmentRow  # over all consultations (a child counts once)
    recurrence: dict[str, int]
    months: list[MonthRow]
    reasons: list[ReasonRow]
    # KOSTRA numerators of the year asked for: station -> measure key -> children.
    kostra_numerators: dict[int, dict[str, int]] = field(default_factory=dict)


def _widened(scope: Scope, year: int | None) -> Scope:
    """The period, widened to cover the KOSTRA year too, so one pass reads both."""
    if year is None:
        return scope
    start, end = min(scope.start, date(year, 1, 1)), max(scope.end, date(year, 12, 31))
    return Scope(station_ids=scope.station_ids, start=start, end=end, today=scope.today)


def _kostra_flags(year: int | None) -> dict[str, Case]:
    """One flag per KOSTRA measure: the row is an attended appointment of the year that meets it
    (kostra.numerator_condition, the same Q the measure's child list filters by)."""
    if year is None:
        return {}
    start, end = kostra.year_bounds(year)
    in_year = Q(status=AppointmentStatus.ATTENDED, starts_at__gte=start, starts_at__lt=end)
    return {
        f"k_{m.key}": Case(When(in_year & kostra.numerator_condition(m), then=Value(True)), default=Value(False), output_field=BooleanField())
        for m in kostra.SSB_MEASURES
    }


def appointment_figures(scope: Scope, steps: list[ProgrammeStep], *, kostra_year: int | None = None) -> AppointmentFigures:
    """Every appointment figure in one pass over the period's appointments: one query.

    The period's appointments (``appointment_base``, compiled by Django) are read
    once into a materialised CTE. They are first reduced to one row per child and
    consultation, per child, and per child and month, with a flag per outcome, so
    the counts that follow are plain counts of children and each figure equals the
    number of children its list (the same base and the same status filter) shows.
    """
    # The current reason is read once per row that has one; "by_register" follows from it here
    # (the child lists use the same rule as the by_register alias of appointment_base).
    period_start, period_end = scope.bounds()
    flags_k = _kostra_flags(kostra_year)
    base = appointment_base(_widened(scope, kostra_year))
    if flags_k:
        base = base.alias(day=TruncDate("starts_at")).alias(
            age=ExpressionWrapper(F("day") - F("child__birth_date"), output_field=DurationField())
        )
    base = base.annotate(
        month=TruncMonth("starts_at", output_field=DateField()),
        any_reason=current_reason((*REASON_STATUSES, AppointmentStatus.CANCELLED_BY_SERVICE)),
        child_station=F("child__station_id"),
        in_period=Case(When(starts_at__gte=period_start, starts_at__lt=period_end, then=Value(True)), default=Value(False),
                       output_field=BooleanField()),
        **flags_k,
    ).values("child_id", "step_id", "status", "month", "any_reason", "child_station", "in_period", *flags_k).order_by()
    base_sql, base_params = base.query.sql_with_params()
    base_sql = (
        "SELECT child_id, step_id AS step, status, month, CASE WHEN status = ANY(%s) THEN any_reason END AS reason, "
        "COALESCE(status = %s AND any_reason = ANY(%s), false) AS by_register, child_station AS station, in_period"
        f"{''.join(f', {key}' for key in flags_k)} FROM ({base_sql}) AS rows"
    )
    base_params = (
        list(REASON_STATUSES), AppointmentStatus.CANCELLED_BY_SERVICE, list(REGISTER_REASONS), *base_params,
    )
    keys = list(APPOINTMENT_CONDITIONS)
    # The outcome conditions as one bit each of one integer per row, so each grouping below ORs one
    # integer (bit_or) rather than aggregating a boolean per figure: the same counts, a fraction of the work.
    bits = " | ".join(f"(CASE WHEN {sql} THEN {1 << i} ELSE 0 END)" for i, (_q, sql, _p) in enumerate(APPOINTMENT_CONDITIONS.values()))
    flag_params = [param for _q, _sql, params in APPOINTMENT_CONDITIONS.values() for param in params]
    counts = ", ".join(f"count(*) FILTER (WHERE bits & {1 << i} <> 0)" for i in range(len(keys)))
    groups = list(REASON_GROUPS)
    reason_flags = ", ".join(f"bool_or(status = ANY(%s)) AS {key}" for key in groups)
    reason_counts = ", ".join(f"count(*) FILTER (WHERE {key})" for key in groups)
    padding = ", 0" * (len(keys) - len(groups))
    kostra_keys = list(flags_k)
    kostra_sql = ""
    if kostra_keys:
        # Children per station meeting each measure (a child counts once per measure): first one row
        # per station and child, then plain counts (cheaper than a sorting count(DISTINCT) per measure).
        kostra_counts = ", ".join(f"count(*) FILTER (WHERE {key})" for key in kostra_keys)
        kostra_flags = ", ".join(f"bool_or({key}) AS {key}" for key in kostra_keys)
        kostra_sql = (
            f"UNION ALL SELECT 'kostra', station, NULL, NULL, {kostra_counts}{', 0' * (len(keys) - len(kostra_keys))} "
            f"FROM (SELECT station, child_id, {kostra_flags} FROM appts WHERE {' OR '.join(kostra_keys)} "
            "GROUP BY station, child_id) AS kostra_children GROUP BY station"
        )
    sql = f"""
        WITH appts AS MATERIALIZED (SELECT *, {bits} AS bits FROM ({base_sql}) AS flagged),
        period AS NOT MATERIALIZED (SELECT * FROM appts WHERE in_period),
        per_step AS (SELECT child_id, step, bit_or(bits) AS bits FROM period GROUP BY child_id, step),
        per_child AS (SELECT child_id, bit_or(bits) AS bits FROM per_step GROUP BY child_id),
        per_month AS (SELECT child_id, month, bit_or(bits) AS bits FROM period GROUP BY child_id, month),
        missed AS (SELECT child_id, count(*) AS n FROM period WHERE status = ANY(%s) GROUP BY child_id),
        per_reason AS (SELECT child_id, reason, {reason_flags} FROM period WHERE reason IS NOT NULL GROUP BY child_id, reason)
        SELECT 'step', step, NULL::date, NULL::text, {counts} FROM per_step GROUP BY step
        UNION ALL SELECT 'total', NULL, NULL, NULL, {counts} FROM per_child
        UNION ALL SELECT 'month', NULL, month, NULL, {counts} FROM per_month GROUP BY month
        UNION ALL SELECT 'recurrence', NULL, NULL, NULL, count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n = 2),
                         count(*) FILTER (WHERE n >= 3){", 0" * (len(keys) - 3)} FROM missed
        UNION ALL SELECT 'reason', NULL, NULL, reason, {reason_counts}{padding} FROM per_reason GROUP BY reason
        {kostra_sql}
    """
    reason_params = [list(statuses) for statuses in REASON_GROUPS.values()]
    params = [*flag_params, *base_params, list(NOT_BROUGHT_STATUSES), *reason_params]
    by_step, by_month, by_reason, total, recurrence, by_station_kostra = {}, {}, {}, None, {}, {}
    all_keys = keys
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for kind, step_id, month, reason, *values in cursor.fetchall():
            figures = dict(zip(all_keys, values))
            if kind == "step":
                by_step[step_id] = figures
            elif kind == "month":
                # DATE_TRUNC of a local timestamp: a naive datetime at local midnight.
                by_month[month.date() if isinstance(month, datetime) else month] = figures
            elif kind == "total":
                total = figures
            elif kind == "reason":
                by_reason[reason] = dict(zip(groups, values))
            elif kind == "kostra":
                by_station_kostra[step_id] = {m.key: n for m, n in zip(kostra.SSB_MEASURES, values)}
            else:
                recurrence = dict(zip(RECURRENCE_BUCKETS, values))
    empty = dict.fromkeys(all_keys, 0)
    return AppointmentFigures(
        rows=[AppointmentRow(step=step, counts=by_step.get(step.pk, dict(empty))) for step in steps],
        total=AppointmentRow(step=None, counts=total or dict(empty)),
        recurrence=recurrence or dict.fromkeys(RECURRENCE_BUCKETS, 0),
        months=[
            MonthRow(month=month, counts={key: by_month.get(month, empty)[key] for key in TREND_FILTERS})
            for month in months_in(scope)
        ],
        reasons=_reason_rows(by_reason),
        kostra_numerators=by_station_kostra,
    )


def appointments(scope: Scope, steps: list[ProgrammeStep]) -> tuple[list[AppointmentRow], AppointmentRow]:
    """Children per consultation by outcome, and the same over all consultations."""
    figures = appointment_figures(scope, steps)
    return figures.rows, figures.total


# --- Reasons ----------------------------------------------------------------------------------

# The statuses behind each reason column; a reason is only recorded with these.
REASON_GROUPS = {
    "not_brought": NOT_BROUGHT_STATUSES,
    "cancelled_by_guardian": (AppointmentStatus.CANCELLED_BY_GUARDIAN,),
}
REASON_STATUSES = tuple(status for statuses in REASON_GROUPS.values() for status in statuses)
REASON_GROUP_LABELS = {"not_brought": gettext_lazy("Ikke møtt"), "cancelled_by_guardian": gettext_lazy("Avbestilt av foresatte")}
NO_REASON = "none"  # the URL value for "no reason given"


def current_reason(statuses=None) -> Case:
    """The reason of the outcome that counts now (the event no correction replaced), "" when none was
    given, for the appointments a reason belongs to (or with ``statuses``); NULL for the others."""
    statuses = REASON_STATUSES if statuses is None else statuses
    current = (
        OutcomeEvent.objects.filter(appointment_id=OuterRef("pk"), replaced_by__isnull=True)
        .order_by("-recorded_at", "-id")
        .values("reason")[:1]
    )
    return Case(
        When(status__in=statuses, then=Coalesce(Subquery(current), Value(""))),
        default=None,
        output_field=CharField(),
    )


@dataclass
class ReasonRow:
    reason: str  # the Reason value, or NO_REASON
    label: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _reason_rows(found: dict[str, dict[str, int]]) -> list[ReasonRow]:
    rows = []
    for value, label in [*Reason.choices, (NO_REASON, gettext("Ikke oppgitt"))]:
        counts = found.get("" if value == NO_REASON else value)
        if counts and any(counts.values()):
            rows.append(ReasonRow(reason=value, label=str(label), counts=counts))
    return sorted(rows, key=lambda row: -row.total)


def reasons(scope: Scope) -> list[ReasonRow]:
    """Children not brought or cancelled, by the recorded reason."""
    return appointment_figures(scope, []).reasons


def reason_filter(reason: str) -> Q:
    if reason == NO_REASON:
        return Q(reason="")
    if reason not in Reason.values:
        raise FigureError(gettext("Ukjent årsak."))
    return Q(reason=reason)


# --- Recurrence --------------------------------------------------------------------------------

RECURRENCE_BUCKETS = {
    "once": (gettext_lazy("Én gang"), Q(missed=1)),
    "twice": (gettext_lazy("To ganger"), Q(missed=2)),
    "three_or_more": (gettext_lazy("Tre ganger eller mer"), Q(missed__gte=3)),
}


def missed_per_child(scope: Scope) -> QuerySet:
    return (
        appointment_base(scope)
        .filter(status__in=NOT_BROUGHT_STATUSES)
        .values("child_id")
        .annotate(missed=Count("id"))
        .order_by()
    )


def recurrence(scope: Scope) -> dict[str, int]:
    """How many children were not brought once, twice, three times or more in the period."""
    return appointment_figures(scope, []).recurrence


# --- Trend per month ----------------------------------------------------------------------------


def months_in(scope: Scope) -> list[date]:
    months = []
    month = scope.start.replace(day=1)
    while month <= scope.end:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


@dataclass
class MonthRow:
    month: date
    counts: dict[str, int]

    def share(self, key: str) -> float | None:
        return _share(self.counts.get(key, 0), self.counts.get("with_outcome", 0))


TREND_FILTERS = {key: APPOINTMENT_FILTERS[key] for key in ("with_outcome", "not_brought", "cancelled_by_guardian")}


def trend(scope: Scope) -> list[MonthRow]:
    """Children with an appointment, not brought and cancelled, per calendar month."""
    return appointment_figures(scope, []).months


def month_scope(scope: Scope, month: str) -> Scope:
    try:
        first = date.fromisoformat(f"{month}-01")
    except (TypeError, ValueError):
        raise FigureError(gettext("Ugyldig måned.")) from None
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    start, end = max(first, scope.start), min(last, scope.end)
    if start > end:
        raise FigureError(gettext("Måneden ligger utenfor perioden."))
    return Scope(station_ids=scope.station_ids, start=start, end=end, today=scope.today)


def stations_for(user) -> list[Station]:
    return list(Station.objects.filter(id__in=user.station_ids()).select_related("municipality").order_by("name"))
