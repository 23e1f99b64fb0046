"""The leader's statistics page, the children behind each figure, and the KOSTRA export."""

from __future__ import annotations

import io
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET

from attendance.models import ProgrammeStep
from followup.statistics import queries, svg
from followup.statistics.forms import StatisticsForm
from helsestasjon.models import AccessAction
from helsestasjon.permissions import may_see_statistics, requires
from helsestasjon.services import access_log_record_many
from helsestasjon.spreadsheets import csv_writer
from helsestasjon.validators import EARLIEST_YEAR, LATEST_YEAR

MONTHS = ["jan", "feb", "mar", "apr", "mai", "jun", "jul", "aug", "sep", "okt", "nov", "des"]
CHILDREN_PER_PAGE = 200


def _form(request) -> tuple[StatisticsForm, list]:
    stations = queries.stations_for(request.user)
    return StatisticsForm(request.GET or None, user=request.user, stations=stations, today=timezone.localdate()), stations


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


def _coverage_context(coverage, links):
    shown = [(key, label, share) for key, label, is_shown, share in queries.COVERAGE_CATEGORIES if is_shown]
    rows = [
        {
            "label": row.step.name,
            "cells": [_cell(row.counts[key], row.share(key) if share else None, links("coverage", key, step=row.step)) for key, _l, share in shown],
        }
        for row in coverage.rows
    ]
    total = [_cell(coverage.total.counts[key], coverage.total.share(key) if share else None) for key, _l, share in shown]
    segments = [svg.Segment(key, queries.COVERAGE_LABELS[key]) for key in ("in_window", "late", "expired", "open")]
    chart = svg.stacked_share_bars(
        title="Dekning per konsultasjon",
        desc=gettext("Andel av barna konsultasjonen var aktuell for: gjennomført i tide, for sent, utløpt og fortsatt åpen."),
        rows=[(row.step.name, row.counts, row.counts["due"], row.share("in_window")) for row in coverage.rows],
        segments=segments,
    )
    return {"headers": [label for _k, label, _s in shown], "rows": rows, "total": total, "chart": chart}


def _appointments_context(rows, total, links):
    def cells(row, linked: bool):
        return [
            _cell(row.counts[key], row.share(key) if share else None,
                  links("appointments", key, step=row.step) if linked else "")
            for key, _label, share in queries.APPOINTMENT_CATEGORIES
        ]

    return {
        "headers": [label for _k, label, _s in queries.APPOINTMENT_CATEGORIES],
        "rows": [{"label": row.step.name, "cells": cells(row, True)} for row in rows if row.counts["with_outcome"]],
        "total": cells(total, True),
    }


def _reasons_context(rows, links, *, linked: bool):
    table = [
        {
            "label": row.label,
            "cells": [
                _cell(row.counts[key], None, links("reasons", key, reason=row.reason) if linked else "")
                for key in queries.REASON_GROUPS
            ],
        }
        for row in rows
    ]
    chart = svg.bar_chart(
        title=gettext("Årsaker til ikke møtt og avbestilt"),
        desc=gettext("Antall barn per registrert årsak, ikke møtt og avbestilt av foresatte sammen."),
        rows=[(row.label, row.total) for row in rows],
    )
    return {"headers": list(queries.REASON_GROUP_LABELS.values()), "rows": table, "chart": chart}


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
    return {"rows": rows, "chart": chart}


