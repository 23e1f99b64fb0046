"""Working days: no weekends and no Norwegian public holidays.

The holidays come from the maintained ``holidays`` package (Easter, Ascension,
Whit Monday, 17 May and the rest), not from a table kept here.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays


@lru_cache(maxsize=32)
def _holidays_for(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("NO", years=year).keys())


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _holidays_for(day.year)


def add_working_days(start: date, days: int) -> date:
    """The date ``days`` working days after ``start`` (the start day itself does not count).

    A step reached on Friday with two working days is due on Tuesday; one reached
    on Maundy Thursday with two working days is due on the Wednesday after Easter.
    """
    if days < 0:
        raise ValueError("days must be zero or more")
    day = start
    remaining = days
    while remaining > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return day


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (0 if end <= start)."""
    count = 0
    day = start
    while day < end:
        day += timedelta(days=1)
        if is_working_day(day):
            count += 1
    return count
