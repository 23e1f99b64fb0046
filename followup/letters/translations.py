"""Which letter texts exist in which language, and whether a translation is reviewed.

The texts themselves are templates (templates/followup/letters/text_<lang>.html,
one named partial per letter kind), so a translator edits one file per language.
A translation is printed after the Norwegian letter whether or not it is reviewed;
an unreviewed one carries a notice that the Norwegian letter is the valid version.
Set a flag to True only when a qualified translator has checked that text.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class LetterKind(models.TextChoices):
    INVITATION = "invitation", _("Innkalling")
    NEW_INVITATION = "new_invitation", _("Ny innkalling")
    DUTY_REMINDER = "duty_reminder", _("Brev om foreldrenes plikt")
    GP_CONFIRMATION = "gp_confirmation", _("Bekreftelse fra fastlege")


NORWEGIAN = ("nb", "nn")
SHIPPED_LANGUAGES = ("nb", "nn", "en", "pl", "uk", "ar", "so")
RTL_LANGUAGES = frozenset({"ar"})

# (kind, language) -> reviewed. Bokmål is the original. Every other text was
# written by the developers and waits for a qualified translator's review.
REVIEWED: dict[tuple[str, str], bool] = {
    (kind, lang): lang == "nb" for kind in LetterKind.values for lang in SHIPPED_LANGUAGES
}


def translation_language(*, preferred: str, base: str) -> str | None:
    """The language printed after the Norwegian letter, or None when Norwegian suffices."""
    if not preferred or preferred in NORWEGIAN or preferred == base:
        return None
    if preferred not in SHIPPED_LANGUAGES:
        return None
    return preferred


def is_reviewed(*, kind: str, language: str) -> bool:
    return REVIEWED.get((kind, language), False)


def body_template(*, kind: str, language: str) -> str:
    return f"followup/letters/text_{language}.html#{kind}"


def notice_template(*, language: str) -> str:
    return f"followup/letters/text_{language}.html#notice"
