"""Free slots: working hours minus public holidays, leave, closed days and booked appointments.

Leave and closings for part of a day (``Absence.from_time``/``until_time``) are taken out of the
day's working hours like booked time; whole-day ones remove the day.

One statement computes the free time of any number of professionals as ranges (PostgreSQL's
multirange difference); slots of any duration are then read off those ranges in one pass. The
booking worklist asks once for every professional of the page's stations and hands each row a
different first free slot (``SlotPlanner``), so a page costs one query however many rows it has.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

import holidays
from django.db import connection
from django.utils import timezone

from attendance.models import Absence, Appointment, AppointmentStatus, WorkingHours

# Slots start on a grid of this many minutes from the start of each free range.
SLOT_STEP_MINUTES = 15
# How far ahead the worklist looks for a first free slot.
PROPOSAL_DAYS = 28
# A request for slots spans at most this many days (the week view asks for seven).
MAX_SPAN_DAYS = 62


@lru_cache(maxsize=16)
def _holidays_of(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("NO", years=year))


def public_holidays(first: date, last: date) -> list[date]:
    """Norwegian public holidays between two days, inclusive (Sundays are not working days anyway)."""
    days = set()
    for year in range(first.year, last.year + 1):
        days |= _holidays_of(year)
    return sorted(d for d in days if first <= d <= last)


def holiday_name(day: date) -> str | None:
    return holidays.country_holidays("NO", years=day.year, language="no").get(day)


# The span of a booked appointment, written as the exclusion constraint writes it.
_SPAN = "tstzrange(a.starts_at, timezone('UTC', timezone('UTC', a.starts_at) + make_interval(mins => a.duration_minutes)))"

FREE_RANGES = f"""
WITH days AS (
    SELECT d::date AS day FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') AS d
), windows AS (
    SELECT wh.professional_id, wh.station_id,
           tstzrange((days.day + wh.starts) AT TIME ZONE %(tz)s, (days.day + wh.ends) AT TIME ZONE %(tz)s)
             * tstzrange(%(start)s, %(end)s) AS span
      FROM {WorkingHours._meta.db_table} wh
      JOIN days ON wh.weekday = EXTRACT(ISODOW FROM days.day)::int - 1
     WHERE wh.professional_id = ANY(%(professionals)s) AND wh.station_id = ANY(%(stations)s)
       AND NOT days.day = ANY(%(holidays)s::date[])
       AND NOT EXISTS (
           SELECT 1 FROM {Absence._meta.db_table} x
            WHERE x.starts_on <= days.day AND x.ends_on >= days.day AND x.from_time IS NULL
              AND (x.professional_id = wh.professional_id OR x.station_id = wh.station_id))
), part_days AS MATERIALIZED (
    -- Exceptions for part of a day (leave 10-12), as instants; usually none or a few rows, read
    -- once and then matched against each window.
    SELECT x.professional_id, x.station_id,
           tstzrange((x.starts_on + x.from_time) AT TIME ZONE %(tz)s, (x.ends_on + x.until_time) AT TIME ZONE %(tz)s) AS span
      FROM {Absence._meta.db_table} x
     WHERE x.from_time IS NOT NULL AND x.starts_on <= %(last)s::date AND x.ends_on >= %(first)s::date
       AND (x.professional_id = ANY(%(professionals)s) OR x.station_id = ANY(%(stations)s))
), busy AS (
    -- Each professional's booked time in the whole span as one multirange, read through the
    -- (professional, starts_at) index; an appointment lasts at most 480 minutes.
    SELECT a.professional_id, range_agg({_SPAN}) AS taken
      FROM {Appointment._meta.db_table} a
     WHERE a.professional_id = ANY(%(professionals)s) AND a.status = %(booked)s AND a.id <> %(ignore)s
       AND a.starts_at < %(end)s AND a.starts_at > %(start)s::timestamptz - interval '480 minutes'
     GROUP BY a.professional_id
)
SELECT w.professional_id, w.station_id, lower(f.free), upper(f.free)
  FROM windows w
  LEFT JOIN busy b ON b.professional_id = w.professional_id
  CROSS JOIN LATERAL unnest(
      tstzmultirange(w.span) - COALESCE(b.taken, '{{}}'::tstzmultirange)
      - COALESCE((SELECT range_agg(p.span) FROM part_days p
                   WHERE (p.professional_id = w.professional_id OR p.station_id = w.station_id) AND p.span && w.span),
                 '{{}}'::tstzmultirange)) AS f(free)
 WHERE NOT isempty(w.span)
 ORDER BY lower(f.free), w.professional_id
