"""Every page of every role against axe-core's WCAG 2.1 A and AA rules, in Debian's Chromium.

axe-core comes from the npm registry (package.json, bin/install-node-packages, node_modules/) and
is injected into each page after it loaded. Each role logs in as in the other browser tests (the
fake HelseID; the administrator with the break-glass password and code), visits every page of its
menu and the pages behind them (a child, a case, the admin's lists and forms), and also a page
after an htmx action and a page with a message shown. Any violation fails the test, listed with
the rule, the element and what axe says is wrong.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.attendance.conftest import booked, local, planned_child, programme  # noqa: F401 (fixtures)
from tests.followup.letters_support import _media, case_at_step, parent  # noqa: F401 (fixture)
from tests.followup.svarut.conftest import svarut  # noqa: F401 (fixture)

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from tests.helseid_support import browser_login  # noqa: E402

playwright_sync = pytest.importorskip("playwright.sync_api")

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def axe_page(browser):
    if not AXE.exists():
        pytest.skip("axe-core is not installed: run bin/install-node-packages (npm)")
    # The page's Content-Security-Policy allows no inline script; axe is the test's, not the page's.
    context = browser.new_context(bypass_csp=True, viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.axe_source = AXE.read_text(encoding="utf-8")
    page.checked = []
    yield page
    context.close()


def axe_violations(page) -> list[str]:
    """axe-core's WCAG 2.1 A/AA violations on the page as it is now, one line per element."""
    page.wait_for_load_state("load")
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=page.axe_source)
    result = page.evaluate(
        """async (tags) => {
            const r = await axe.run(document, {runOnly: {type: "tag", values: tags}});
            return {passed: r.passes.length, violations: r.violations.map(v => ({id: v.id, help: v.help,
                nodes: v.nodes.map(n => n.target.join(" ") + " :: " + (n.failureSummary || "").replace(/\\s+/g, " "))}))};
        }""",
        WCAG_TAGS,
    )
    # axe ran its rules (on a page where none applied anything would pass).
    assert result["passed"] >= 5, f"axe checked almost nothing on {page.url}: {result}"
    return [f"{v['id']} ({v['help']}): {node}" for v in result["violations"] for node in v["nodes"]]


def check(page, what: str, failures: list[str]) -> None:
    page.checked.append(what)
    for line in axe_violations(page):
        failures.append(f"{what} [{page.url}]: {line}")


def visit_menu(page, live_server, failures: list[str], extra: list[str] = ()) -> None:
    """Every page of the user's menu, then the extra paths."""
    hrefs = page.eval_on_selector_all(".site-header nav a", "links => links.map(a => a.getAttribute('href'))")
    assert hrefs, "the menu is empty"
    for href in [*dict.fromkeys(hrefs), *extra]:
        page.goto(f"{live_server.url}{href}")
        check(page, href, failures)


def assert_none(page, failures: list[str]) -> None:
    assert page.checked
    assert not failures, f"{len(failures)} WCAG 2.1 A/AA violations on {len(page.checked)} pages:\n" + "\n".join(failures)


def test_the_nurses_pages_meet_wcag_21_aa(live_server, fake_helseid, axe_page, station_a, nurse_a, planned_child, booked):
    today = timezone.localdate()
    child = planned_child(station_a, given_name="Astrid", special_attention=True)
    first = booked(child, nurse_a, starts_at=local(today, 9))
    booked(planned_child(station_a, given_name="Ludvig"), nurse_a, starts_at=local(today, 10))
    case, _ = case_at_step(planned_child(station_a, given_name="Maryam"))
    page, failures = axe_page, []
    browser_login(page, live_server, fake_helseid, nurse_a)
    visit_menu(page, live_server, failures, [f"/barn/{child.pk}/", f"/oppfolging/sak/{case.pk}/", "/barn/?q=Astrid"])

    # After an htmx action: the row swapped in place, the focus on it, the result announced.
    page.goto(f"{live_server.url}/dag/")
    row = page.locator(f"#time-{first.pk}")
    row.get_by_role("button", name="Møtt", exact=True).click()
    playwright_sync.expect(row.locator(".recorded")).to_contain_text("Møtt")
    playwright_sync.expect(page.locator("#messages .announcer")).to_contain_text("Møtt er registrert")
    assert page.evaluate(f"document.activeElement.id") == f"time-{first.pk}"
    check(page, "day list after an outcome (htmx)", failures)
    row.get_by_text("Rett utfall").click()
    check(page, "day list with the correction open", failures)

    # With a message shown.
    page.goto(f"{live_server.url}/dag/?dato=2026-13-45")
    playwright_sync.expect(page.locator("#messages")).to_contain_text("Ugyldig dato")
    check(page, "day list with a message", failures)
    assert_none(page, failures)


def test_the_clerks_pages_meet_wcag_21_aa(live_server, fake_helseid, axe_page, station_a, clerk_a, planned_child):
    child = planned_child(station_a, given_name="Selma")
    parent(child)
    case_at_step(child)
    page, failures = axe_page, []
    browser_login(page, live_server, fake_helseid, clerk_a)
    visit_menu(page, live_server, failures, ["/barn/ny/", f"/barn/{child.pk}/"])

    # A message and a batch in progress (and the start button disabled).
    page.goto(f"{live_server.url}/oppfolging/brev/")
    page.get_by_role("button", name="Lag dagens brev").click()
    playwright_sync.expect(page.locator("#messages")).to_contain_text("er startet")
    check(page, "letters with a message and a batch", failures)

    # A form sent with errors: the messages stand at their fields.
    page.goto(f"{live_server.url}/barn/ny/")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_load_state("load")
    check(page, "registering a child, with errors", failures)
    assert_none(page, failures)