def _followup_context(figures, links, *, clinical: bool):
    def link(category, detail=""):
        return links("followup", category, detail=detail)

    return {
        "opened": _cell(figures.opened, None, link("opened")),
        "closed": _cell(figures.closed, None, link("closed")),
        "median_days": figures.median_days_to_close,
        "closed_by_reason": [_cell(n, None, link("closed", value)) | {"label": label} for value, label, n in figures.closed_by_reason],
        "steps_reached": [_cell(n, None, link("step", kind)) | {"label": label} for kind, label, n in figures.steps_reached],
        "concern_reports": [
            _cell(n, None, link("concern", str(year)) if clinical else "") | {"label": year}
            for year, n in figures.concern_reports_by_year
        ],
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
    with queries.analytic_queries():
        coverage = queries.coverage(scope, steps)
        appointment_figures = queries.appointment_figures(scope, steps)
        followup = queries.followup(scope)
    kostra = queries.kostra({row.step.pk: row.counts for row in coverage.rows}, steps)
    context = {
        "form": form,
        "scope": scope,
        "stations": stations,
        "years": list(range(scope.today.year, scope.today.year - 6, -1)),
        "coverage": _coverage_context(coverage, links),
        "kostra": [
            {
                "figure": figure,
                "numerator": _cell(figure.numerator, None, links("coverage", "in_window_closed", step=figure.step) if figure.step else ""),
                "denominator": _cell(figure.denominator, None, links("coverage", "closed", step=figure.step) if figure.step else ""),
            }
            for figure in kostra
        ],
        "csv_url": f"{reverse('followup:statistics:kostra_csv')}?{urlencode(form.params())}",
        "appointments": _appointments_context(appointment_figures.rows, appointment_figures.total, links),
        "reasons": _reasons_context(appointment_figures.reasons, links, linked=request.user.sees_clinical_details),
        "recurrence": [
            _cell(appointment_figures.recurrence[key], None, links("recurrence", key)) | {"label": label}
            for key, (label, _q) in queries.RECURRENCE_BUCKETS.items()
        ],
        "trend": _trend_context(appointment_figures.months, links),
        "followup": _followup_context(followup, links, clinical=request.user.sees_clinical_details),
    }
    return render(request, "followup/statistics.html", context)


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
    if (figure == "reasons" or (figure == "followup" and category == "concern")) and not request.user.sees_clinical_details:
        return _bad_request(request, gettext("Dette er kliniske opplysninger og vises bare for ledere og helsesykepleiere."))
    try:
        qs = queries.figure_children(
            request.user, scope, figure=figure, category=category, step=step, reason=reason, month=month, detail=detail
        )
    except queries.FigureError as error:
        return _bad_request(request, str(error))
    title = queries.figure_label(figure=figure, category=category, step=step, reason=reason, month=month, detail=detail)
    with queries.analytic_queries():
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


@login_required
@require_GET
@requires(may_see_statistics)
def kostra_csv(request):
    """KOSTRA measures per station and per municipality as CSV for Norwegian Excel (semicolons, UTF-8 with BOM)."""
    form, stations = _form(request)
    if not form.is_valid():
        return HttpResponse(
            " ".join(str(e) for errors in form.errors.values() for e in errors), status=400, content_type="text/plain; charset=utf-8"
        )
    scope = form.scope()
    steps = list(ProgrammeStep.objects.order_by("order"))
    with queries.analytic_queries():
        coverage = queries.coverage(scope, steps)
    chosen = [station for station in stations if station.pk in scope.station_ids]
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv_writer(out, delimiter=";", lineterminator="\r\n")  # every cell guarded against formulas
    writer.writerow(["Kommunenummer", "Kommune", "Helsestasjon", "Fra og med", "Til og med", "Indikator", "Teller", "Nevner", "Andel (%)"])

    def rows_for(municipality, name: str, counts_by_step):
        for figure in queries.kostra(counts_by_step, steps):
            writer.writerow([
                municipality.number, municipality.name, name, f"{scope.start:%d.%m.%Y}", f"{scope.end:%d.%m.%Y}",
                figure.measure.label, figure.numerator, figure.denominator, _percent(figure.share),
            ])

    municipalities = {}
    for station in chosen:
        municipalities.setdefault(station.municipality, []).append(station)
    for municipality, its_stations in municipalities.items():
        summed: dict[int, dict[str, int]] = {}
        for station in its_stations:
            counts_by_step = coverage.by_station.get(station.pk, {})
            rows_for(municipality, station.name, counts_by_step)
            for step_id, counts in counts_by_step.items():
                into = summed.setdefault(step_id, dict.fromkeys(counts, 0))
                for key, value in counts.items():
                    into[key] += value
        if len(its_stations) > 1:
            rows_for(municipality, "Alle valgte helsestasjoner", summed)
    response = HttpResponse(out.getvalue().encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="kostra-{scope.start:%Y%m%d}-{scope.end:%Y%m%d}.csv"'
    return response

