"""The clerk's main path in a real browser: produce the day's batch, watch its progress,
download the print PDF, mark it sent; the cases' letter steps are then done."""

from __future__ import annotations

import io
import os

import pytest
from django.db.models import Q
from django.utils import timezone
from pypdf import PdfReader

from followup.letters import batch as letter_batches
from followup.letters.printing import letters_claim, letters_render, letters_render_claimed
from followup.letters.models import Letter, LetterBatch, LetterState
from followup.models import CaseStep, StepStatus
from tests.factories import ChildFactory
from tests.followup.letters_support import _media, case_at_step, parent  # noqa: F401 (fixture)

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from tests.helseid_support import browser_login  # noqa: E402

playwright_sync = pytest.importorskip("playwright.sync_api")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_clerk_produces_downloads_and_sends_the_days_letters(live_server, fake_helseid, browser_page, station_a, clerk_a, monkeypatch):
    steps = []
    for name, language in [("Astrid", "nb"), ("Ludvig", "uk"), ("Maryam", "ar")]:
        child = ChildFactory(station=station_a, given_name=name, family_name="Hansen")
        parent(child, preferred_language=language)
        steps.append(case_at_step(child)[1])
    # The workers are this test: it renders the letters while the page polls.
    monkeypatch.setattr(letter_batches, "letters_enqueue_render", lambda batch_id: None)
    expect = playwright_sync.expect
    page = browser_page
    page.on("dialog", lambda dialog: dialog.accept())

    browser_login(page, live_server, fake_helseid, clerk_a)
    page.get_by_role("link", name="Brev", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Brev")
    expect(page.locator("#due-heading + ul")).to_contain_text("Oppfølgingstrinn med brev: 3")

    page.get_by_role("button", name="Lag dagens brev").click()
    batch = LetterBatch.objects.get()
    row = page.locator(f"#batch-{batch.pk}")
    expect(row).to_contain_text("0 av 3 brev")
    page.evaluate("window.__notReloaded = true")

    # One worker chunk finishes: the progress bar moves without a reload.
    claimed = letters_claim(Q(batch_id=batch.id), timezone.now(), 1)
    letters_render_claimed(claimed, Letter.objects.get(id=claimed[0]).claimed_at)
    expect(row).to_contain_text("1 av 3 brev")
    expect(row.locator("progress")).to_have_attribute("value", "1")
    letters_render(batch_id=batch.id)
    expect(row).to_contain_text("3 av 3 brev")
    expect(row).to_contain_text("Klar til utskrift")
    assert page.evaluate("window.__notReloaded") is True

    with page.expect_download() as info:
        row.get_by_role("link", name="Last ned utskriftsfil").click()
    download = info.value
    assert download.suggested_filename == f"brevbunke-{batch.pk}.pdf"
    data = open(download.path(), "rb").read()
    assert data.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(data))
    letters = list(Letter.objects.filter(batch=batch).order_by("id"))
    assert len(reader.pages) == sum(letter.page_count for letter in letters) == 1 + 2 + 2
    text = "\n".join(page_.extract_text() for page_ in reader.pages)
    for name in ("Astrid", "Ludvig", "Maryam"):
        assert text.count(f"{name} Hansen, født") == 1

    row.get_by_role("button", name="Merk bunken som sendt").click()
    expect(page.locator(".messages")).to_contain_text("3 brev er merket som sendt")
    assert set(Letter.objects.filter(batch=batch).values_list("state", flat=True)) == {LetterState.SENT}
    for step in steps:
        step.refresh_from_db()
        assert step.status == StepStatus.DONE
    assert CaseStep.objects.filter(status=StepStatus.ACTIVE, kind="letter_duty_reminder").count() == 3