"""


@dataclass(frozen=True)
class FreeRange:
    professional_id: int
    station_id: int
    starts_at: datetime
    ends_at: datetime


def free_ranges(*, professional_ids: Iterable[int], station_ids: Iterable[int], start: datetime, end: datetime,
                ignore_appointment_id: int | None = None) -> list[FreeRange]:
    """Free time of the professionals at the stations between two instants, earliest first (one query).

    ``ignore_appointment_id`` counts that appointment's time as free: moving a time may move it
    into a range that overlaps where it is now.
    """
    professional_ids, station_ids = list(professional_ids), list(station_ids)
    if not professional_ids or not station_ids or end <= start:
        return []
    tz = timezone.get_current_timezone()
    first, last = timezone.localtime(start, tz).date(), timezone.localtime(end, tz).date()
    with connection.cursor() as cursor:
        cursor.execute(FREE_RANGES, {
            "first": first, "last": last, "tz": str(tz), "start": start, "end": end,
            "professionals": professional_ids, "stations": station_ids, "holidays": public_holidays(first, last),
            "booked": AppointmentStatus.BOOKED.value, "ignore": ignore_appointment_id or 0,
        })
        return [FreeRange(*row) for row in cursor.fetchall()]


def _starts_in(free: FreeRange, duration: timedelta, step: timedelta) -> Iterable[datetime]:
    at = _round_up(free.starts_at)
    while at + duration <= free.ends_at:
        yield at
        at += step


def _round_up(at: datetime) -> datetime:
    # Whole five minutes: an appointment that ended 09:42 leaves 09:45 as the next start.
    # Oslo's offset is whole hours, so rounding in UTC rounds the local time too.
    extra = (at.minute % 5) * 60 + at.second + at.microsecond / 1e6
    return at if not extra else at + timedelta(seconds=300 - extra)


def _span(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    now = timezone.now()
    start = max(start, now)
    end = min(end, start + timedelta(days=MAX_SPAN_DAYS))
    return start, end


def free_slots(professional, station, start: datetime, end: datetime, duration: int | timedelta, *,
               step_minutes: int = SLOT_STEP_MINUTES, ignore_appointment_id: int | None = None) -> list[datetime]:
    """Free start times of ``duration`` (minutes) for the professional at the station in [start, end).

    Within the professional's working hours at that station, never on a Norwegian public holiday,
    a day of leave or a day the station is closed, never in part-day leave or closing, never overlapping a booked appointment of the
    professional (at any station), never in the past. One query, then one pass over its rows.
    """
    duration = duration if isinstance(duration, timedelta) else timedelta(minutes=int(duration))
    start, end = _span(start, end)
    step = timedelta(minutes=step_minutes)
    ranges = free_ranges(professional_ids=[_pk(professional)], station_ids=[_pk(station)], start=start, end=end,
                         ignore_appointment_id=ignore_appointment_id)
    return [at for free in ranges for at in _starts_in(free, duration, step)]


def slot_is_free(*, professional, station, starts_at: datetime, duration_minutes: int,
                 ignore_appointment_id: int | None = None) -> bool:
    """Is [starts_at, starts_at + duration) inside the professional's free time at the station?"""
    end = starts_at + timedelta(minutes=int(duration_minutes))
    if starts_at < timezone.now():
        return False
    ranges = free_ranges(professional_ids=[_pk(professional)], station_ids=[_pk(station)], start=starts_at, end=end,
                         ignore_appointment_id=ignore_appointment_id)
    return any(r.starts_at <= starts_at and end <= r.ends_at for r in ranges)


