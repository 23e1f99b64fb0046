"""The leader's statistics in a real browser (Debian's Chromium): open the page, read a figure,
follow it to the children behind it."""

from __future__ import annotations

import os

import pytest

from helsestasjon.models import AccessAction, AccessLog
from tests.followup.statistics_population import build

# Playwright's sync API runs an event loop in this thread; the ORM calls the
# test makes around it are still plain synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from tests.helseid_support import browser_login  # noqa: E402

playwright_sync = pytest.importorskip("playwright.sync_api")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_leader_follows_a_number_to_its_children(live_server, fake_helseid, browser_page, settings, station_a, station_b, nurse_a, nurse_b, leader_a):
    # Follow-up is nudged after each outcome; this test is about the figures only.
    settings.ATTENDANCE_OUTCOME_HOOKS = []
    build(station_a, station_b, nurse_a, nurse_b)
    expect = playwright_sync.expect
    page = browser_page

    browser_login(page, live_server, fake_helseid, leader_a)

    page.get_by_role("link", name="Statistikk").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Statistikk")
    page.get_by_label("Fra og med").fill("2025-01-01")
    page.get_by_label("Til og med").fill("2025-12-31")
    page.get_by_role("button", name="Vis").click()

    coverage = page.locator("#dekning")
    expect(coverage.locator("svg[role=img]")).to_be_visible()
    home_visit = coverage.locator("tbody tr", has=page.get_by_role("rowheader", name="Hjemmebesøk"))
    # Columns: due, in time, late, expired, open, not applicable, left.
    expired = home_visit.locator("td").nth(3)
    expect(expired).to_contain_text("4")  # seen today, the December baby has expired too
    expired.get_by_role("link").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Hjemmebesøk – Utløpt uten oppmøte")
    expect(page.locator(".child-count")).to_have_text("4 barn")
    rows = page.locator("tr.child-row")
    expect(rows).to_have_count(4)
    for name in ("Aldri", "Dodetter", "Rettet", "Desember"):
        expect(page.locator("tr.child-row", has_text=name)).to_have_count(1)
    assert AccessLog.objects.filter(user=leader_a, action=AccessAction.VIEW_LIST).count() == 4

    page.get_by_role("link", name="Tilbake til statistikken").click()
    expect(page.locator("#kostra")).to_contain_text("hjemmebesøk av helsesykepleier innen 14 dager")
    # Nothing on the page broke the Content-Security-Policy (no inline styles in the SVG).
    assert [m for m in page.console_errors if "Content Security Policy" in m or "Refused" in m] == []
