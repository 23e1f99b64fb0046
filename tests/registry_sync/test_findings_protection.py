"""Register findings follow the person's protection now (issue 13, finding 2; the worklist's parts of 5 and 7)."""

from __future__ import annotations

import json
import re
import uuid
from datetime import date, timedelta

import pytest
from django.urls import reverse

from helsestasjon.models import AccessLog, AddressProtection, Child
from helsestasjon.protection import child_set_protection
from registry_sync.person_document import parse_person
from registry_sync.models import Finding, FindingKind, FindingStatus, Resolution
from registry_sync.runs import register_full_reconciliation, register_sync
from registry_sync.scope import Scope
from tests.factories import ChildFactory, UserFactory, next_national_id

pytestmark = pytest.mark.django_db
URL = reverse("registry_sync:worklist")
STREET = "Gjemmeveien"
STRICT = AddressProtection.STRICTLY_CONFIDENTIAL


def stored(finding: Finding) -> str:
    """Everything the finding keeps of the register, as text."""
    finding.refresh_from_db()
    return json.dumps([finding.details, finding.snapshot], ensure_ascii=False)


@pytest.fixture
def newcomer(register, station_a):
    """A resident child without a journal, with an address, after the first sync: an open finding."""
    mother = next_national_id()
    register.add_person(nin=mother, given_name="Mona", family_name="Mor", birth_date="1991-02-02", municipality="4601",
                        street=STREET, house_number=7, postal_code="5003", city="Bergen", phone="41112222")
    register.birth(nin=next_national_id(), given_name="Lille", family_name="Mor", birth_date=date.today() - timedelta(days=20),
                   mother=mother, municipality="4601", street=STREET, house_number=7, postal_code="5003", city="Bergen")
    register_sync()
    finding = Finding.objects.get(kind=FindingKind.UNREGISTERED_RESIDENT)
    assert STREET in stored(finding)
    return finding


def test_a_newcomer_made_strictly_confidential_falls_out_of_scope_and_its_finding_is_still_cleaned(
        newcomer, register, leader_a, login):
    register.set_protection(newcomer.register_person_id, STRICT)
    # The trap: the register now withholds the address and the municipality, so the newcomer check
    # no longer covers the person at all.
    record = parse_person(json.loads(register.documents([newcomer.register_person_id])[0]))
    assert record.municipality_number is None and not Scope(date.today()).covers(record)
    register_sync()
    newcomer.refresh_from_db()
    assert newcomer.is_open and newcomer.protection == STRICT
    assert STREET not in stored(newcomer) and "5003" not in stored(newcomer)
    assert Finding.objects.count() == 1
    page = login(leader_a).get(URL).content.decode()
    assert "Lille Mor" in page and STREET not in page and "Strengt fortrolig adresse" in page


def test_a_deduplicated_newcomer_finding_takes_the_new_level_and_hides_the_address_from_the_clerk(
        newcomer, register, clerk_a, leader_a, login):
    assert STREET in login(clerk_a).get(URL).content.decode()
    register.set_protection(newcomer.register_person_id, AddressProtection.CONFIDENTIAL)
    register_sync()
    newcomer.refresh_from_db()
    assert newcomer.protection == AddressProtection.CONFIDENTIAL and Finding.objects.count() == 1
    clerk_page = login(clerk_a).get(URL).content.decode()
    assert "Lille Mor" in clerk_page and STREET not in clerk_page and "Fortrolig adresse" in clerk_page
    assert STREET in login(leader_a).get(URL).content.decode()


def test_the_full_reconciliation_refreshes_the_newcomers_level_too(newcomer, register, clerk_a, login):
    register.set_protection(newcomer.register_person_id, AddressProtection.CONFIDENTIAL)
    register_full_reconciliation()
    newcomer.refresh_from_db()
    assert newcomer.protection == AddressProtection.CONFIDENTIAL
    assert STREET not in login(clerk_a).get(URL).content.decode()


@pytest.fixture
def journal_finding(register, family, station_a):
    """A journal child known to the register, with an open finding that holds its address."""
    child = ChildFactory(station=station_a, birth_date=date.today() - timedelta(days=200), street_address=f"{STREET} 7")
    child.person_id = family(child)
    register_sync()
    child.refresh_from_db()
    finding = Finding.objects.create(
        kind=FindingKind.MOVED_WITHIN, station=station_a, child=child, national_id=child.national_id,
        register_person_id=child.person_id, subject=child.person_id, fingerprint="address:elsewhere", name=child.full_name,
        details={"before": {"street_address": "Gamleveien 1"}, "register": {"street_address": f"{STREET} 7", "postal_code": "5003", "city": "Bergen"}},
        snapshot={"id": child.person_id, "residentialAddress": [{"isValid": True, "streetAddress": {"addressName": STREET}}]},
    )
    return child, finding


