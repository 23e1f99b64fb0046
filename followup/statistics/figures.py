"""The registry of figures: each figure's name, label, categories and the query that lists
its children. The page's links, the child lists and their titles all read from here, so a
figure and the list behind it cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.utils.translation import gettext, gettext_lazy

from attendance.models import ProgrammeStep, Reason
from followup.models import CaseStep, CloseReason, StepKind
from followup.statistics import appointments, cases, coverage, kostra
from followup.statistics.scope import FigureError, Scope, month_scope
from helsestasjon.models import Child


@dataclass(frozen=True)
class FigureRequest:
    """Which part of a figure: its category and the detail some figures need."""

    category: str
    step: ProgrammeStep | None = None
    reason: str = ""
    month: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Figure:
    name: str  # the URL value ("tall")
    label: str
    categories: Mapping[str, str]  # category key -> label
    child_ids: Callable[[Scope, FigureRequest], QuerySet]  # a subquery of child ids
    describe: Callable[[FigureRequest], list[str]] = field(default=lambda request: [])
    clinical: frozenset[str] = frozenset()  # categories only those who see clinical details may open
    needs_step: bool = False

    def is_clinical(self, request: FigureRequest) -> bool:
        return request.category in self.clinical


# --- the query behind each figure ----------------------------------------------------------------


def _coverage(scope: Scope, request: FigureRequest) -> QuerySet:
    return (
        coverage.coverage_base(scope)
        .filter(step=request.step, category__in=coverage.COVERAGE_GROUPS[request.category])
        .values("child_id")
    )


def _appointments(scope: Scope, request: FigureRequest) -> QuerySet:
    qs = appointments.appointment_base(scope).filter(appointments.APPOINTMENT_FILTERS[request.category])
    if request.step is not None:
        qs = qs.filter(step=request.step)
    return qs.values("child_id")


def _trend(scope: Scope, request: FigureRequest) -> QuerySet:
    month = month_scope(scope, request.month)
    return appointments.appointment_base(month).filter(appointments.APPOINTMENT_FILTERS[request.category]).values("child_id")


def _reasons(scope: Scope, request: FigureRequest) -> QuerySet:
    return (
        appointments.appointment_base(scope)
        .filter(status__in=appointments.REASON_GROUPS[request.category])
        .filter(appointments.reason_filter(request.reason))
        .values("child_id")
    )


def _recurrence(scope: Scope, request: FigureRequest) -> QuerySet:
    return appointments.missed_per_child(scope).filter(appointments.RECURRENCE_BUCKETS[request.category][1]).values("child_id")


def _followup(scope: Scope, request: FigureRequest) -> QuerySet:
    category, detail = request.category, request.detail
    if category == "opened":
        return cases.cases_opened(scope).values("child_id")
    if category == "closed":
        qs = cases.closures(scope)
        if detail:
            if detail not in CloseReason.values:
                raise FigureError(gettext("Ukjent årsak til avslutning."))
            qs = qs.filter(reason=detail)
        return qs.values("child_id")
    if category == "step":
        if detail not in StepKind.values:
            raise FigureError(gettext("Ukjent trinn."))
        return CaseStep.objects.filter(case__in=cases.cases_opened(scope), kind=detail).values("case__child_id")
    qs = cases.concern_reports(scope)
    if detail:
        if not (detail.isascii() and detail.isdigit()):
            raise FigureError(gettext("Ugyldig år."))
        qs = qs.filter(concern_report_date__year=int(detail))
    return qs.values("case__child_id")


def _kostra(scope: Scope, request: FigureRequest) -> QuerySet:
    measure = kostra.SSB_BY_KEY.get(request.detail)
    if measure is None:
        raise FigureError(gettext("Ukjent KOSTRA-indikator."))
    year = scope.end.year
    if request.category == "numerator":
        return kostra.numerator_child_ids(scope.station_ids, year, measure)
    return kostra.population_child_ids(scope.station_ids, year, measure.denominator)


# --- the detail in a list's title ----------------------------------------------------------------------


def _month(request: FigureRequest) -> list[str]:
    return [request.month] if request.month else []


def _reason(request: FigureRequest) -> list[str]:
    if request.reason == appointments.NO_REASON:
        return [gettext("Ikke oppgitt")]
    return [str(dict(Reason.choices).get(request.reason, ""))]


def _followup_detail(request: FigureRequest) -> list[str]:
    if request.category == "closed" and request.detail in CloseReason.values:
        return [str(CloseReason(request.detail).label)]
    if request.category == "step" and request.detail in StepKind.values:
        return [str(StepKind(request.detail).label)]
    if request.category == "concern" and request.detail:
        return [request.detail]
    return []


def _kostra_detail(request: FigureRequest) -> list[str]:
    measure = kostra.SSB_BY_KEY.get(request.detail)
    if measure is None:
        return []
    return [str(measure.label), str(measure.numerator_label if request.category == "numerator" else kostra.POPULATIONS[measure.denominator])]


REGISTRY: dict[str, Figure] = {
    figure.name: figure
    for figure in [
        Figure("coverage", gettext_lazy("Konsultasjoner"), coverage.COVERAGE_LABELS, _coverage, needs_step=True),
        Figure("appointments", gettext_lazy("Ikke møtt og avbestilt"), appointments.APPOINTMENT_LABELS, _appointments),
        Figure(
            "trend", gettext_lazy("Ikke møtt per måned"),
            {key: appointments.APPOINTMENT_LABELS[key] for key in appointments.TREND_FILTERS}, _trend, describe=_month,
        ),
        Figure(
            "reasons", gettext_lazy("Årsaker"), appointments.REASON_GROUP_LABELS, _reasons, describe=_reason,
            clinical=frozenset(appointments.REASON_GROUP_LABELS),
        ),
        Figure(
            "recurrence", gettext_lazy("Gjentatt ikke møtt"),
            {key: label for key, (label, _q) in appointments.RECURRENCE_BUCKETS.items()}, _recurrence,
        ),
        Figure(
            "followup", gettext_lazy("Oppfølging"), cases.FOLLOWUP_CATEGORIES, _followup, describe=_followup_detail,
            clinical=frozenset({"concern"}),
        ),
        Figure(
            "kostra", gettext_lazy("KOSTRA"),
            {"numerator": gettext_lazy("Teller"), "denominator": gettext_lazy("Nevner")}, _kostra, describe=_kostra_detail,
        ),
    ]
}


def figure_for(name: str, request: FigureRequest) -> Figure:
    """The registered figure, after checking the request fits it; FigureError otherwise."""
    figure = REGISTRY.get(name)
    if figure is None or request.category not in figure.categories or (figure.needs_step and request.step is None):
        raise FigureError(gettext("Ukjent tall."))
    return figure


def figure_label(name: str, request: FigureRequest) -> str:
    figure = figure_for(name, request)
    parts = [figure.label, request.step.name if request.step else "", figure.categories[request.category], *figure.describe(request)]
    return " – ".join(str(part) for part in parts if part)


def figure_child_ids(scope: Scope, name: str, request: FigureRequest) -> QuerySet:
    """The ids of the children behind one figure (a subquery; nothing is fetched here)."""
    return figure_for(name, request).child_ids(scope, request)


def figure_children(user, scope: Scope, name: str, request: FigureRequest) -> QuerySet:
    """The children behind a figure that the user may see (the station rule applies here too)."""
    return (
        Child.objects.visible_to(user)
        .filter(id__in=figure_child_ids(scope, name, request))
        .select_related("station")
        .order_by("family_name", "given_name", "id")
    )
