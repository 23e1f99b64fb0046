"""Validators for what people type: names and addresses without hidden control characters, plausible dates.

Forms of every app import these, so the same text is refused with the same message everywhere.
"""

from __future__ import annotations

import re
from datetime import date

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# Bidirectional controls (U+061C, U+200E/F, U+202A–U+202E, U+2066–U+2069) reorder what a reader sees,
# so a name or address can look like another one; zero-width characters (U+200B–U+200D, U+2060,
# U+FEFF) make two different stored names look the same, which defeats searching and matching.
INVISIBLE_CONTROLS = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")

# Any date a person types is within these years. Outside them a date is a typing error, and date
# arithmetic near year 9999 overflows (a day list for 31.12.9999 has no "next day").
EARLIEST_YEAR = 1900
LATEST_YEAR = 2200


def validate_no_invisible_controls(value) -> None:
    if value and INVISIBLE_CONTROLS.search(str(value)):
        raise ValidationError(
            _("Teksten inneholder usynlige styretegn (retningstegn eller tegn uten bredde). Skriv den inn på nytt uten dem."),
            code="invisible_controls",
        )


def validate_plausible_date(value) -> None:
    if isinstance(value, date) and not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValidationError(
            _("Datoen må være mellom år %(earliest)s og %(latest)s."),
            code="date_out_of_range",
            params={"earliest": EARLIEST_YEAR, "latest": LATEST_YEAR},
        )
