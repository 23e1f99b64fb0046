"""The leader's statistics page, the children behind each figure, and the KOSTRA export."""

from __future__ import annotations

import io
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from attendance.models import ProgrammeStep
from followup.statistics import appointments, cases, coverage, figures, kostra, svg
from followup.statistics.scope import FigureError, analytic_queries, stations_for
from followup.statistics.forms import StatisticsForm
from helsestasjon.models import AccessAction
from helsestasjon.permissions import may_report_kostra, may_see_statistics, requires
from helsestasjon.services import access_log_record_many
from helsestasjon.spreadsheets import csv_writer
from helsestasjon.validators import EARLIEST_YEAR, LATEST_YEAR

MONTHS = ["jan", "feb", "mar", "apr", "mai", "jun", "jul", "aug", "sep", "okt", "nov", "des"]
CHILDREN_PER_PAGE = 200


def _form(request, data=None) -> tuple[StatisticsForm, list]:
    stations = stations_for(request.user)
    data = request.GET if data is None else data
    return StatisticsForm(data or None, user=request.user, stations=stations, today=timezone.localdate()), stations


class _Links:
    """URLs of the child lists, keeping the page's station and period."""

    def __init__(self, params: dict[str, str]):
        self.base = reverse("followup:statistics:children")
        self.params = params

    def __call__(self, figure: str, category: str, *, step=None, reason: str = "", month: str = "", detail: str = "") -> str:
        params = {**self.params, "tall": figure, "kategori": category}
        if detail:
            params["detalj"] = detail
        if step is not None:
            params["konsultasjon"] = step.code
        if reason:
            params["arsak"] = reason
        if month:
            params["maaned"] = month
        return f"{self.base}?{urlencode(params)}"


def _cell(count: int, share: float | None = None, url: str = "") -> dict:
    # A zero has no children behind it, so it is not a link.
    return {"count": count, "share": share, "url": url if count else ""}


def _coverage_context(cohort, links):
    shown = [(key, label, share) for key, label, is_shown, share in coverage.COVERAGE_CATEGORIES if is_shown]
    rows = [
        {
            "label": row.step.name,
            "cells": [_cell(row.counts[key], row.share(key) if share else None, links("coverage", key, step=row.step)) for key, _l, share in shown],
        }
        for row in cohort.rows
    ]
    total = [_cell(cohort.total.counts[key], cohort.total.share(key) if share else None) for key, _l, share in shown]
    segments = [svg.Segment(key, coverage.COVERAGE_LABELS[key]) for key in ("in_window", "late", "expired", "open")]
    chart = svg.stacked_share_bars(
        title="Dekning per konsultasjon",
        desc=gettext("Andel av barna konsultasjonen var aktuell for: gjennomført i tide, for sent, utløpt og fortsatt åpen."),
        rows=[(row.step.name, row.counts, row.counts["due"], row.share("in_window")) for row in cohort.rows],
        segments=segments,
    )
    return {"headers": [label for _k, label, _s in shown], "rows": rows, "total": total, "chart": chart}


def _appointments_context(rows, total, links):
    def cells(row, linked: bool):
        return [
            _cell(row.counts[key], row.share(key) if share else None,
                  links("appointments", key, step=row.step) if linked else "")
            for key, _label, share in appointments.APPOINTMENT_CATEGORIES
        ]

    return {
        "headers": [label for _k, label, _s in appointments.APPOINTMENT_CATEGORIES],
        "rows": [{"label": row.step.name, "cells": cells(row, True)} for row in rows if row.counts["with_outcome"]],
        "total": cells(total, True),
    }


def _reasons_context(rows, links, *, linked: bool):
    table = [
        {
            "label": row.label,
            "cells": [
                _cell(row.counts[key], None, links("reasons", key, reason=row.reason) if linked else "")
                for key in appointments.REASON_GROUPS
            ],
        }
        for row in rows
    ]
    chart = svg.bar_chart(
        title=gettext("Årsaker til ikke møtt og avbestilt"),
        desc=gettext("Antall barn per registrert årsak, ikke møtt og avbestilt av foresatte sammen."),
        rows=[(row.label, row.total) for row in rows],
    )
    return {"headers": list(appointments.REASON_GROUP_LABELS.values()), "rows": table, "chart": chart}


