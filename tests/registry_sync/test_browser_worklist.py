"""The clerk's register path in a real browser: after a sync the worklist shows a newborn
without a journal; one click creates the journal, and the row says so without a reload."""

from __future__ import annotations

import os
from datetime import date, timedelta

import pytest

from helsestasjon.models import Child
from registry_sync.runs import register_sync
from tests.factories import next_national_id

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from tests.helseid_support import browser_login  # noqa: E402

playwright_sync = pytest.importorskip("playwright.sync_api")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_clerk_creates_a_journal_from_the_register_worklist(live_server, fake_helseid, browser_page, register, station_a, clerk_a):
    mother = next_national_id()
    register.add_person(nin=mother, given_name="Mona", family_name="Moen", birth_date="1990-04-04", municipality="4601",
                        street="Storgata", house_number=3, postal_code="5003", city="Bergen", phone="41112222")
    nin = next_national_id()
    register.birth(nin=nin, given_name="Lilja", family_name="Moen", birth_date=date.today() - timedelta(days=2),
                   mother=mother, municipality="4601", street="Storgata", house_number=3, postal_code="5003", city="Bergen")
    register_sync()
    expect = playwright_sync.expect
    page = browser_page
    browser_login(page, live_server, fake_helseid, clerk_a)
    page.get_by_role("link", name="Folkeregisteret").click()
    # Before the journal the row names the register's person ("Lilja Moen"), after it the child ("Moen, Lilja").
    row = page.locator("tr", has_text="Lilja")
    expect(row).to_contain_text("Bosatt i kommunen, ingen journal")
    row.get_by_role("button", name="Opprett journal").click()
    expect(row).to_contain_text("Journal opprettet")
    child = Child.objects.get(national_id=nin)
    assert child.station == station_a and child.consultations.exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_nurse_sees_a_death_alert_and_marks_it_seen(live_server, fake_helseid, browser_page, register, family, station_a, nurse_a):
    from django.utils import timezone

    from tests.factories import ChildFactory

    station_a.urban_district_codes = ["460103"]
    station_a.save()
    child = ChildFactory(station=station_a, given_name="Vilde", family_name="Varsel", urban_district_code="460103",
                         birth_date=timezone.localdate() - timedelta(days=300))
    pid = family(child)
    register_sync()
    register.die(pid)
    register_sync()
    expect = playwright_sync.expect
    page = browser_page
    browser_login(page, live_server, fake_helseid, nurse_a)
    badge = page.locator("#varsler-antall")
    expect(badge).to_have_text("1")  # On the nurse's day, in the menu.
    page.get_by_role("link", name="Varsler").click()
    row = page.locator("tr", has_text="Varsel, Vilde")
    expect(row).to_contain_text("Alle fremtidige timer, brev og SMS er stoppet")
    url = page.url
    row.get_by_role("button", name="Marker som sett").click()
    expect(row).to_contain_text("Sett ")
    expect(badge).to_have_text("")  # The menu's count follows without a reload.
    assert page.url == url
