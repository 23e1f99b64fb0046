"""The KOSTRA report as SSB's form counts it, and the years a leader marked as reported.

KOSTRA skjema 1 (the helsestasjon part) counts what was *done in the reporting year*
against population counts from the register: births in the year, children aged 2 and
4. A child examined in the year counts whatever its window, so a share can pass
100 %. That is another view than the cohort coverage (coverage.coverage), which
follows each child to the year its window closes. The definitions and their source
are written in docs/decisions.md under "KOSTRA as SSB counts it".

A numerator is the number of children with an attended appointment that meets the
measure; a denominator is a number of children in the register's population of the
chosen stations. Both are counted per station in a few queries over the statistics summary
(models.StatisticsAppointment, StatisticsChild), and the list behind each is the same queryset
filtered by the same condition.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from attendance.models import AppointmentStatus, ProgrammeStep
from followup.statistics.models import KostraReport, StatisticsAppointment, StatisticsChild
from helsestasjon.models import Child, ChildStatus
from helsestasjon.permissions import may_report_kostra

# Which year's form the definitions follow (shown on the page and in the CSV).
DEFINITIONS = "KOSTRA skjema 1 (helsestasjon), definisjoner for rapporteringsåret 2025"
LEFT_STATUSES = (ChildStatus.MOVED, ChildStatus.EMIGRATED, ChildStatus.DECEASED)


@dataclass(frozen=True)
class SsbMeasure:
    key: str
    step_code: str
    label: str  # SSB's name of the measure
    numerator_label: str
    denominator: str  # key of POPULATIONS
    explanation: str
    # The condition on an attended appointment's row of the statistics summary.
    condition: Q


POPULATIONS = {
    "births": gettext_lazy("Fødte i løpet av året (ved helsestasjonen barnet hørte til som nyfødt)"),
    "aged_2": gettext_lazy("Barn 2 år (født to år før) bosatt ved årets slutt"),
    "aged_4": gettext_lazy("Barn 4 år (født fire år før) bosatt ved årets slutt"),
}

_HOME_BY_NURSE = Q(home_by_nurse=True)

SSB_MEASURES = [
    SsbMeasure(
        "home_visit_14", "HV",
        gettext_lazy("Andel nyfødte med hjemmebesøk av helsesykepleier innen 14 dager etter hjemkomst"),
        gettext_lazy("Hjemmebesøk av helsesykepleier innen 14 dager"), "births",
        gettext_lazy("Hjemmebesøk (første konsultasjon) i hjemmet, av helsesykepleier, i året, senest 14 dager etter fødselen."),
        _HOME_BY_NURSE & Q(age_days__lte=14),
    ),
    SsbMeasure(
        "home_visit_10", "HV",
        gettext_lazy("Andel nyfødte med hjemmebesøk av helsesykepleier innen 10 dager etter hjemkomst"),
        gettext_lazy("Hjemmebesøk av helsesykepleier innen 10 dager"), "births",
        gettext_lazy("Som over, senest 10 dager etter fødselen (det nyere spørsmålet i skjemaet)."),
        _HOME_BY_NURSE & Q(age_days__lte=10),
    ),
    SsbMeasure(
        "week_8", "W6",
        gettext_lazy("Andel spedbarn med fullført helseundersøkelse innen utgangen av 8. leveuke"),
        gettext_lazy("Fullført helseundersøkelse innen utgangen av 8. leveuke"), "births",
        gettext_lazy("6-ukerskonsultasjonen gjennomført i året før barnet var 56 dager gammelt."),
        Q(age_days__lt=56),
    ),
    SsbMeasure(
        "year_2", "Y2",
        gettext_lazy("Andel barn med fullført helseundersøkelse ved 2-årsalder"),
        gettext_lazy("Fullførte helseundersøkelser ved 2 år"), "aged_2",
        gettext_lazy("2-årskonsultasjonen gjennomført i året, uansett når vinduet lukket seg."),
        Q(),
    ),
    SsbMeasure(
        "year_4", "Y4",
        gettext_lazy("Andel barn med fullført helseundersøkelse ved 4-årsalder"),
        gettext_lazy("Fullførte helseundersøkelser ved 4 år"), "aged_4",
        gettext_lazy("4-årskonsultasjonen gjennomført i året, uansett når vinduet lukket seg."),
        Q(),
    ),
]
SSB_BY_KEY = {measure.key: measure for measure in SSB_MEASURES}


def _aware(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def year_bounds(year: int) -> tuple[datetime, datetime]:
    return _aware(date(year, 1, 1)), _aware(date(year + 1, 1, 1))


# --- numerators: examinations done in the year ---------------------------------------------------


def done_in_year(station_ids, year: int) -> QuerySet:
    """Attended appointments of the measured consultations held in the year (rows of the statistics
    summary, each with ``age_days`` from birth to the day of the appointment)."""
    start, end = year_bounds(year)
    return StatisticsAppointment.objects.filter(
        station_id__in=station_ids, status=AppointmentStatus.ATTENDED, starts_at__gte=start, starts_at__lt=end,
        step__in=_steps({m.step_code for m in SSB_MEASURES}),
    )


def _steps(codes) -> QuerySet:
    # A subquery the database runs once, rather than a join of every appointment to its step.
    return ProgrammeStep.objects.filter(code__in=codes).values("id")


def numerator_condition(measure: SsbMeasure) -> Q:
    return Q(step__in=_steps([measure.step_code])) & measure.condition


def numerator_child_ids(station_ids, year: int, measure: SsbMeasure) -> QuerySet:
    return done_in_year(station_ids, year).filter(numerator_condition(measure)).values("child_id")


# --- denominators: the register's population ---------------------------------------------------------


def births(year: int) -> QuerySet:
    """SSB's "fødte i løpet av året" as the journal knows it: children born in the year who lived here
    as newborns, each at the station it belonged to then (``birth_station_id``), whatever happened
    later (a move to another station or out of the municipality, emigration, death). A child who
    moved here after its newborn window (its home visit "not applicable, arrived after the window")
    was born elsewhere and is counted there."""
    return StatisticsChild.objects.filter(birth_date__year=year, arrived_after_birth=False)


def resident_conditions(year: int) -> dict[str, Q]:
    """Children born two and four years before who still lived in the area at the year's end
    (no move, emigration or death reported with a date in or before the year), at their station now."""
    _start, end = year_bounds(year)
    resident = ~Q(status__in=LEFT_STATUSES, status_changed_at__lt=end)
    return {
        "aged_2": Q(birth_date__year=year - 2) & resident,
        "aged_4": Q(birth_date__year=year - 4) & resident,
    }


def population_child_ids(station_ids, year: int, population: str) -> QuerySet:
    if population == "births":
        return births(year).filter(birth_station_id__in=station_ids).values("child_id")
    return Child.objects.filter(station_id__in=station_ids).filter(resident_conditions(year)[population]).values("id")


def population_counts(station_ids, year: int) -> dict[int, dict[str, int]]:
    """Per station, each population's number of children: two queries (births by the station at
    birth, the 2- and 4-year-olds by the station now)."""
    found = {station_id: dict.fromkeys(POPULATIONS, 0) for station_id in station_ids}
    for row in births(year).filter(birth_station_id__in=station_ids).values("birth_station_id").annotate(n=Count("pk")).order_by():
        found[row["birth_station_id"]]["births"] = row["n"]
    resident = resident_conditions(year)
    rows = Child.objects.filter(station_id__in=station_ids).values("station_id").annotate(
        **{key: Count("id", filter=condition) for key, condition in resident.items()}
    ).order_by()
    for row in rows:
        found[row["station_id"]].update({key: row[key] for key in resident})
    return found


# --- the counts ----------------------------------------------------------------------------------------


@dataclass
class SsbFigure:
    measure: SsbMeasure
    numerator: int
    denominator: int
    reported: tuple[int, int] | None = None  # (numerator, denominator) as sent, when the year was reported

    @property
    def shown(self) -> tuple[int, int]:
        """The figures the page stands by: as reported once reported, today's count before."""
        return self.reported or (self.numerator, self.denominator)

    @property
    def share(self) -> float | None:
        numerator, denominator = self.shown
        return round(100.0 * numerator / denominator, 1) if denominator else None

    @property
    def drifted(self) -> bool:
        return self.reported is not None and self.reported != (self.numerator, self.denominator)


