"""The chronology lists the letters of a case, by name only, and hides clinical entries from clerks."""

from __future__ import annotations

import pytest

from followup.chronology import case_chronology
from followup.letters.models import Letter
from followup.letters.services import letter_batch_mark_sent
from followup.models import Case
from tests.privacy.test_privacy_crawl import CALL_NOTE, CONFIDENTIAL, STRICT, world  # noqa: F401

pytestmark = pytest.mark.django_db


def test_letters_made_and_sent_are_in_the_chronology_without_addresses(world):
    case = Case.objects.get(child=world["letter_child"])
    letter = Letter.objects.filter(case=case, produced_at__isnull=False).first()
    assert letter is not None
    letter_batch_mark_sent(batch=letter.batch, user=world["users"]["clerk_a"])
    texts = [f"{e.kind}: {e.text} {e.detail}" for e in case_chronology(case=case)]
    assert any(t.startswith("Brev:") and letter.recipient_name in t and "laget" in t for t in texts), texts
    assert any(t.startswith("Brev:") and "sendt" in t for t in texts), texts
    assert not any(STRICT in t or CONFIDENTIAL in t for t in texts)


def test_a_clerk_gets_the_chronology_without_call_notes(world):
    case = Case.objects.get(child=world["child_a"])
    full = " ".join(f"{e.text} {e.detail}" for e in case_chronology(case=case))
    clerk = " ".join(f"{e.text} {e.detail}" for e in case_chronology(case=case, include_clinical=False))
    assert CALL_NOTE in full and CALL_NOTE not in clerk