def _month_label(month, many_years: bool) -> str:
    label = MONTHS[month.month - 1]
    return f"{label} {month:%y}" if many_years else label


def _trend_context(months, links):
    many_years = len({m.month.year for m in months}) > 1
    rows = [
        {
            "label": _month_label(m.month, many_years),
            "cells": [
                _cell(m.counts["with_outcome"], None, links("trend", "with_outcome", month=f"{m.month:%Y-%m}")),
                _cell(m.counts["not_brought"], m.share("not_brought"), links("trend", "not_brought", month=f"{m.month:%Y-%m}")),
                _cell(m.counts["cancelled_by_guardian"], m.share("cancelled_by_guardian"),
                      links("trend", "cancelled_by_guardian", month=f"{m.month:%Y-%m}")),
            ],
        }
        for m in months
    ]
    chart = svg.column_chart(
        title=gettext("Barn som ikke møtte, per måned"),
        desc=gettext("Antall barn som ikke ble brakt til minst én time i måneden."),
        points=[(_month_label(m.month, many_years), m.counts["not_brought"]) for m in months],
    )
    headers = [gettext("Barn med registrert time"), gettext("Ikke møtt"), gettext("Avbestilt av foresatte")]
    return {"headers": headers, "rows": rows, "chart": chart}


def _followup_context(figures, links, *, clinical: bool):
    def link(category, detail=""):
        return links("followup", category, detail=detail)

    def count_table(title: str, heading: str, cells: list[dict], empty: str) -> dict:
        return {"title": title, "heading": heading, "cells": cells, "empty": empty}

    return {
        "opened": _cell(figures.opened, None, link("opened")),
        "closed": _cell(figures.closed, None, link("closed")),
        "median_days": figures.median_days_to_close,
        "tables": [
            count_table(
                gettext("Avsluttet, etter årsak"), gettext("Årsak"),
                [_cell(n, None, link("closed", value)) | {"label": label} for value, label, n in figures.closed_by_reason],
                gettext("Ingen saker avsluttet i perioden."),
            ),
            count_table(
                gettext("Trinn nådd (saker åpnet i perioden)"), gettext("Trinn"),
                [_cell(n, None, link("step", kind)) | {"label": label} for kind, label, n in figures.steps_reached],
                gettext("Ingen saker åpnet i perioden."),
            ),
            count_table(
                gettext("Bekymringsmeldinger til barnevernet"), gettext("År"),
                [_cell(n, None, link("concern", str(year)) if clinical else "") | {"label": year}
                 for year, n in figures.concern_reports_by_year],
                gettext("Ingen i perioden."),
            ),
        ],
    }


def _ssb_context(report, links, stations) -> dict:
    names = {station.pk: station.name for station in stations}
    rows = []
    for figure in report.figures:
        numerator, denominator = figure.shown
        now = {
            "numerator": _cell(figure.numerator, None, links("kostra", "numerator", detail=figure.measure.key)),
            "denominator": _cell(figure.denominator, None, links("kostra", "denominator", detail=figure.measure.key)),
        }
        rows.append({
            "figure": figure,
            # A reported figure that has drifted is no longer today's list; today's count stands beside it, linked.
            "numerator": now["numerator"] if not figure.drifted else _cell(numerator),
            "denominator": now["denominator"] if not figure.drifted else _cell(denominator),
            "now": now if figure.drifted else None,
            "population": kostra.POPULATIONS[figure.measure.denominator],
        })
    return {
        "year": report.year,
        "definitions": kostra.DEFINITIONS,
        "rows": rows,
        "reports": [
            {"station": names.get(r.station_id, r.station.name), "by": r.reported_by.get_full_name() or r.reported_by.username, "at": r.reported_at}
            for r in report.reports
        ],
        "unreported": [names[i] for i in report.unreported_station_ids if i in names] if report.reports else [],
        "drifted": report.drifted,
    }


