"""A nurse's call form sent with a mistake, in a real browser: nothing typed is lost, the field is
marked for assistive technology and the focus is on it, so she corrects it and saves."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from followup.models import StepKind
from tests.attendance.conftest import planned_child, programme  # noqa: F401 (fixtures)
from tests.followup.letters_support import case_at_step

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from tests.helseid_support import browser_login  # noqa: E402

playwright_sync = pytest.importorskip("playwright.sync_api")


def send_a_call_without_its_date(page, live_server, case, note: str):
    """On the case page, "Ring igjen" chosen and a note typed, but no date: saved with htmx."""
    page.goto(f"{live_server.url}/oppfolging/sak/{case.pk}/")
    section = page.locator(f"#sak-{case.pk}")
    section.get_by_label("Ring igjen", exact=True).check()
    section.get_by_label("Notat").fill(note)
    section.get_by_role("button", name="Lagre samtale").click()
    return section


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_call_sent_without_its_date_keeps_the_note_and_marks_the_field(live_server, fake_helseid, browser, station_a, nurse_a, planned_child):
    expect = playwright_sync.expect
    case, step = case_at_step(planned_child(station_a, given_name="Frida"), StepKind.PHONE_CALL)
    page = browser.new_context().new_page()
    page.set_default_timeout(10_000)
    browser_login(page, live_server, fake_helseid, nurse_a)
    section = send_a_call_without_its_date(page, live_server, case, "Far ba oss ringe etter klokka 15")

    # The section comes back in place (htmx): the choice and the note as typed, the date marked and focused.
    date = section.get_by_label("Ring igjen dato")
    expect(date).to_have_attribute("aria-invalid", "true")
    expect(date).to_be_focused()
    expect(section.get_by_label("Notat")).to_have_value("Far ba oss ringe etter klokka 15")
    expect(section.get_by_label("Ring igjen", exact=True)).to_be_checked()
    described = date.get_attribute("aria-describedby")
    expect(page.locator(f"#{described}")).to_have_text("Velg datoen du skal ringe igjen.")
    expect(section.get_by_role("alert")).to_contain_text("Ikke lagret")
    assert not step.calls.exists()

    # Corrected, it is saved.
    date.fill((timezone.localdate() + timedelta(days=3)).isoformat())
    section.get_by_role("button", name="Lagre samtale").click()
    expect(section).to_contain_text("Samtalen er lagret")
    assert step.calls.count() == 1
