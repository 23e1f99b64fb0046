"""The chronology lists the letters of a case, by name only, and hides clinical entries from clerks."""

from __future__ import annotations

import pytest

from followup.chronology import case_chronology
from followup.letters.models import Letter
from followup.decisions import case_leader_decide
from followup.letters.batch import letter_batch_mark_sent
from followup.models import Case
from followup.steps import case_step_complete
from followup.sweep import followup_sweep
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


def _decided_case(station, outcome, leader, decision="home_visit"):
    from tests.factories import ChildFactory

    child = ChildFactory(station=station, special_attention=True)
    outcome(child, "not_brought")
    followup_sweep()
    case = Case.objects.get(child=child)
    case_leader_decide(case=case, user=leader, decision=decision, note="Drøftet med helsesykepleier")
    case.refresh_from_db()
    return case


def test_the_chronology_never_repeats_a_prefix(station_a, outcome, leader_a, nurse_a):

    case = _decided_case(station_a, outcome, leader_a)
    case_step_complete(step=case.current_step, user=nurse_a, evidence="Vurder hjemmebesøk: avtalt med mor")
    entries = case_chronology(case=case)
    for entry in entries:
        assert not entry.text.startswith(f"{entry.kind}:"), entry
        head = entry.text.split(": ", 1)[0]
        assert f"{head}: {head}:" not in entry.text, entry
    assert not any("Lederbeslutning: Lederbeslutning" in e.text for e in entries)


def test_a_leader_s_decision_is_told_once(station_a, outcome, leader_a):
    case = _decided_case(station_a, outcome, leader_a)
    decisions = [e for e in case_chronology(case=case) if e.kind not in ("Trinn", "Utfall", "Innkalling") and ("Hjemmebesøk" in e.text or "Lederbeslutning" in e.text)]
    assert [(e.kind, e.text, e.detail) for e in decisions] == [("Lederbeslutning", "Hjemmebesøk", "Drøftet med helsesykepleier")]


def test_the_chronology_pdf_reads_without_repeated_prefixes(station_a, outcome, leader_a):
    from followup.chronology import chronology_pdf
    from tests.followup.letters_support import pdf_text

    case = _decided_case(station_a, outcome, leader_a)
    text = " ".join(pdf_text(chronology_pdf(case=case, user=leader_a)).split())
    assert "Lederbeslutning" in text and "Hjemmebesøk" in text and "Drøftet med helsesykepleier" in text
    assert "Lederbeslutning: Lederbeslutning" not in text and "Lederbeslutning: Hjemmebesøk" not in text


def test_each_letter_event_is_told_once(station_a, clerk_a, django_capture_on_commit_callbacks, settings, tmp_path):
    from followup.letters.batch import letter_batch_mark_sent, letter_batch_start
    from tests.factories import ChildFactory
    from tests.followup.letters_support import case_at_step, parent

    settings.MEDIA_ROOT = tmp_path / "media"
    child = ChildFactory(station=station_a, given_name="Siri")
    mother = parent(child, given_name="Mona", street_address="Storgata 1")
    father = parent(child, given_name="Frode", relation="father", street_address="Lillegata 2")
    case, step = case_at_step(child)
    with django_capture_on_commit_callbacks(execute=True):
        batch = letter_batch_start(station=station_a, user=clerk_a)
    batch.refresh_from_db()
    letter_batch_mark_sent(batch=batch, user=clerk_a)
    step.refresh_from_db()
    assert step.status == "done"
    entries = [(e.kind, e.text) for e in case_chronology(case=case)]
    letter_entries = [text for kind, text in entries if kind == "Brev"]
    for guardian in (mother, father):
        name = Letter.objects.get(recipient=guardian).recipient_name
        assert [t for t in letter_entries if name in t and t.endswith(" laget")] == [f"Ny innkalling til {name} laget"]
        assert [t for t in letter_entries if name in t and t.endswith(" sendt")] == [f"Ny innkalling til {name} sendt"]
    assert len(letter_entries) == 4
    # The step's own "done" entry would say the same a third time.
    assert not [text for kind, text in entries if kind == "Utført"], entries


def test_a_letter_step_done_by_hand_still_says_what_was_done(station_a, clerk_a):
    from tests.factories import ChildFactory
    from tests.followup.letters_support import case_at_step, parent

    child = ChildFactory(station=station_a)
    parent(child)
    case, step = case_at_step(child)
    case_step_complete(step=step, user=clerk_a, evidence="Levert i hånden på helsestasjonen")
    assert any(e.kind == "Utført" and "Levert i hånden" in e.text for e in case_chronology(case=case))


def test_a_row_of_the_chronology_pdf_is_never_split_across_two_pages(station_a, outcome, nurse_a, leader_a):
    import io

    from pypdf import PdfReader

    from followup.chronology import chronology_pdf
    from followup.models import CallLog, CaseStep
    from tests.factories import ChildFactory

    child = ChildFactory(station=station_a)
    outcome(child, "not_brought")
    followup_sweep()
    case = Case.objects.get(child=child)
    step = CaseStep.objects.filter(case=case).first()
    filler = " ".join(["Mor forteller om en travel uke med sykdom i familien og lite søvn."] * 6)
    CallLog.objects.bulk_create(
        CallLog(case=case, step=step, result="no_answer", called_by=nurse_a, note=f"RADSTART{n:02d} {filler} RADSLUTT{n:02d}")
        for n in range(40)
    )
    pages = [" ".join((page.extract_text() or "").split()) for page in PdfReader(io.BytesIO(chronology_pdf(case=case, user=leader_a))).pages]
    assert len(pages) >= 4
    for n in range(40):
        starts = [i for i, text in enumerate(pages) if f"RADSTART{n:02d}" in text]
        ends = [i for i, text in enumerate(pages) if f"RADSLUTT{n:02d}" in text]
        assert starts == ends and len(starts) == 1, (n, starts, ends)