@login_required
@require_GET
@requires(may_see_statistics)
def page(request):
    """Coverage, KOSTRA, not brought and cancelled, reasons and trend for a station and period."""
    form, stations = _form(request)
    scope = form.scope()
    links = _Links(form.params())
    steps = list(ProgrammeStep.objects.order_by("order"))
    with analytic_queries():
        cohort = coverage.coverage(scope, steps)
        year = scope.end.year
        appointment_figures = appointments.appointment_figures(scope, steps, kostra_year=year)
        followup = cases.followup(scope)
        ssb = kostra.ssb_report(scope.station_ids, year, appointment_figures.kostra_numerators)
        digital = _digital_letters(scope)
    context = {
        "form": form,
        "scope": scope,
        "stations": stations,
        "years": list(range(scope.today.year, scope.today.year - 6, -1)),
        "coverage": _coverage_context(cohort, links),
        "ssb": _ssb_context(ssb, links, stations),
        "can_report": may_report_kostra(request.user) and not ssb.reported and year < scope.today.year,
        "report_params": {**form.params(), "aar": str(year)},
        "csv_url": f"{reverse('followup:statistics:kostra_csv')}?{urlencode(form.params())}",
        "appointments": _appointments_context(appointment_figures.rows, appointment_figures.total, links),
        "reasons": _reasons_context(appointment_figures.reasons, links, linked=request.user.sees_clinical_details),
        "recurrence": [
            _cell(appointment_figures.recurrence[key], None, links("recurrence", key)) | {"label": label}
            for key, (label, _q) in appointments.RECURRENCE_BUCKETS.items()
        ],
        "trend": _trend_context(appointment_figures.months, links),
        "followup": _followup_context(followup, links, clinical=request.user.sees_clinical_details),
        "digital_letters": digital,
    }
    return render(request, "followup/statistics.html", context)


def _digital_letters(scope) -> list[dict]:
    """Letters sent per month in the period and the share delivered digitally (SvarUt: read or
    delivered to the digital mailbox), one query (followup/letters/svarut/services.py)."""
    from followup.letters.svarut.services import svarut_digital_share_by_month

    start, _end = scope.bounds()
    rows = svarut_digital_share_by_month(station_ids=scope.station_ids, since=start)
    many_years = scope.start.year != scope.end.year
    return [row | {"label": _month_label(row["month"], many_years), "share_text": _percent(row["share"])}
            for row in rows if row["month"] <= scope.end]


def _plausible_year(text: str) -> bool:
    # ASCII digits only: "²".isdigit() is true, but int("²") fails.
    return len(text) == 4 and text.isascii() and text.isdigit() and EARLIEST_YEAR <= int(text) <= LATEST_YEAR


def _bad_request(request, message: str):
    return render(request, "followup/statistics_children.html", {"error": message}, status=400)


@login_required
@require_GET
@requires(may_see_statistics)
def children(request):
    """The children behind one figure, each shown child written to the access log."""
    form, _stations = _form(request)
    if not form.is_valid():
        return _bad_request(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    scope = form.scope()
    figure = request.GET.get("tall", "")
    category = request.GET.get("kategori", "")
    reason = request.GET.get("arsak", "")
    month = request.GET.get("maaned", "")[:7]
    detail = request.GET.get("detalj", "")[:30]
    if figure == "followup" and category == "concern" and detail and not _plausible_year(detail):
        return _bad_request(request, gettext("Ugyldig år. Skriv året med fire sifre."))
    if month and not (len(month) == 7 and month[4] == "-" and _plausible_year(month[:4])):
        return _bad_request(request, gettext("Ugyldig måned. Skriv måneden som åååå-mm."))
    step = None
    if request.GET.get("konsultasjon"):
        step = ProgrammeStep.objects.filter(code=request.GET["konsultasjon"][:8]).first()
        if step is None:
            return _bad_request(request, gettext("Ukjent konsultasjon."))
    wanted = figures.FigureRequest(category=category, step=step, reason=reason, month=month, detail=detail)
    try:
        figure_def = figures.figure_for(figure, wanted)
        if figure_def.is_clinical(wanted) and not request.user.sees_clinical_details:
            return _bad_request(request, gettext("Dette er kliniske opplysninger og vises bare for ledere og helsesykepleiere."))
        qs = figures.figure_children(request.user, scope, figure, wanted)
        title = figures.figure_label(figure, wanted)
    except FigureError as error:
        return _bad_request(request, str(error))
    with analytic_queries():
        page_obj = Paginator(qs, CHILDREN_PER_PAGE).get_page(request.GET.get("side"))
        shown = list(page_obj.object_list)
    if shown:
        access_log_record_many(
            user=request.user, children=shown, action=AccessAction.VIEW_LIST, what=gettext("Statistikk: %(title)s") % {"title": title}, path=request.get_full_path()
        )
    back = f"{reverse('followup:statistics:page')}?{urlencode(form.params())}"
    params = request.GET.copy()
    params.pop("side", None)
    return render(
        request,
        "followup/statistics_children.html",
        {"title": title, "page": page_obj, "children": shown, "scope": scope, "back": back, "query": params.urlencode()},
    )


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}".replace(".", ",")


