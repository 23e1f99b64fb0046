"""Issue 17 in a real browser: a time taken by a colleague while the clerk chose it keeps her week open.

The clerk opens "Velg annen tid" on her booking list, another booking takes the time she is about to
pick, and she picks it: the row keeps that week and nurse open, the time is marked with the message
beside it, the focus is on the message (read by a screen reader) and the page still passes axe.
"""

from __future__ import annotations

import os
from datetime import time

import pytest

from attendance.models import Appointment, ConsultationState
from attendance.booking import appointment_book
from attendance.working_hours import working_hours_add
from tests.attendance.conftest import booked, local, planned_child, programme  # noqa: F401 (fixtures)
from tests.browser.test_axe import assert_none, axe_page, check  # noqa: F401 (fixture)

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from tests.helseid_support import browser_login  # noqa: E402

playwright_sync = pytest.importorskip("playwright.sync_api")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_time_taken_meanwhile_keeps_the_week_open_with_the_time_marked(
    live_server, fake_helseid, axe_page, station_a, clerk_a, nurse_a, planned_child  # noqa: F811
):
    from django.utils import timezone

    expect = playwright_sync.expect
    for weekday in range(5):
        working_hours_add(professional=nurse_a, station=station_a, weekday=weekday, starts=time(8), ends=time(12))
    child = planned_child(station_a, given_name="Siri", family_name="Holm")
    consultation = child.consultations.filter(state=ConsultationState.DUE).order_by("step__order").first()
    page, failures = axe_page, []
    browser_login(page, live_server, fake_helseid, clerk_a)
    page.goto(f"{live_server.url}/timebestilling/")
    row = page.locator(f"#konsultasjon-{consultation.pk}")
    row.get_by_text("Velg annen tid").click()
    week = row.locator(f"#uke-{consultation.pk}")
    slot = week.locator(".slot-button").nth(2)
    expect(slot).to_be_visible()
    starts_at = timezone.datetime.fromisoformat(slot.locator("xpath=..").locator("input[name=starts_at]").get_attribute("value"))
    shown = timezone.localtime(starts_at).strftime("%H:%M")
    # A colleague books that time for another child first.
    other = planned_child(station_a, given_name="Ola")
    appointment_book(consultation=other.consultations.filter(state=ConsultationState.DUE).first(), starts_at=starts_at,
                     duration_minutes=30, place="station", room="", professional=nurse_a, booked_by=nurse_a)

    slot.click()
    message = row.locator(f"#uke-{consultation.pk}-feil")
    expect(message).to_contain_text("har allerede en time")
    expect(row.locator(".slot-button.taken")).to_have_text(shown)
    assert row.locator(".slot-button.taken").get_attribute("aria-describedby") == f"uke-{consultation.pk}-feil"
    assert page.evaluate("document.activeElement.id") == f"uke-{consultation.pk}-feil"
    expect(page.locator("#messages .announcer")).to_contain_text("har allerede en time")
    check(page, "booking list after a refused time (htmx)", failures)

    # The next free time of the same week books.
    row.locator(f"#uke-{consultation.pk} form .slot-button").first.click()
    expect(row).to_contain_text("Bestilt")
    assert Appointment.objects.filter(consultation=consultation).count() == 1
    assert_none(page, failures)
