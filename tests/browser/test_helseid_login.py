"""The nurse, the clerk and the leader log in through the fake HelseID in a real browser, and log out."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

playwright_sync = pytest.importorskip("playwright.sync_api")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "who, landing",
    [("nurse_a", "Min dag"), ("clerk_a", "Timebestilling"), ("leader_a", "Lederkø")],
)
def test_staff_log_in_through_helseid_and_out_again(request, live_server, browser_page, fake_helseid, who, landing):
    expect = playwright_sync.expect
    user = request.getfixturevalue(who)
    fake_helseid.allow_app(live_server.url)
    fake_helseid.persona(user, hpr="7654321" if who != "clerk_a" else "")
    fake_helseid.persona(None)  # someone else on the list, as in the demo
    page = browser_page

    page.goto(f"{live_server.url}/logg-inn/")
    expect(page.get_by_label("Passord")).to_be_hidden()  # only inside the administrator's break-glass box
    page.get_by_role("button", name="Logg inn med HelseID").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Falsk HelseID")
    page.get_by_label("Sikkerhetsnivå").select_option("4")
    page.get_by_role("button", name=f"Logg inn som {user.first_name} {user.last_name}").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text(landing)
    header = page.locator(".who")
    expect(header).to_contain_text(f"{user.first_name} {user.last_name}")
    if who != "clerk_a":
        expect(header).to_contain_text("HPR 7654321")

    header.get_by_role("button", name="Logg ut").click()
    expect(page.get_by_text("Du er logget ut.")).to_be_visible()
    assert fake_helseid.provider.ended_sessions, "HelseID's session was not ended"
    page.goto(f"{live_server.url}/")
    expect(page.get_by_role("button", name="Logg inn med HelseID")).to_be_visible()
    assert not [e for e in page.console_errors if "Content Security Policy" in e], page.console_errors


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_an_unknown_person_sees_that_she_has_no_access(live_server, browser_page, fake_helseid):
    expect = playwright_sync.expect
    fake_helseid.allow_app(live_server.url)
    fake_helseid.persona(None, name=("Ukjent", "Helsearbeider"))
    page = browser_page
    page.goto(f"{live_server.url}/logg-inn/")
    page.get_by_role("button", name="Logg inn med HelseID").click()
    page.get_by_role("button", name="Logg inn som Ukjent Helsearbeider").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Du har ikke tilgang")
    expect(page.get_by_text("Du er ikke logget inn")).to_be_visible()