CSV_HEADER = [
    "Kommunenummer", "Kommune", "Helsestasjon", "År", "Skjema og definisjoner", "Indikator (SSB)", "Teller", "Nevner",
    "Andel (%)", "Status",
]


@login_required
@require_GET
@requires(may_see_statistics)
def kostra_csv(request):
    """The KOSTRA measures as SSB counts them, per station and per municipality, as CSV for Norwegian
    Excel (semicolons, UTF-8 with BOM). A reported year carries the figures as reported."""
    form, stations = _form(request)
    if not form.is_valid():
        return HttpResponse(
            " ".join(str(e) for errors in form.errors.values() for e in errors), status=400, content_type="text/plain; charset=utf-8"
        )
    scope = form.scope()
    year = scope.end.year
    with analytic_queries():
        report = kostra.ssb_report(scope.station_ids, year)
    reported_at = {r.station_id: r.reported_at for r in report.reports}
    chosen = [station for station in stations if station.pk in scope.station_ids]
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv_writer(out, delimiter=";", lineterminator="\r\n")  # every cell guarded against formulas
    writer.writerow(CSV_HEADER)

    def rows_for(municipality, name: str, figures_of, status: str):
        for figure in figures_of:
            numerator, denominator = figure.shown
            writer.writerow([
                municipality.number, municipality.name, name, year, kostra.DEFINITIONS, figure.measure.label,
                numerator, denominator, _percent(figure.share), status,
            ])

    def status_of(ids) -> str:
        if all(i in reported_at for i in ids):
            return gettext("Rapportert %(day)s") % {"day": f"{timezone.localtime(max(reported_at[i] for i in ids)):%d.%m.%Y}"}
        return gettext("Foreløpig")

    municipalities = {}
    for station in chosen:
        municipalities.setdefault(station.municipality, []).append(station)
    for municipality, its_stations in municipalities.items():
        for station in its_stations:
            rows_for(municipality, station.name, report.figures_for([station.pk]), status_of([station.pk]))
        if len(its_stations) > 1:
            ids = [station.pk for station in its_stations]
            rows_for(municipality, gettext("Alle valgte helsestasjoner"), report.figures_for(ids), status_of(ids))
    response = HttpResponse(out.getvalue().encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="kostra-{year}.csv"'
    return response


@login_required
@require_POST
@requires(may_report_kostra)
def mark_reported(request):
    """"Marker som rapportert": store the year's KOSTRA figures for the chosen stations as sent."""
    form, _stations = _form(request, data=request.POST)
    back = f"{reverse('followup:statistics:page')}?{urlencode(form.params())}#kostra"
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect(back)
    scope = form.scope()
    year_text = request.POST.get("aar", "")
    if not _plausible_year(year_text):
        messages.error(request, gettext("Ugyldig år. Skriv året med fire sifre."))
        return redirect(back)
    try:
        written = kostra.kostra_mark_reported(user=request.user, station_ids=list(scope.station_ids), year=int(year_text), today=scope.today)
    except kostra.ReportError as error:
        messages.error(request, str(error))
        return redirect(back)
    if written:
        messages.success(request, gettext("KOSTRA-tallene for %(year)s er lagret slik de ble rapportert.") % {"year": year_text})
    else:
        messages.info(request, gettext("Året var allerede markert som rapportert; de lagrede tallene står."))
    return redirect(back)
