"""Calendar arithmetic for ages and programme windows.

"Month" means calendar months from the birth date: a child born 31 January is
one month old on the last day of February (programme spec).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from django.utils.translation import gettext


def add_months(start: date, months: int) -> date:
    total = start.month - 1 + months
    year = start.year + total // 12
    month = total % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day)


def add_period(start: date, amount: int, unit: str) -> date:
    """Add ``amount`` days, weeks, months or years (unit: day/week/month/year)."""
    if unit == "day":
        return start + timedelta(days=amount)
    if unit == "week":
        return start + timedelta(weeks=amount)
    if unit == "month":
        return add_months(start, amount)
    if unit == "year":
        return add_months(start, 12 * amount)
    raise ValueError(f"unknown period unit {unit!r}")


def months_between(birth: date, on: date) -> int:
    """Whole calendar months completed from ``birth`` to ``on``."""
    months = (on.year - birth.year) * 12 + (on.month - birth.month)
    if add_months(birth, months) > on:
        months -= 1
    return months


def age_text(birth: date, on: date) -> str:
    """Age as a nurse says it: days for newborns, weeks, months, then years and months."""
    if on < birth:
        return gettext("ikke født")
    days = (on - birth).days
    if days < 28:
        return gettext("%(days)s d") % {"days": days}
    months = months_between(birth, on)
    if months < 3:
        return gettext("%(weeks)s u") % {"weeks": days // 7}
    if months < 24:
        return gettext("%(months)s mnd") % {"months": months}
    years, rest = divmod(months, 12)
    if rest:
        return gettext("%(years)s år %(months)s mnd") % {"years": years, "months": rest}
    return gettext("%(years)s år") % {"years": years}
