"""Follow-up's main path in a real browser: not brought → clerk's list → nurse's call →
leader's decision at step 7 → the chronology PDF lists all of it."""

from __future__ import annotations

import io
import os
from datetime import timedelta

import pytest
from django.utils import timezone

from django.db.models import F

from followup.models import CallLog, Case, CaseStep, StepKind, StepStatus
from followup.sweep import followup_sweep
from tests.attendance.conftest import booked, local, planned_child, programme  # noqa: F401 (fixtures)

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from tests.helseid_support import browser_login  # noqa: E402

playwright_sync = pytest.importorskip("playwright.sync_api")


def _logged_in(browser, live_server, fake_helseid, user):
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(10_000)
    browser_login(page, live_server, fake_helseid, user)
    page.wait_for_load_state()
    return page


def _mark_not_brought(page, appointment) -> None:
    """The nurse marks the appointment's row Ikke møtt on her day and sees it recorded."""
    row = page.locator(f"#time-{appointment.pk}")
    row.get_by_text("Ikke møtt …").click()  # the reason is asked for only after choosing "Ikke møtt"
    row.get_by_role("button", name="Ikke møtt", exact=True).click()
    playwright_sync.expect(row.locator(".recorded")).to_contain_text("Ikke møtt")


def _let_deadline_pass(case):
    """The current step's deadline passes (yesterday), and the sweep moves the case on."""
    CaseStep.objects.filter(case=case, status=StepStatus.ACTIVE).update(deadline=timezone.localdate() - timedelta(days=1))
    followup_sweep()
    case.refresh_from_db()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_not_brought_to_leader_decision_and_chronology(
    live_server, fake_helseid, browser, station_a, nurse_a, clerk_a, leader_a, planned_child, booked
):
    from followup.sms.backends import MemoryBackend

    MemoryBackend.outbox.clear()
    expect = playwright_sync.expect
    today = timezone.localdate()
    child = planned_child(station_a, given_name="Astrid", family_name="Fjell")
    appointment = booked(child, nurse_a, starts_at=local(today, 9))

    # The nurse marks the child Ikke møtt on her day.
    nurse = _logged_in(browser, live_server, fake_helseid, nurse_a)
    expect(nurse.get_by_role("heading", level=1)).to_contain_text("Min dag")
    _mark_not_brought(nurse, appointment)

    followup_sweep()
    case = Case.objects.get(child=child)
    assert case.current_step.kind == StepKind.SMS_REBOOK

    # The clerk sees the case on her list; a new time is booked and she sends the SMS.
    clerk = _logged_in(browser, live_server, fake_helseid, clerk_a)
    clerk.goto(f"{live_server.url}/oppfolging/merkantil/")
    clerk_row = clerk.locator(f"#case-{case.pk}")
    expect(clerk_row).to_contain_text("Fjell, Astrid")
    expect(clerk_row).to_contain_text("Ny time og SMS-påminnelse")
    expect(clerk_row).to_contain_text("Bestill ny time")
    booked(child, nurse_a, starts_at=local(today + timedelta(days=7), 10), booked_by=clerk_a)
    clerk.reload()
    clerk_row.get_by_role("button", name="Send SMS om ny time").click()
    expect(clerk_row).to_contain_text("SMS er sendt")
    expect(clerk_row).to_contain_text("helsesykepleier")
    assert len(MemoryBackend.outbox) == 2
    assert all("ikke møtt" not in m["text"].lower() for m in MemoryBackend.outbox)

    # The nurse calls: no answer.
    nurse.goto(f"{live_server.url}/oppfolging/sykepleier/")
    nurse_row = nurse.locator(f"#case-{case.pk}")
    expect(nurse_row).to_contain_text("Telefon til foresatte")
    nurse_row.get_by_label("Ikke svar").check()
    nurse_row.get_by_role("button", name="Lagre samtale").click()
    expect(nurse_row).to_contain_text("Forsøket er lagret")
    expect(nurse_row).to_contain_text("Ubesvarte anrop: 1")
    case.refresh_from_db()
    assert case.current_step.kind == StepKind.PHONE_CALL

    # Nobody acts on steps 2 to 6: their deadlines pass and the case reaches step 7.
    for _ in range(5):
        _let_deadline_pass(case)
    assert case.current_step.order == 7 and case.current_step.kind == StepKind.DISCUSSION

    # The leader sees it in her queue and records a report of concern.
    leader = _logged_in(browser, live_server, fake_helseid, leader_a)
    leader.goto(f"{live_server.url}/oppfolging/leder/")
    leader_row = leader.locator(f"#case-{case.pk}")
    expect(leader_row).to_contain_text("Fjell, Astrid")
    expect(leader_row).to_contain_text("7. Drøfting")
    leader_row.get_by_role("link", name="Beslutt").click()
    leader_row.get_by_label("Bekymringsmelding til barnevernet").check()
    leader_row.get_by_label("Dato for bekymringsmelding").fill(today.isoformat())
    leader_row.get_by_label("Referanse for bekymringsmelding").fill("BV-2026-042")
    leader_row.get_by_label("Begrunnelse").fill("Gjentatte uteblivelser og ingen kontakt med familien.")
    leader_row.get_by_role("button", name="Lagre beslutning").click()
    expect(leader_row).to_contain_text("Beslutningen er lagret")

    # The chronology PDF lists all of it.
    leader.goto(f"{live_server.url}/oppfolging/sak/{case.pk}/")
    with leader.expect_download() as download_info:
        leader.get_by_role("link", name="Last ned kronologi (PDF)").click()
    download = download_info.value
    assert download.suggested_filename.startswith(f"kronologi-sak-{case.pk}")
    from pypdf import PdfReader

    with open(download.path(), "rb") as fh:
        text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(fh.read())).pages)
    text = " ".join(text.split())
    for expected in (
        "Time bestilt", "Ikke møtt", "Ikke møtt (uteblitt)", "SMS til", "Ikke svar", "fristen gikk ut",
        "Bekymringsmelding til barnevernet", "BV-2026-042", nurse_a.get_full_name(), clerk_a.get_full_name(),
        leader_a.get_full_name(),
    ):
        assert expected in text, expected


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_three_unanswered_calls_then_an_agreed_time_that_the_child_attends(
    live_server, fake_helseid, browser, station_a, nurse_a, clerk_a, planned_child, booked
):
    from attendance.outcomes import appointment_record_outcome
    from followup.steps import case_step_skip
    from attendance.outcomes import appointment_record_outcome
    from followup.steps import case_step_skip

    expect = playwright_sync.expect
    today = timezone.localdate()
    child = planned_child(station_a, given_name="Brage", family_name="Lid")
    appointment = booked(child, nurse_a, starts_at=local(today, 8))

    nurse = _logged_in(browser, live_server, fake_helseid, nurse_a)
    _mark_not_brought(nurse, appointment)
    followup_sweep()
    case = Case.objects.get(child=child)
    case_step_skip(step=case.current_step, user=clerk_a, reason="Foresatte ringte selv")

    # Three calls without an answer on one day: the phone step stays open, each attempt listed.
    nurse.goto(f"{live_server.url}/oppfolging/sak/{case.pk}/")
    section = nurse.locator(f"#sak-{case.pk}")
    for n in (1, 2, 3):
        section.get_by_label("Ikke svar").check()
        section.get_by_role("button", name="Lagre samtale").click()
        expect(section).to_contain_text(f"Ubesvarte anrop: {n}")
        # The calls are minutes apart, not a double click: the attempts are moved back a little.
        CallLog.objects.filter(case=case).update(called_at=F("called_at") - timedelta(minutes=2))
    expect(section.locator("ol.attempts li")).to_have_count(3)
    expect(section).to_contain_text("Telefon til foresatte")
    # The chronology beside it was updated in place.
    expect(nurse.locator(f"#kronologi-{case.pk}")).to_contain_text("Ikke svar")

    # The fourth call reaches the mother: a new time is booked right there, and the case waits.
    when = timezone.localtime() + timedelta(days=5)
    section.get_by_label("Nådd, ny time avtalt").check()
    section.get_by_label("Tidspunkt").fill(when.strftime("%Y-%m-%dT%H:%M"))
    section.get_by_role("button", name="Lagre samtale").click()
    expect(section).to_contain_text("Ny time er bestilt. Saken venter på timen.")
    expect(section).to_contain_text(f"Venter på avtalt time {when:%d.%m.%Y}")
    expect(nurse.locator(f"#kronologi-{case.pk}")).to_contain_text("Venter på timen")
    case.refresh_from_db()
    assert case.waiting_for is not None and case.current_step.kind == StepKind.PHONE_CALL

    # The child is brought to the agreed time: the case closes.
    appointment_record_outcome(appointment=case.waiting_for, outcome="attended", recorded_by=nurse_a)
    followup_sweep()
    nurse.reload()
    expect(nurse.locator(f"#sak-{case.pk}")).to_contain_text("Barnet møtte til konsultasjon")
    case.refresh_from_db()
    assert case.status == "closed"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_leader_decision_to_continue_ends_on_the_named_step(live_server, fake_helseid, browser, station_a, leader_a, outcome_child):
    expect = playwright_sync.expect
    case = outcome_child
    leader = _logged_in(browser, live_server, fake_helseid, leader_a)
    leader.goto(f"{live_server.url}/oppfolging/sak/{case.pk}/")
    section = leader.locator(f"#sak-{case.pk}")
    expect(section).to_contain_text("8. Lederbeslutning")
    section.get_by_label("Fortsett oppfølgingen på et valgt trinn").check()
    section.get_by_role("textbox", name="Begrunnelse", exact=True).fill("Mor har fått ny jobb; prøv telefon igjen.")
    section.get_by_role("button", name="Lagre beslutning").click()
    expect(section).to_contain_text("Velg trinnet saken skal fortsette på.")
    section.get_by_label("Fortsett oppfølgingen på et valgt trinn").check()
    section.get_by_label("Fortsett på trinn").select_option("phone_call")
    section.get_by_role("textbox", name="Begrunnelse", exact=True).fill("Mor har fått ny jobb; prøv telefon igjen.")
    section.get_by_role("button", name="Lagre beslutning").click()
    expect(section).to_contain_text("Beslutningen er lagret")
    expect(section).to_contain_text("saken fortsetter på trinnet «Telefon til foresatte»")
    expect(section).to_contain_text("Begrunnelse: Mor har fått ny jobb; prøv telefon igjen.")
    expect(section).to_contain_text("2. Telefon til foresatte")
    expect(section).not_to_contain_text("runde")
    case.refresh_from_db()
    assert case.current_step.kind == StepKind.PHONE_CALL and case.cycle == 1


@pytest.fixture
def outcome_child(station_a, nurse_a):
    """A case of a child marked særlig oppfølging: it starts at the leader's decision."""
    from tests.factories import AppointmentFactory, ChildFactory, ConsultationFactory, OutcomeEventFactory

    child = ChildFactory(station=station_a, special_attention=True, given_name="Cora", family_name="Berg")
    at = timezone.now() - timedelta(hours=3)
    appointment = AppointmentFactory(consultation=ConsultationFactory(child=child), starts_at=at, professional=nurse_a)
    OutcomeEventFactory(appointment=appointment, outcome="not_brought", recorded_at=at + timedelta(minutes=30))
    followup_sweep()
    return Case.objects.get(child=child)
