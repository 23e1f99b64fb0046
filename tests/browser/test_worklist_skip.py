"""The clerk skips a step from her work list in a real browser: the row's "Hopp over trinnet" fetches
its form when opened (the lists do not carry it on every row), and the skip moves the case on."""

from __future__ import annotations

import os

import pytest
from django.utils import timezone

from followup.models import Case, StepKind, StepStatus
from followup.sweep import followup_sweep
from tests.attendance.conftest import booked, local, planned_child, programme  # noqa: F401 (fixtures)
from tests.browser.test_followup_flow import _logged_in

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

playwright_sync = pytest.importorskip("playwright.sync_api")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_clerk_opens_skip_on_her_list_and_the_case_moves_on(
    live_server, fake_helseid, browser, station_a, nurse_a, clerk_a, planned_child, booked
):
    from attendance.outcomes import appointment_record_outcome

    expect = playwright_sync.expect
    child = planned_child(station_a, given_name="Siri", family_name="Holm")
    appointment = booked(child, nurse_a, starts_at=local(timezone.localdate(), 8))
    appointment_record_outcome(appointment=appointment, outcome="not_brought", recorded_by=nurse_a)
    followup_sweep()
    case = Case.objects.get(child=child)
    first = case.current_step

    clerk = _logged_in(browser, live_server, fake_helseid, clerk_a)
    clerk.goto(f"{live_server.url}/oppfolging/merkantil/")
    row = clerk.locator(f"#case-{case.pk}")
    expect(row).to_contain_text("Holm, Siri")
    expect(row.get_by_label("Begrunnelse (påkrevd)")).to_have_count(0)
    row.get_by_text("Hopp over trinnet").click()
    reason = row.get_by_label("Begrunnelse (påkrevd)")
    expect(reason).to_be_visible()
    reason.fill("Foresatte ringte og bestilte selv")
    row.get_by_role("button", name="Hopp over", exact=True).click()
    # The case is now the nurse's: the row says so in place.
    expect(row).to_contain_text("Saken er nå hos")
    first.refresh_from_db()
    case.refresh_from_db()
    assert first.status == StepStatus.SKIPPED and first.skip_reason == "Foresatte ringte og bestilte selv"
    assert case.current_step.kind == StepKind.PHONE_CALL
