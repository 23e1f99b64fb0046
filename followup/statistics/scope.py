"""What a statistics page counts: the stations, the period and the day the figures stand on,
the months in it, and the transaction the page's aggregates run in."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext

from helsestasjon.models import Station


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
        return local_midnight(self.start), local_midnight(self.end + timedelta(days=1))

    def widened_to_year(self, year: int | None) -> Scope:
        """The period, widened to cover a whole calendar year too (the KOSTRA year), so one pass reads both."""
        if year is None:
            return self
        start, end = min(self.start, date(year, 1, 1)), max(self.end, date(year, 12, 31))
        return Scope(station_ids=self.station_ids, start=start, end=end, today=self.today)


def local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def share(part: int, whole: int) -> float | None:
    """A percentage with one decimal, None when there is nothing to divide by."""
    return round(100.0 * part / whole, 1) if whole else None


@contextmanager
def analytic_queries():
    """Run the page's aggregates in one transaction with PostgreSQL's JIT compiler off and room
    to group in memory.

    The planner prices the aggregates high enough to JIT-compile them, which costs more
    (about 150 ms) than the query itself; grouping a year's appointments by child spills to
    disk with the default 4 MB of work_mem. SET LOCAL ends with the transaction.
    """
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off; SET LOCAL work_mem = '32MB'")
        yield


def months_in(scope: Scope) -> list[date]:
    months = []
    month = scope.start.replace(day=1)
    while month <= scope.end:
        months.append(month)
        month = (month + timedelta(days=32)).replace(day=1)
    return months


def month_scope(scope: Scope, month: str) -> Scope:
    """One calendar month ("åååå-mm") of the scope's period; FigureError outside it."""
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