def numerator_counts(station_ids, year: int) -> dict[int, dict[str, int]]:
    """Per station and measure, the children counted in the numerator: one query. (The page reads
    the same counts from its one pass over the appointments: appointments.appointment_figures.)"""
    rows = done_in_year(station_ids, year).values("station_id").annotate(
        **{m.key: Count("child_id", distinct=True, filter=numerator_condition(m)) for m in SSB_MEASURES}
    ).order_by()
    return {row["station_id"]: {m.key: row[m.key] for m in SSB_MEASURES} for row in rows}


def ssb_counts(station_ids, year: int, numerators: dict[int, dict[str, int]] | None = None) -> dict[int, dict[str, dict[str, int]]]:
    """Per station and measure, ``{"numerator": n, "denominator": d}``: two queries, three without
    ``numerators`` counted already."""
    if numerators is None:
        numerators = numerator_counts(station_ids, year)
    populations = population_counts(station_ids, year)
    return {
        station_id: {
            m.key: {"numerator": numerators.get(station_id, {}).get(m.key, 0), "denominator": populations[station_id][m.denominator]}
            for m in SSB_MEASURES
        }
        for station_id in station_ids
    }


def _sum(counts: list[dict[str, dict[str, int]]], key: str, part: str) -> int:
    return sum(station[key][part] for station in counts)


