"""Validation of Norwegian national identity numbers (fødselsnummer, D-nummer).

See ../shared/spec/national-id.md. The common library validators reject numbers
the register really issues (the 2032 check-digit rule, synthetic Tenor numbers),
so the application checks them itself. The number is never used to derive a
birth date or sex: those come from the register.
"""

from __future__ import annotations

import calendar

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

K1_WEIGHTS = (3, 7, 6, 1, 8, 9, 4, 5, 2)
K2_WEIGHTS = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)

# Characters people type between groups of digits; anything else is an error.
_SEPARATORS = str.maketrans("", "", " .-\u00a0")


def _weighted(digits: list[int], weights: tuple[int, ...]) -> int:
    return sum(w * d for w, d in zip(weights, digits))


def _check_digits_ok(digits: list[int]) -> bool:
    # Classic rule: (sum + k1) mod 11 == 0. From 2032 the first remainder may be
    # 0, 1, 2 or 3; k2 is unchanged by the new rule.
    k1_ok = (_weighted(digits[:9], K1_WEIGHTS) + digits[9]) % 11 in (0, 1, 2, 3)
    k2_ok = (_weighted(digits[:10], K2_WEIGHTS) + digits[10]) % 11 == 0
    return k1_ok and k2_ok


def validate(number: str, *, allow_synthetic: bool, allow_h_number: bool = False) -> str:
    """Return the normalised 11 digits or raise ValidationError in Norwegian."""
    if number is None:
        raise ValidationError(_("Fødselsnummer mangler."), code="required")
    text = str(number).strip().translate(_SEPARATORS)
    if not text:
        raise ValidationError(_("Fødselsnummer mangler."), code="required")
    if not text.isascii() or not text.isdigit():
        raise ValidationError(
            _("Fødselsnummeret kan bare inneholde sifre (11 sifre)."), code="not_digits"
        )
    if len(text) != 11:
        raise ValidationError(
            _("Fødselsnummeret må ha 11 sifre, ikke %(count)d.") % {"count": len(text)},
            code="length",
        )
    digits = [int(c) for c in text]

    if digits[0] in (8, 9):
        raise ValidationError(
            _("FH-nummer (første siffer 8 eller 9) er ikke et fødselsnummer og kan ikke brukes."),
            code="fh_number",
        )

    day = int(text[0:2])
    month = int(text[2:4])
    year2 = int(text[4:6])

    if day > 40:
        day -= 40  # D-number
    synthetic = False
    if month > 80:
        month -= 80
        synthetic = True
    elif month > 40:
        if not allow_h_number:
            raise ValidationError(
                _("H-nummer (måned + 40) er ikke et folkeregisternummer og kan ikke brukes."),
                code="h_number",
            )
        month -= 40

    if synthetic and not allow_synthetic:
        raise ValidationError(
            _("Syntetiske testnummer (Tenor) er ikke tillatt i denne installasjonen."),
            code="synthetic",
        )

    if not _date_possible(day, month, year2):
        raise ValidationError(
            _("Datoen i fødselsnummeret finnes ikke (%(date)s).")
            % {"date": f"{day:02d}.{month:02d}.{year2:02d}"},
            code="date",
        )

    if not _check_digits_ok(digits):
        raise ValidationError(
            _("Kontrollsifrene i fødselsnummeret stemmer ikke. Sjekk at nummeret er skrevet riktig."),
            code="check_digit",
        )
    return text


def _date_possible(day: int, month: int, year2: int) -> bool:
    if not 1 <= month <= 12 or day < 1:
        return False
    if month == 2 and day == 29:
        # The century is not reliably encoded (and never after 2032), so
        # 29 February is accepted when the two-digit year is a leap year in
        # any century the register covers (1854-2039 and on).
        return any(calendar.isleap(century + year2) for century in (1800, 1900, 2000))
    return day <= calendar.monthrange(2001, month)[1]


def is_valid(number: str, *, allow_synthetic: bool) -> bool:
    try:
        validate(number, allow_synthetic=allow_synthetic)
    except ValidationError:
        return False
    return True


def validator_from_settings(value: str) -> str:
    """Field validator that reads the synthetic-id setting at call time."""
    from django.conf import settings

    return validate(
        value,
        allow_synthetic=settings.ALLOW_SYNTHETIC_IDS,
        allow_h_number=getattr(settings, "ALLOW_H_NUMBERS", False),
    )


def make_synthetic(day: int, month: int, year2: int, individual: int, *, d_number: bool = False) -> str | None:
    """Build a valid synthetic (Tenor) number for the demo and the tests.

    Returns None when no classic check digit exists for this individual number.
    """
    first = day + 40 if d_number else day
    base = f"{first:02d}{month + 80:02d}{year2:02d}{individual:03d}"
    digits = [int(c) for c in base]
    k1 = (11 - _weighted(digits, K1_WEIGHTS) % 11) % 11
    if k1 == 10:
        return None
    digits.append(k1)
    k2 = (11 - _weighted(digits, K2_WEIGHTS) % 11) % 11
    if k2 == 10:
        return None
    return base + f"{k1}{k2}"