def _pk(obj) -> int:
    return obj if isinstance(obj, int) else obj.pk


class SlotPlanner:
    """Proposes a first free slot for many bookings at once, each a different one.

    Loaded with one ``free_ranges`` query; ``propose`` takes the slot it returns out of the free
    time, so the next row is offered the next free time instead of the same one.
    """

    def __init__(self, ranges: Iterable[FreeRange], *, step_minutes: int = SLOT_STEP_MINUTES):
        self.step = timedelta(minutes=step_minutes)
        self._free: dict[tuple[int, int], list[list[datetime]]] = defaultdict(list)
        for r in ranges:
            self._free[(r.professional_id, r.station_id)].append([r.starts_at, r.ends_at])

    @classmethod
    def load(cls, *, professional_ids, station_ids, days: int = PROPOSAL_DAYS) -> SlotPlanner:
        start, end = _span(timezone.now(), timezone.now() + timedelta(days=days))
        return cls(free_ranges(professional_ids=professional_ids, station_ids=station_ids, start=start, end=end))

    def first(self, *, professional_id: int, station_id: int, duration_minutes: int, not_before: datetime) -> datetime | None:
        duration = timedelta(minutes=duration_minutes)
        for lo, hi in self._free.get((professional_id, station_id), ()):
            if hi <= not_before:
                continue
            free = FreeRange(professional_id, station_id, max(lo, not_before), hi)
            for at in _starts_in(free, duration, self.step):
                return at
        return None

    def propose(self, *, professional_ids: Iterable[int], station_id: int, duration_minutes: int,
                not_before: datetime) -> tuple[int, datetime] | None:
        """The earliest free slot among the professionals, taken out of the free time; or None."""
        best = None
        for pid in professional_ids:
            at = self.first(professional_id=pid, station_id=station_id, duration_minutes=duration_minutes, not_before=not_before)
            if at is not None and (best is None or at < best[1]):
                best = (pid, at)
        if best is not None:
            self._take(best[0], best[1], best[1] + timedelta(minutes=duration_minutes))
        return best

    def _take(self, professional_id: int, start: datetime, end: datetime) -> None:
        # The professional's time is taken at every station: she is in one place at a time.
        for (pid, _sid), ranges in self._free.items():
            if pid != professional_id:
                continue
            kept = []
            for lo, hi in ranges:
                if hi <= start or end <= lo:
                    kept.append([lo, hi])
                    continue
                if lo < start:
                    kept.append([lo, start])
                if end < hi:
                    kept.append([end, hi])
            ranges[:] = kept


def days_of_week(monday: date) -> list[date]:
    return [monday + timedelta(days=i) for i in range(7)]


def week_slots(*, professional, station, monday: date, duration_minutes: int,
               ignore_appointment_id: int | None = None) -> list[tuple[date, list[datetime]]]:
    """The free slots of one week (Monday to Sunday), grouped by day, for the week view."""
    start = timezone.make_aware(datetime.combine(monday, datetime.min.time()))
    end = timezone.make_aware(datetime.combine(monday + timedelta(days=7), datetime.min.time()))
    by_day: dict[date, list[datetime]] = {day: [] for day in days_of_week(monday)}
    for at in free_slots(professional, station, start, end, duration_minutes, ignore_appointment_id=ignore_appointment_id):
        by_day[timezone.localtime(at).date()].append(at)
    return list(by_day.items())


__all__ = [
    "FreeRange", "SlotPlanner", "free_ranges", "free_slots", "holiday_name", "public_holidays", "slot_is_free", "week_slots",
]
