"""The nurse's main path in a real browser (Debian's Chromium): record, reload, correct."""

from __future__ import annotations

import os

import pytest
from django.utils import timezone

from attendance.models import Outcome, OutcomeEvent
from tests.attendance.conftest import booked, local, planned_child, programme  # noqa: F401 (fixtures)

# Playwright's sync API runs an event loop in this thread; the ORM calls the
# test makes around it are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from tests.helseid_support import browser_login  # noqa: E402

playwright_sync = pytest.importorskip("playwright.sync_api")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_nurse_records_two_outcomes_without_reload_and_corrects_one(live_server, fake_helseid, browser_page, station_a, nurse_a, planned_child, booked):
    today = timezone.localdate()
    first = booked(planned_child(station_a, given_name="Astrid"), nurse_a, starts_at=local(today, 9))
    second = booked(planned_child(station_a, given_name="Ludvig"), nurse_a, starts_at=local(today, 10))
    expect = playwright_sync.expect
    page = browser_page

    browser_login(page, live_server, fake_helseid, nurse_a)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Min dag")

    # A marker on the window survives only if the page is never reloaded.
    page.evaluate("window.__notReloaded = true")
    row1, row2 = page.locator(f"#time-{first.pk}"), page.locator(f"#time-{second.pk}")
    expect(row1).to_contain_text("Astrid")
    row1.get_by_role("button", name="Møtt", exact=True).click()
    expect(row1.locator(".recorded")).to_contain_text("Møtt")

    row2.get_by_label("Årsak").select_option("illness")
    row2.get_by_role("button", name="Ikke møtt", exact=True).click()
    expect(row2.locator(".recorded")).to_contain_text("Ikke møtt")
    expect(row2.locator(".recorded")).to_contain_text("Sykdom")
    assert page.evaluate("window.__notReloaded") is True

    page.reload()
    expect(row1.locator(".recorded")).to_contain_text("Møtt")
    expect(row2.locator(".recorded")).to_contain_text("Sykdom")

    # Correct the second: it turned out the child came after all.
    row2.get_by_text("Rett utfall").click()
    row2.locator("details.correct").get_by_role("button", name="Møtt", exact=True).click()
    expect(row2.locator(".recorded")).to_contain_text("(rettet)")
    expect(row2.locator(".recorded")).to_contain_text("Møtt")
    row2.get_by_text("Historikk").click()
    expect(row2.locator("details.history")).to_contain_text("Ikke møtt")

    original = OutcomeEvent.objects.get(appointment=second, replaces__isnull=True)
    assert original.outcome == Outcome.NOT_BROUGHT and original.reason == "illness"
    assert original.replaced_by.outcome == Outcome.ATTENDED
    assert OutcomeEvent.objects.get(appointment=first).outcome == Outcome.ATTENDED