def test_a_journal_childs_findings_follow_the_sync_that_protects_the_child(journal_finding, register):
    child, finding = journal_finding
    register.set_protection(child.person_id, STRICT)
    register_sync()
    finding.refresh_from_db()
    assert finding.protection == STRICT and STREET not in stored(finding)
    changed = Finding.objects.get(kind=FindingKind.PROTECTION_CHANGED)
    assert changed.details["after"] == STRICT


def test_a_journal_childs_findings_follow_a_change_by_hand(journal_finding, leader_a, login):
    child, finding = journal_finding
    child_set_protection(child=child, level=STRICT)
    finding.refresh_from_db()
    assert finding.protection == STRICT and STREET not in stored(finding)
    assert STREET not in login(leader_a).get(URL).content.decode()


def test_the_worklist_asks_the_childs_protection_now_not_the_level_stored_on_the_finding(journal_finding, leader_a, login):
    child, finding = journal_finding
    assert f"{STREET} 7" in login(leader_a).get(URL).content.decode()
    # A change that reached the child's row but (by some other path) not the finding's copy.
    Child.objects.filter(pk=child.pk).update(address_protection=STRICT)
    finding.refresh_from_db()
    assert finding.protection == AddressProtection.UNCLASSIFIED and not finding.address_visible_to(leader_a)
    page = login(leader_a).get(URL).content.decode()
    assert STREET not in page and "Strengt fortrolig adresse" in page


# ------------------------------------------------------------------ "Opprett journal"


