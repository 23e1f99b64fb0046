"""The nurse's main path in a real browser (Debian's Chromium): record, reload, correct; keys, focus, layout."""

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

    row2.get_by_text("Ikke møtt …").click()  # the reason is asked for only after choosing "Ikke møtt"
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


def _day_with_rows(station_a, nurse_a, planned_child, booked, count=6):
    today = timezone.localdate()
    names = ["Astrid", "Ludvig", "Maryam", "Olav", "Sofie", "Yusuf", "Ingrid", "Nils"]
    return [booked(planned_child(station_a, given_name=names[i]), nurse_a, starts_at=local(today, 8 + i)) for i in range(count)]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_keyboard_records_the_focused_rows_outcome_and_the_focus_stays_on_the_row(
        live_server, fake_helseid, browser_page, station_a, nurse_a, planned_child, booked):
    first, second, *_ = _day_with_rows(station_a, nurse_a, planned_child, booked, count=3)
    expect = playwright_sync.expect
    page = browser_page
    browser_login(page, live_server, fake_helseid, nurse_a)
    expect(page.locator("#day-keys")).to_contain_text("M for «Møtt»")

    page.locator(f"#time-{first.pk}").focus()
    page.keyboard.press("m")
    expect(page.locator(f"#time-{first.pk} .recorded")).to_contain_text("Møtt")
    # The swapped row has the focus again, and the result was announced.
    expect(page.locator(f"#time-{first.pk}")).to_be_focused()
    expect(page.locator("#messages .announcer")).to_contain_text("Møtt er registrert")

    page.keyboard.press("ArrowDown")
    expect(page.locator(f"#time-{second.pk}")).to_be_focused()
    page.keyboard.press("i")
    reason = page.locator(f"#time-{second.pk}").get_by_label("Årsak")
    expect(reason).to_be_focused()
    reason.select_option("illness")
    page.locator(f"#time-{second.pk}").get_by_role("button", name="Ikke møtt", exact=True).press("Enter")
    expect(page.locator(f"#time-{second.pk} .recorded")).to_contain_text("Sykdom")
    expect(page.locator(f"#time-{second.pk}")).to_be_focused()
    assert OutcomeEvent.objects.get(appointment=first).outcome == Outcome.ATTENDED
    assert OutcomeEvent.objects.get(appointment=second).reason == "illness"
    assert not [e for e in page.console_errors if "Content Security Policy" in e]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_one_line_per_time_at_1366_and_cards_with_every_control_at_820(
        live_server, fake_helseid, browser_page, station_a, nurse_a, planned_child, booked):
    appointments = _day_with_rows(station_a, nurse_a, planned_child, booked, count=8)
    expect = playwright_sync.expect
    page = browser_page
    shots = os.environ.get("SCREENSHOT_DIR")
    page.set_viewport_size({"width": 1366, "height": 900})
    browser_login(page, live_server, fake_helseid, nurse_a)
    expect(page.locator(f"#time-{appointments[0].pk}")).to_be_visible()
    if shots:
        os.makedirs(shots, exist_ok=True)
        page.screenshot(path=os.path.join(shots, "day-1366.png"), full_page=True)
    # One line: no cell's text wraps (each cell's text lies on one line box), and the row is no
    # taller than its tallest control (the buttons) with padding.
    wrapped = page.eval_on_selector_all("tr[data-row] td:not(.outcome)", """cells => cells.filter(td => {
        const range = document.createRange(); range.selectNodeContents(td);
        const tops = new Set([...range.getClientRects()].filter(r => r.width > 0 && r.height > 0).map(r => Math.round(r.bottom / 8)));
        return tops.size > 1;
    }).map(td => td.innerText)""")
    assert wrapped == []
    heights = page.eval_on_selector_all("tr[data-row]", "rows => rows.map(r => r.getBoundingClientRect().height)")
    button = page.locator("tr[data-row] button.primary").first.bounding_box()["height"]
    assert len(heights) == 8 and max(heights) < button + 24, (heights, button)
    assert page.evaluate("document.documentElement.scrollWidth") <= 1366

    page.set_viewport_size({"width": 820, "height": 1100})
    assert page.evaluate("document.documentElement.scrollWidth") <= 820
    last = page.locator(f"#time-{appointments[-1].pk}")
    last.get_by_text("Mer", exact=False).click()
    expect(last.get_by_role("button", name="Flyttet")).to_be_visible()
    for control in (last.get_by_role("button", name="Møtt", exact=True), last.get_by_role("button", name="Avlyst av helsestasjonen")):
        box = control.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 820
    if shots:
        page.screenshot(path=os.path.join(shots, "day-820.png"), full_page=True)
    last.get_by_role("button", name="Avlyst av helsestasjonen").click()
    expect(last.locator(".recorded")).to_contain_text("Avlyst av helsestasjonen")