def test_the_leaders_pages_meet_wcag_21_aa(live_server, fake_helseid, axe_page, station_a, leader_a, planned_child):
    case, _ = case_at_step(planned_child(station_a, given_name="Ida"))
    page, failures = axe_page, []
    browser_login(page, live_server, fake_helseid, leader_a)
    visit_menu(page, live_server, failures, [f"/oppfolging/sak/{case.pk}/", "/oppfolging/statistikk/"])
    # Not found (another station's child looks the same): our page.
    page.goto(f"{live_server.url}/barn/999999999/")
    check(page, "not found", failures)
    assert_none(page, failures)


def test_the_admin_pages_meet_wcag_21_aa(live_server, fake_helseid, axe_page, station_a, nurse_a, password):
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from helsestasjon.models import Role
    from tests.factories import UserFactory

    admin = UserFactory(username="admin_axe", role=Role.ADMIN, is_staff=True, is_superuser=True)
    admin.set_password(password)
    admin.save()
    device = TOTPDevice.objects.create(user=admin, name="Nødtilgang", confirmed=True)
    page, failures = axe_page, []
    page.goto(f"{live_server.url}/logg-inn/")
    check(page, "login page", failures)
    page.get_by_text("Nødtilgang for administrator").click()
    page.locator("input[name=username]").fill(admin.username)
    page.locator("input[name=password]").fill(password)
    page.locator("input[name=otp_token]").fill(f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}")
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(lambda url: "/logg-inn/" not in url)
    for path in ["/admin/", "/admin/helsestasjon/user/", f"/admin/helsestasjon/user/{nurse_a.pk}/change/",
                 "/admin/helsestasjon/station/", "/admin/axes/accessattempt/", "/admin/followup/"]:
        page.goto(f"{live_server.url}{path}")
        check(page, path, failures)
    assert_none(page, failures)


def test_the_check_fails_on_a_page_with_a_violation(live_server, axe_page):
    """The check itself: an image without a text alternative and a list broken by role=status are found."""
    page = axe_page
    page.goto(f"{live_server.url}/logg-inn/")
    page.evaluate("""() => {
        const main = document.querySelector("main");
        main.insertAdjacentHTML("beforeend", '<img src="/static/none.png"><ul role="status"><li>Lagret</li></ul>');
    }""")
    found = " ".join(axe_violations(page))
    assert "image-alt" in found and ("listitem" in found or "aria-allowed-role" in found)


def test_the_booking_week_digital_post_and_working_hours_pages_meet_wcag_21_aa(
    live_server, fake_helseid, axe_page, station_a, clerk_a, nurse_a, planned_child, svarut
):
    from datetime import time

    from attendance.models import ConsultationState
    from attendance.working_hours import working_hours_add
    from followup.letters.making import letters_create_due
    from followup.letters.svarut import services as svarut_services
    from tests.followup.svarut.conftest import guardian

    for weekday in range(5):
        working_hours_add(professional=nurse_a, station=station_a, weekday=weekday, starts=time(8), ends=time(12))
    child = planned_child(station_a, given_name="Selma")
    consultation = child.consultations.filter(state=ConsultationState.DUE).order_by("step__order").first()
    # A letter made and handed to SvarUt, so the digital post page has figures.
    guardian(child, svarut)
    case_at_step(child)
    letters_create_due(station=station_a)
    svarut_services.svarut_dispatch(station_id=station_a.id)
    page, failures = axe_page, []
    browser_login(page, live_server, fake_helseid, clerk_a)
    for path in [f"/timebestilling/{consultation.pk}/ledige-tider/", f"{reverse('followup:svarut_letters')}?stasjon={station_a.id}",
                 f"/arbeidstid/?fagperson={nurse_a.pk}"]:
        page.goto(f"{live_server.url}{path}")
        playwright_sync.expect(page.locator("h1")).to_be_visible()
        check(page, path, failures)
    # Working hours sent with an error: the messages stand at their fields.
    page.get_by_role("button", name="Legg til").click()
    page.wait_for_load_state("load")
    playwright_sync.expect(page.locator("[aria-invalid=true]").first).to_be_visible()
    check(page, "working hours, with errors", failures)
    assert_none(page, failures)


def test_the_case_page_after_a_refused_form_meets_wcag_21_aa(live_server, fake_helseid, axe_page, station_a, nurse_a, leader_a, planned_child):
    from followup.models import StepKind
    from tests.browser.test_case_forms import send_a_call_without_its_date

    case, _ = case_at_step(planned_child(station_a, given_name="Frida"), StepKind.PHONE_CALL)
    page, failures = axe_page, []
    browser_login(page, live_server, fake_helseid, nurse_a)
    section = send_a_call_without_its_date(page, live_server, case, "Ring etter 15")
    playwright_sync.expect(section.locator("[aria-invalid=true]").first).to_be_focused()
    check(page, "case page, a call sent back with its error (htmx)", failures)

    # The leader's decision sent without its reason, as a plain POST (the form comes back on a whole page).
    page.context.clear_cookies()
    browser_login(page, live_server, fake_helseid, leader_a)
    page.goto(f"{live_server.url}/oppfolging/sak/{case.pk}/")
    with page.expect_navigation():
        page.evaluate("document.querySelector('.decision-form').submit()")  # no submit event: neither htmx nor the browser's checks
    playwright_sync.expect(page.locator(".decision-form [aria-invalid=true]").first).to_be_focused()
    check(page, "case page, a decision sent back with its errors (plain POST)", failures)
    assert_none(page, failures)