def test_opprett_journal_fetches_the_person_fresh_and_takes_its_strict_protection(
        newcomer, register, clerk_a, nurse_a, leader_a, login):
    # The family is made strictly confidential after the finding, and no sync has run since.
    register.set_protection(newcomer.register_person_id, STRICT)
    mother = register.person_id_for(newcomer.snapshot["parentalResponsibility"][0]["responsible"])
    register.set_protection(mother, STRICT)
    response = login(clerk_a).post(reverse("registry_sync:create_journal", args=[newcomer.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Journal opprettet" in response.content.decode()
    assert STREET not in response.content.decode()
    child = Child.objects.get(national_id=newcomer.national_id)
    assert child.address_protection == STRICT
    assert (child.street_address, child.postal_code, child.city) == ("", "", "")
    newcomer.refresh_from_db()
    assert newcomer.resolution == Resolution.JOURNAL_CREATED and STREET not in stored(newcomer)
    for user in (nurse_a, leader_a):
        page = login(user).get(reverse("attendance:child", args=[child.pk])).content.decode()
        assert "Lille Mor" in page and STREET not in page


def test_opprett_journal_takes_a_confidential_level_the_finding_did_not_know(newcomer, register, clerk_a, nurse_a, login):
    register.set_protection(newcomer.register_person_id, AddressProtection.CONFIDENTIAL)
    login(clerk_a).post(reverse("registry_sync:create_journal", args=[newcomer.pk]))
    child = Child.objects.get(national_id=newcomer.national_id)
    assert child.address_protection == AddressProtection.CONFIDENTIAL
    page = login(nurse_a).get(reverse("attendance:child", args=[child.pk])).content.decode()
    assert "Lille Mor" in page and f"{STREET} 7, 5003" not in page.split("Foresatte")[0]


def test_opprett_journal_for_a_person_the_register_no_longer_knows_creates_nothing(newcomer, clerk_a, login):
    other = str(uuid.uuid4())
    Finding.objects.filter(pk=newcomer.pk).update(register_person_id=other, subject=other)
    response = login(clerk_a).post(reverse("registry_sync:create_journal", args=[newcomer.pk]), follow=True)
    assert "Folkeregisteret kjenner ikke lenger denne personen" in response.content.decode()
    assert not Child.objects.filter(national_id=newcomer.national_id).exists()
    newcomer.refresh_from_db()
    assert newcomer.status == FindingStatus.OPEN


def test_opprett_journal_when_the_register_refuses_creates_nothing(newcomer, register, clerk_a, login):
    register.faults.add("status", status=403, path="bulk-by-id")
    response = login(clerk_a).post(reverse("registry_sync:create_journal", args=[newcomer.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Ingen journal er opprettet" in response.content.decode()
    assert not Child.objects.filter(national_id=newcomer.national_id).exists()


def test_opprett_journal_for_a_person_no_longer_resident_creates_nothing(newcomer, register, clerk_a, login):
    register.emigrate(newcomer.register_person_id)
    response = login(clerk_a).post(reverse("registry_sync:create_journal", args=[newcomer.pk]), follow=True)
    assert "ikke lenger bosatt" in response.content.decode()
    assert not Child.objects.filter(national_id=newcomer.national_id).exists()


# ------------------------------------------------------------------ access log, next, other stations


def test_a_row_redrawn_after_handling_a_finding_writes_the_access_log(journal_finding, clerk_a, login):
    child, finding = journal_finding
    before = AccessLog.objects.filter(child=child, user=clerk_a).count()
    response = login(clerk_a).post(reverse("registry_sync:resolve", args=[finding.pk]),
                                   {"resolution": "updated"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and child.list_name in response.content.decode()
    assert AccessLog.objects.filter(child=child, user=clerk_a).count() == before + 1


def test_the_row_of_a_journal_just_created_writes_the_access_log(newcomer, clerk_a, login):
    login(clerk_a).post(reverse("registry_sync:create_journal", args=[newcomer.pk]), HTTP_HX_REQUEST="true")
    child = Child.objects.get(national_id=newcomer.national_id)
    assert AccessLog.objects.filter(child=child, user=clerk_a).exists()


def test_the_worklist_writes_the_access_log_for_every_child_on_the_page(journal_finding, clerk_a, login):
    child, _finding = journal_finding
    login(clerk_a).get(URL)
    assert AccessLog.objects.filter(child=child, user=clerk_a, what__startswith="Folkeregisteret").count() == 1


def test_register_actions_never_redirect_to_another_site(journal_finding, clerk_a, login):
    _child, finding = journal_finding
    client = login(clerk_a)
    url = reverse("registry_sync:resolve", args=[finding.pk])
    response = client.post(url, {"resolution": "reviewed", "comment": "Sjekket.", "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == URL
    response = client.post(url, {"resolution": "reviewed", "comment": "Igjen.", "next": "//evil.example/x"})
    assert response["Location"] == URL
    response = client.post(url, {"resolution": "reviewed", "comment": "Igjen.", "next": f"{URL}?type=other_status"})
    assert response["Location"] == f"{URL}?type=other_status"


def _page(response) -> bytes:
    """The answer without what differs between any two requests (the masked CSRF token) and the path asked for."""
    return re.sub(rb'(X-CSRFToken": "|name="csrfmiddlewaretoken" value=")[^"]*', b"", response.content).replace(
        response.request["PATH_INFO"].encode(), b"")


def test_another_stations_findings_and_alerts_look_like_unknown_ones(journal_finding, station_b, nurse_b, login):
    child, finding = journal_finding
    alert = Finding.objects.create(
        kind=FindingKind.GUARDIANS_CHANGED, station=finding.station, child=child, national_id=child.national_id,
        subject=child.person_id, fingerprint="alert", name=child.full_name, details={"organisations": ["Barnevernet"]})
    clerk_b = UserFactory(role="clerk", stations=[station_b])
    missing = max(finding.pk, alert.pk) + 1000
    for user, name, pk, data in (
        (clerk_b, "resolve", finding.pk, {"resolution": "updated"}),
        (clerk_b, "move_station", finding.pk, {}),
        (clerk_b, "create_journal", finding.pk, {}),
        (nurse_b, "alert_seen", alert.pk, {}),
    ):
        client = login(user)
        theirs = client.post(reverse(f"registry_sync:{name}", args=[pk]), data)
        unknown = client.post(reverse(f"registry_sync:{name}", args=[missing]), data)
        assert theirs.status_code == unknown.status_code == 404
        assert _page(theirs) == _page(unknown)
    assert child.full_name not in login(nurse_b).get(reverse("registry_sync:alerts")).content.decode()
    assert child.full_name not in login(clerk_b).get(URL).content.decode()
    finding.refresh_from_db()
    alert.refresh_from_db()
    assert finding.is_open and alert.alert_seen_at is None


def test_an_alert_row_redrawn_after_marking_it_seen_writes_the_access_log(journal_finding, nurse_a, login):
    child, finding = journal_finding
    alert = Finding.objects.create(
        kind=FindingKind.GUARDIANS_CHANGED, station=finding.station, child=child, national_id=child.national_id,
        subject=child.person_id, fingerprint="alert", name=child.full_name, details={"organisations": ["Barnevernet"]})
    response = login(nurse_a).post(reverse("registry_sync:alert_seen", args=[alert.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and child.list_name in response.content.decode()
    assert AccessLog.objects.filter(child=child, user=nurse_a, what="Varsler fra folkeregisteret").count() == 1