def combine(live: dict, stored: dict, ids) -> list[SsbFigure]:
    """The measures summed over the stations ``ids``: today's counts, and where any of them
    reported the year, the reported figures (reported stations as sent, the others as today)."""
    result = []
    for m in SSB_MEASURES:
        numerator, denominator = _sum([live[i] for i in ids], m.key, "numerator"), _sum([live[i] for i in ids], m.key, "denominator")
        reported = None
        if any(i in stored for i in ids):
            sent = [stored.get(i) or live[i] for i in ids]
            reported = (
                sum(int(s.get(m.key, {}).get("numerator", 0)) for s in sent),
                sum(int(s.get(m.key, {}).get("denominator", 0)) for s in sent),
            )
        result.append(SsbFigure(measure=m, numerator=numerator, denominator=denominator, reported=reported))
    return result


@dataclass
class SsbReport:
    year: int
    live: dict[int, dict[str, dict[str, int]]]  # station -> measure -> counts today
    stored: dict[int, dict]  # station -> measure -> counts as reported
    reports: list[KostraReport]  # the stations' reports of the year, if any
    station_ids: list[int]

    @property
    def figures(self) -> list[SsbFigure]:
        return combine(self.live, self.stored, self.station_ids)

    def figures_for(self, ids) -> list[SsbFigure]:
        return combine(self.live, self.stored, ids)

    @property
    def unreported_station_ids(self) -> list[int]:
        return [i for i in self.station_ids if i not in self.stored]

    @property
    def reported(self) -> bool:
        return bool(self.reports) and not self.unreported_station_ids

    @property
    def drifted(self) -> bool:
        return any(figure.drifted for figure in self.figures)


def ssb_report(station_ids, year: int, numerators: dict[int, dict[str, int]] | None = None) -> SsbReport:
    """The year's SSB figures for the stations, with the reported figures of those stations
    that marked the year as reported: three queries (four without ``numerators``)."""
    live = ssb_counts(station_ids, year, numerators)
    reports = list(KostraReport.objects.filter(station_id__in=station_ids, year=year).select_related("reported_by", "station"))
    return SsbReport(
        year=year, live=live, stored={r.station_id: r.figures for r in reports}, reports=reports, station_ids=list(station_ids)
    )


class ReportError(ValueError):
    """The year cannot be marked as reported; the message says why (Norwegian)."""


def kostra_mark_reported(*, user, station_ids, year: int, today: date) -> list[KostraReport]:
    """Store the stations' figures for the year as they are sent, with who and when.

    Only a leader may, only for their own stations, and only for a year that has
    ended. A station already reported keeps its first report (a double click adds
    nothing). Returns the reports this call wrote.
    """
    if not may_report_kostra(user):
        raise ReportError(gettext("Bare en leder kan markere et år som rapportert."))
    if year >= today.year:
        raise ReportError(gettext("Året er ikke slutt ennå; det kan rapporteres fra 1. januar."))
    own = set(user.station_ids())
    if not station_ids or not set(station_ids) <= own:
        raise ReportError(gettext("Du kan bare rapportere for dine egne helsestasjoner."))
    counts = ssb_counts(list(station_ids), year)
    written = []
    for station_id in station_ids:
        try:
            with transaction.atomic():
                written.append(
                    KostraReport.objects.create(
                        station_id=station_id, year=year, definitions=DEFINITIONS, figures=counts[station_id],
                        reported_by=user, reported_at=timezone.now(),
                    )
                )
        except IntegrityError:
            continue  # Reported already (or at the same moment by a colleague): the first report stands.
    return written
