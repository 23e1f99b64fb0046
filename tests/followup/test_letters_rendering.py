"""Every language renders; names print literally; no reason ever appears; HarfBuzz check."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from followup.letters import rendering
from followup.letters.models import Letter, LetterKind
from followup.letters.making import letters_create_due
from followup.letters.printing import letter_context
from followup.models import StepKind
from tests.followup.letters_support import _media, case_at_step, parent, pdf_text  # noqa: F401

pytestmark = pytest.mark.django_db

# A word of the Norwegian original and one of each translation, in its own script.
EXPECTED = {
    "nb": None,
    "nn": "Ny time på helsestasjonen",
    "en": "A new appointment at the child health centre",
    "pl": "Wszystkie dzieci mają prawo",
    "uk": "Новий запис до дитячої консультації",
    "ar": "مركز",
    "so": "Ballan cusub xarunta caafimaadka carruurta",
}


def _letter(child, language, nurse, kind=StepKind.LETTER_NEW_INVITATION):
    parent(child, given_name="Kari", family_name="Nordmann", preferred_language=language)
    case_at_step(child, kind, missed_at=timezone.now() - timedelta(days=3), nurse=nurse)
    letters_create_due(station=child.station)
    return Letter.objects.select_related("child", "station__municipality").get()


def _render(letter) -> str:
    return pdf_text(rendering.render_chunk([letter_context(letter)]).pdf)


@pytest.mark.parametrize("language", list(EXPECTED))
def test_every_language_renders_after_the_norwegian_original(child_a, nurse_a, language):
    letter = _letter(child_a, language, nurse_a)
    text = _render(letter)
    assert "Ny time på helsestasjonen" in text  # the Norwegian original comes first
    assert "Alle barn har rett til helsekontroller" in text
    if language in ("nb", "nn"):
        assert letter.translation_language == ""
        assert "Denne omsetjinga" not in text
    else:
        assert letter.translation_language == language
        assert EXPECTED[language] in text
        assert text.index("Alle barn har rett") < text.index(EXPECTED[language])


def test_arabic_is_printed_in_arabic_script_right_to_left(child_a, nurse_a):
    text = _render(_letter(child_a, "ar", nurse_a))
    arabic = [c for c in text if "\u0600" <= c <= "\u06ff" or "\ufb50" <= c <= "\ufeff"]
    assert len(arabic) > 200
    assert "الطفل" in text or "ﺍﻟﻄﻔﻞ" in text


def test_an_unreviewed_translation_says_the_norwegian_letter_applies(child_a, nurse_a):
    letter = _letter(child_a, "en", nurse_a)
    assert not letter.translation_reviewed
    assert "The Norwegian letter is the valid version" in _render(letter)


@pytest.mark.parametrize("kind", [StepKind.LETTER_NEW_INVITATION, StepKind.LETTER_DUTY_REMINDER])
def test_a_name_with_markup_prints_literally(child_a, nurse_a, kind):
    parent(child_a, given_name='<b>Ola</b> & "Kari"', family_name="Nordmann")
    case_at_step(child_a, kind, missed_at=timezone.now() - timedelta(days=3), nurse=nurse_a)
    letters_create_due(station=child_a.station)
    text = _render(Letter.objects.get())
    assert '<b>Ola</b> & "Kari" Nordmann' in text


def test_the_duty_letter_cites_the_law_but_never_the_reason(child_a, nurse_a):
    text = " ".join(_render(_letter(child_a, "nb", nurse_a, kind=StepKind.LETTER_DUTY_REMINDER)).split())  # wherever the lines break
    assert "pasient- og brukerrettighetsloven § 6-1" in text
    assert "Sykdom" not in text and "sykdom" not in text  # the recorded reason was illness


def test_the_new_invitation_names_the_missed_day_and_the_new_time(child_a, nurse_a):
    missed = timezone.now() - timedelta(days=3)
    parent(child_a)
    case_at_step(child_a, missed_at=missed, nurse=nurse_a)
    from tests.factories import AppointmentFactory, ConsultationFactory

    new_time = timezone.localtime(timezone.now() + timedelta(days=9)).replace(hour=10, minute=30, second=0, microsecond=0)
    AppointmentFactory(consultation=ConsultationFactory(child=child_a), starts_at=new_time, professional=nurse_a)
    letters_create_due(station=child_a.station)
    text = _render(Letter.objects.get())
    assert f"hadde time hos oss {timezone.localtime(missed):%d.%m.%Y}" in text
    assert f"{new_time:%d.%m.%Y} kl. 10:30" in text
    assert "Nora Nilsen" in text


def test_every_kind_renders_in_every_language(child_a):
    """A smoke test of the 28 texts: each renders without a template error."""
    parent(child_a)
    case_at_step(child_a)
    letters_create_due(station=child_a.station)
    letter = Letter.objects.select_related("child", "station__municipality").get()
    contexts = []
    for kind in LetterKind.values:
        for language in ("en", "pl", "uk", "ar", "so", "nn"):
            letter.kind, letter.translation_language = kind, language
            contexts.append(letter_context(letter))
    chunk = rendering.render_chunk(contexts)
    assert len(chunk.page_counts) == 24 and all(count >= 2 for count in chunk.page_counts)
    assert len(chunk.split()) == 24


def test_harfbuzz_check_warns_only_when_the_subsetter_is_missing(monkeypatch):
    from helsestasjon import checks

    monkeypatch.setattr(checks.ctypes.util, "find_library", lambda name: None)
    (warning,) = checks.harfbuzz_subset_check(None)
    assert warning.id == "helsestasjon.W001"
    monkeypatch.setattr(checks.ctypes.util, "find_library", lambda name: "libharfbuzz-subset.so.0")
    assert checks.harfbuzz_subset_check(None) == []


# The old wording blamed the child ("men kom ikke"); a letter speaks to the parents who did not come.
OLD_WORDING = {
    "nb": "kom ikke",
    "nn": "kom ikkje",
    "en": "did not come",
    "pl": "nie przyszedł/przyszła",
    "uk": "не прийшов(ла)",
    "ar": "ولكنه/ا لم يحضر",
    "so": "laakiin ma iman",
}
MISSED_WORDING = {"nb": "men dere møtte ikke", "nn": "men de møtte ikkje"}


def _letter_texts(language: str) -> list[str]:
    from django.template.loader import render_to_string

    from followup.letters.translations import body_template

    letter = {
        "child_name": "Ola Nordmann",
        "child_birth_date": "01.02.2025",
        "missed_date": "03.11.2026",
        "appt": None,
        "station": {"name": "Sentrum helsestasjon", "phone": "22 00 00 00"},
        "reference": "ABC",
    }
    return [render_to_string(body_template(kind=kind, language=language), {"letter": letter}) for kind in LetterKind.values]


@pytest.mark.parametrize("language", list(OLD_WORDING))
def test_no_letter_says_the_child_did_not_come(language):
    for text in _letter_texts(language):
        assert OLD_WORDING[language] not in text
        assert "men kom ikke" not in text and "men kom ikkje" not in text


@pytest.mark.parametrize("language", list(MISSED_WORDING))
def test_the_norwegian_letters_say_the_parents_did_not_come(language):
    texts = dict(zip(LetterKind.values, _letter_texts(language), strict=True))
    assert MISSED_WORDING[language] in texts[LetterKind.NEW_INVITATION]
    assert MISSED_WORDING[language] in texts[LetterKind.DUTY_REMINDER]
