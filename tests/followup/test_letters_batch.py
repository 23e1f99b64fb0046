"""The print batch: exactly once, archived PDFs, the merged print file, interruption and resume,
bounded failures, marking sent, returned mail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from django.db.models import Q

from followup.letters import rendering
from followup.letters.batch import letter_batch_mark_sent, letter_batch_start, letter_mark_sent, letter_register_returned, letter_retry, letters_resume
from followup.letters.making import LetterError, letters_create_due, letters_due_count, letters_stop_for_child
from followup.letters.printing import MAX_ATTEMPTS, STALE_AFTER, letters_claim, letters_render_claimed
from followup.letters.tasks import render_batch
from followup.letters.models import BatchState, Letter, LetterBatch, LetterState
from followup.models import CaseStep, StepKind, StepStatus
from tests.followup.letters_support import _media, case_at_step, parent, pdf_pages, pdf_text  # noqa: F401
from tests.factories import ChildFactory

pytestmark = pytest.mark.django_db


def _children_with_letter_steps(station, n, **parent_kwargs):
    steps = []
    for i in range(n):
        child = ChildFactory(station=station, given_name=f"Barn{i}", family_name="Hansen")
        parent(child, **parent_kwargs)
        steps.append(case_at_step(child)[1])
    return steps


def _run_batch(station, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        batch = letter_batch_start(station=station, user=user)
    batch.refresh_from_db()
    return batch


def test_the_database_refuses_a_second_letter_for_the_same_step_and_recipient(child_a):
    g = parent(child_a)
    case, step = case_at_step(child_a)
    fields = dict(kind="new_invitation", child=child_a, station=child_a.station, case=case, case_step=step, recipient=g, recipient_name="X")
    Letter.objects.create(**fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        Letter.objects.create(**fields)


def test_a_batch_archives_each_letter_and_merges_one_print_file(station_a, clerk_a, django_capture_on_commit_callbacks):
    steps = _children_with_letter_steps(station_a, 3, preferred_language="uk")
    batch = _run_batch(station_a, clerk_a, django_capture_on_commit_callbacks)
    assert batch.state == BatchState.READY
    letters = list(Letter.objects.filter(batch=batch).order_by("id"))
    assert [l.state for l in letters] == [LetterState.PRODUCED] * 3
    assert {l.case_step_id for l in letters} == {s.id for s in steps}
    for letter in letters:
        assert letter.produced_by == clerk_a and letter.produced_at
        with letter.pdf.open("rb") as f:
            data = f.read()
        assert pdf_pages(data) == letter.page_count == 2  # Norwegian page, Ukrainian page
        assert letter.child.full_name in pdf_text(data)
    with batch.pdf.open("rb") as f:
        merged = f.read()
    assert pdf_pages(merged) == batch.page_count == 6


def test_marking_the_batch_sent_completes_the_letter_steps(station_a, clerk_a, django_capture_on_commit_callbacks):
    (step,) = _children_with_letter_steps(station_a, 1)
    batch = _run_batch(station_a, clerk_a, django_capture_on_commit_callbacks)
    assert letter_batch_mark_sent(batch=batch, user=clerk_a) == 1
    step.refresh_from_db()
    assert step.status == StepStatus.DONE
    assert "sendt til 1 mottaker" in step.evidence
    assert step.case.current_step.kind == StepKind.LETTER_DUTY_REMINDER
    with pytest.raises(LetterError):
        letter_batch_mark_sent(batch=batch, user=clerk_a)


def test_protected_letters_stay_out_of_the_print_file_and_wait_for_manual_sending(station_a, clerk_a, django_capture_on_commit_callbacks):
    child = ChildFactory(station=station_a)
    parent(child, given_name="Vanlig", family_name="Adresse")
    parent(child, given_name="Skjult", family_name="Adresse", relation="father", street_address="Hemmelig 1", address_protection="Confidential")
    _, step = case_at_step(child)
    batch = _run_batch(station_a, clerk_a, django_capture_on_commit_callbacks)
    with batch.pdf.open("rb") as f:
        merged = pdf_text(f.read())
    assert "Vanlig Adresse" in merged and "Skjult" not in merged and "Hemmelig" not in merged
    manual = Letter.objects.get(manual_handling=True)
    assert manual.batch is None and manual.state == LetterState.PRODUCED  # rendered for hand-addressing
    with manual.pdf.open("rb") as f:
        assert "Hemmelig" not in pdf_text(f.read())
    letter_batch_mark_sent(batch=batch, user=clerk_a)
    step.refresh_from_db()
    assert step.status == StepStatus.ACTIVE  # the manual letter is not sent yet
    letter_mark_sent(letter=manual, user=clerk_a)
    step.refresh_from_db()
    assert step.status == StepStatus.DONE


def test_an_interrupted_batch_finishes_on_resume_with_each_letter_once(station_a, clerk_a, django_capture_on_commit_callbacks, monkeypatch):
    """A worker dies after claiming a chunk (and after storing part of it): the claims go
    stale, the resume sweep releases them, and every letter ends produced exactly once."""
    _children_with_letter_steps(station_a, 5)
    monkeypatch.setattr(render_batch, "delay", lambda *args: None)  # the message is lost
    batch = letter_batch_start(station=station_a, user=clerk_a)
    # A worker claims two letters and is killed before it finishes them.
    crashed = letters_claim(Q(batch_id=batch.id), timezone.now(), 2)
    assert Letter.objects.filter(state=LetterState.RENDERING).count() == 2
    # Another worker renders one more letter and is killed before the merge.
    done_one = letters_claim(Q(batch_id=batch.id), timezone.now(), 1)
    letters_render_claimed(done_one, Letter.objects.get(id=done_one[0]).claimed_at)
    monkeypatch.undo()
    with django_capture_on_commit_callbacks(execute=True):
        report = letters_resume(now=timezone.now() + STALE_AFTER + timedelta(seconds=1))
    assert report["released"] == 2
    batch.refresh_from_db()
    assert batch.state == BatchState.READY
    letters = list(Letter.objects.filter(batch=batch))
    assert len(letters) == 5 and all(l.state == LetterState.PRODUCED for l in letters)
    assert {l.attempts for l in letters if l.id in crashed} == {2}
    with batch.pdf.open("rb") as f:
        text = pdf_text(f.read())
    for i in range(5):
        assert text.count(f"Barn{i} Hansen, født") == 1


def test_a_late_worker_cannot_overwrite_a_reclaimed_letter(station_a, clerk_a, monkeypatch):
    _children_with_letter_steps(station_a, 1)
    monkeypatch.setattr(render_batch, "delay", lambda *args: None)
    batch = letter_batch_start(station=station_a, user=clerk_a)
    old_claim = timezone.now() - timedelta(minutes=10)
    (letter_id,) = letters_claim(Q(batch_id=batch.id), old_claim, 5)
    letters_resume()
    new_claim = timezone.now()
    letters_claim(Q(batch_id=batch.id), new_claim, 5)
    # The worker that held the old claim finishes its render late: nothing of it is kept.
    assert letters_render_claimed([letter_id], old_claim) == 0
    letter = Letter.objects.get(id=letter_id)
    assert letter.state == LetterState.RENDERING and letter.claimed_at == new_claim and not letter.pdf


def test_a_letter_that_keeps_failing_ends_failed_and_does_not_loop(station_a, clerk_a, django_capture_on_commit_callbacks, monkeypatch):
    _children_with_letter_steps(station_a, 2)
    real = rendering.render_chunk

    def broken(contexts):
        if any(c["child_name"].startswith("Barn1 ") for c in contexts):
            raise RuntimeError("font exploded")
        return real(contexts)

    monkeypatch.setattr(rendering, "render_chunk", broken)
    batch = _run_batch(station_a, clerk_a, django_capture_on_commit_callbacks)
    bad = Letter.objects.get(child__given_name="Barn1")
    good = Letter.objects.get(child__given_name="Barn0")
    assert bad.state == LetterState.FAILED and bad.attempts == MAX_ATTEMPTS
    assert "font exploded" in bad.error
    assert good.state == LetterState.PRODUCED
    assert batch.state == BatchState.READY and batch.page_count == good.page_count
    monkeypatch.undo()
    letter_retry(letter=bad)
    bad.refresh_from_db()
    assert bad.state == LetterState.PENDING and bad.attempts == 0 and bad.batch is None


def test_returned_mail_sends_the_case_to_the_address_check(station_a, clerk_a, django_capture_on_commit_callbacks):
    (step,) = _children_with_letter_steps(station_a, 1)
    batch = _run_batch(station_a, clerk_a, django_capture_on_commit_callbacks)
    letter_batch_mark_sent(batch=batch, user=clerk_a)
    letter = Letter.objects.get()
    letter_register_returned(letter=letter, user=clerk_a)
    letter.refresh_from_db()
    assert letter.returned_at and letter.returned_by == clerk_a
    step.case.refresh_from_db()
    assert step.case.current_step.kind == StepKind.ADDRESS_CHECK
    assert CaseStep.objects.filter(case=step.case, status=StepStatus.SKIPPED).count() == 1  # the duty-letter step it left
    with pytest.raises(LetterError):
        letter_register_returned(letter=letter, user=clerk_a)


def test_no_batch_when_nothing_is_due(station_a, clerk_a):
    with pytest.raises(LetterError):
        letter_batch_start(station=station_a, user=clerk_a)
    assert not LetterBatch.objects.exists()


def test_a_letter_whose_case_closed_is_not_printed(station_a, clerk_a, django_capture_on_commit_callbacks):
    steps = _children_with_letter_steps(station_a, 2)
    letters_create_due(station=station_a)
    from followup.models import CloseReason
    from followup.closing import case_close

    case_close(case=steps[0].case, reason=CloseReason.ATTENDED, closed_by=None)
    batch = _run_batch(station_a, clerk_a, django_capture_on_commit_callbacks)
    assert Letter.objects.get(case_step=steps[0]).state == LetterState.CANCELLED
    assert list(Letter.objects.filter(batch=batch).values_list("case_step_id", flat=True)) == [steps[1].id]


def test_stopping_a_childs_letters(station_a):
    (step,) = _children_with_letter_steps(station_a, 1)
    letters_create_due(station=station_a)
    assert letters_stop_for_child(child=step.case.child) == 1
    assert Letter.objects.get().state == LetterState.CANCELLED


def test_invitation_letters_for_booked_appointments_when_the_station_sends_them(station_a, clerk_a, nurse_a, django_capture_on_commit_callbacks):
    from tests.factories import AppointmentFactory, ConsultationFactory

    station_a.send_invitation_letters = True
    station_a.save()
    child = ChildFactory(station=station_a, given_name="Inga")
    parent(child, preferred_language="pl")
    starts = timezone.localtime(timezone.now() + timedelta(days=14)).replace(hour=9, minute=0, second=0, microsecond=0)
    appointment = AppointmentFactory(consultation=ConsultationFactory(child=child), starts_at=starts, professional=nurse_a)
    assert letters_due_count(station=station_a)["invitations"] == 1
    batch = _run_batch(station_a, clerk_a, django_capture_on_commit_callbacks)
    letter = Letter.objects.get(batch=batch)
    assert letter.kind == "invitation" and letter.appointment == appointment
    with letter.pdf.open("rb") as f:
        text = pdf_text(f.read())
    assert "Innkalling til helsestasjonen" in text and f"{starts:%d.%m.%Y} kl. 09:00" in text
    assert "Tilbudet er gratis" in text and "Zaproszenie" in text
    assert letters_due_count(station=station_a)["invitations"] == 0
