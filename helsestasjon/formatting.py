"""How national ids, phone numbers, dates and names are written on every page, letter and CSV label.

One place, used by the template filters (helsestasjon.templatetags.formatting), the model methods
(Child.list_name, Guardian.phone_display, ...) and code that builds text itself (the day list).
Anything that does not look like what a function formats is returned as it came (stripped), so a
wrong value is shown as it is stored, never hidden or changed.
"""

from __future__ import annotations

import re
from datetime import date, datetime

from django.utils import timezone

_DIGITS = re.compile(r"\D")
_SEPARATORS = re.compile(r"[\s.\-]")
_NORWEGIAN_PHONE = re.compile(r"(\+47|0047)?(\d{8})")


def national_id_display(value) -> str:
    """An 11-digit national id (or D/H/synthetic number) as ``110825 61715``: birth date, then the rest."""
    text = str(value or "").strip()
    digits = _DIGITS.sub("", text)
    if len(digits) == 11 and len(text) <= 13:
        return f"{digits[:6]} {digits[6:]}"
    return text


def phone_display(value) -> str:
    """A Norwegian 8-digit number as ``935 10 030`` (``+47 935 10 030`` when given with the country code)."""
    text = str(value or "").strip()
    match = _NORWEGIAN_PHONE.fullmatch(_SEPARATORS.sub("", text))
    if match is None:
        return text
    prefix, digits = ("+47 " if match.group(1) else ""), match.group(2)
    return f"{prefix}{digits[:3]} {digits[3:5]} {digits[5:]}"


def date_display(value) -> str:
    """A date (or a moment, in local time) as ``dd.mm.yyyy``."""
    if value in (None, ""):
        return ""
    if isinstance(value, datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        return value.strftime("%d.%m.%Y")
    if isinstance(value, date):
        return value.strftime("%d.%m.%Y")
    return str(value)


def list_name(given_name, family_name) -> str:
    """The name as lists show it: ``Etternavn, Fornavn`` (only the family name when there is no given name)."""
    given, family = (given_name or "").strip(), (family_name or "").strip()
    if given and family:
        return f"{family}, {given}"
    return family or given


def heading_name(given_name, family_name) -> str:
    """The name as letters and headings write it: ``Fornavn Etternavn``."""
    return " ".join(part for part in ((given_name or "").strip(), (family_name or "").strip()) if part)
