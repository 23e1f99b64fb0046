"""The client speaks Persontjenesten's protocol, against a fake register as strict as the real one.

One test per item of issue 16 (numbered as there); each goes over real HTTP to the fake register.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest
import requests
from django.utils import timezone

from helsestasjon.models import ChildStatus, Guardian, Guardianship
from registry_sync.client import RegisterClient
from registry_sync.person_document import latest_version, parse_person
from registry_sync.register_errors import RegisterRefused
from registry_sync.models import Finding, FindingKind, FindingStatus, SyncCursor
from registry_sync.runs import register_sync
from tests.registry_sync.support import kinds
from tests.factories import ChildFactory, next_national_id

pytestmark = pytest.mark.django_db

PARTS = "informationParts=Name&informationParts=NorwegianIdentificationNumber"


def api(register, path: str) -> str:
    return register.server.base_url + path


# 1 ------------------------------------------------------------------------------------------------


def test_1_bodies_go_form_encoded_and_the_register_refuses_json(register, client_for):
    pid = register.add_person(nin=next_national_id(), given_name="Kari", family_name="Nordmann", birth_date="2024-03-01")
    refused = requests.post(api(register, f"/person/bulk-by-id?{PARTS}"), json={"personIds": [pid]},
                            headers={"api-version": "2"}, timeout=5)
    assert refused.status_code == 400
    assert refused.headers["Content-Type"].startswith("application/json")
    assert "x-www-form-urlencoded" in refused.json()["title"] and refused.json()["status"] == 400
    # The client's form body (a list as repeated keys) is read.
    assert [d["id"] for d in client_for().persons_by_id([pid])] == [pid]


# 2 ------------------------------------------------------------------------------------------------


def test_2_every_person_route_names_the_information_parts_it_reads(register, client_for):
    nin = next_national_id()
    pid = register.add_person(nin=nin, given_name="Kari", family_name="Nordmann", birth_date="2024-03-01",
                              municipality="4601", phone="41234567")
    for path, form in (("/person/bulk-by-id", {"personIds": pid}), ("/person/get-by-nin", {"nin": nin})):
        answer = requests.post(api(register, path), data=form, headers={"api-version": "2"}, timeout=5)
        assert answer.status_code == 400 and "informationParts" in answer.json()["title"]
    # The fake serves only the parts asked for, as the real one does...
    only_name = requests.post(api(register, f"/person/get-by-nin?{PARTS}"), data={"nin": nin},
                              headers={"api-version": "2"}, timeout=5).json()
    assert set(only_name) == {"id", "sequenceNumber", "name", "norwegianIdentificationNumber"}
    # ...and the client asks for every part it reads.
    record = parse_person(client_for().person_by_nin(nin))
    assert (record.municipality_number, record.phone, record.sex) == ("4601", "41234567", "female")


# 3 ------------------------------------------------------------------------------------------------


def test_3_history_is_asked_for_so_a_journal_under_a_former_number_is_found(register, family, station_a):
    child = ChildFactory(station=station_a, birth_date=timezone.localdate() - timedelta(days=300))
    pid = family(child, with_guardians=False, history=False)
    new = next_national_id()
    register.change_id(pid, new)
    # Without includeHistory=true the register leaves the former number out.
    current = requests.post(api(register, "/person/bulk-by-id?informationParts=NorwegianIdentificationNumber"),
                            data={"personIds": pid}, headers={"api-version": "2"}, timeout=5).json()[0]
    assert [v["identificationNumber"] for v in current["norwegianIdentificationNumber"]] == [new]
    old = child.national_id
    register_sync()  # The first run is a full reconciliation; the journal is not linked yet.
    child.refresh_from_db()
    assert (child.national_id, child.register_person_id) == (new, pid)
    assert kinds() == ["id_changed"]  # Not "unknown to the register".
    assert child.national_id_aliases.get().national_id == old


# 4 ------------------------------------------------------------------------------------------------


def test_4_the_api_version_header_is_sent_from_the_setting(register, settings, client_for):
    register.add_person(nin=next_national_id(), given_name="Kari", family_name="Nordmann", birth_date="2024-03-01")
    missing = requests.get(api(register, "/event/latest"), timeout=5)
    assert missing.status_code == 400 and "api-version" in missing.json()["title"]
    assert RegisterClient.from_settings().latest_event().sequence_number == 1
    settings.REGISTER_API_VERSION = "3"  # The fake serves version 2 here: a v3 client is refused.
    with pytest.raises(RegisterRefused, match="400"):
        RegisterClient.from_settings().latest_event()


# 5 ------------------------------------------------------------------------------------------------


def test_5_reservation_no_is_not_reserved_and_yes_is(synced, register):
    mother, father = Guardian.objects.filter(guardianships__child=synced).order_by("pk")
    register.set_contact(register.person_id_for(mother.national_id), phone="47000001", reserved=False)
    register.set_contact(register.person_id_for(father.national_id), phone="47000002", reserved=True)
    register_sync()
    mother.refresh_from_db()
    father.refresh_from_db()
    assert (mother.mobile, mother.sms_reserved) == ("47000001", False)
    assert (father.mobile, father.sms_reserved) == ("47000002", True)
    # A contact register record that may not be used for notices: no SMS either.
    register.set_contact(register.person_id_for(mother.national_id), phone="47000003", notification_status="CanNotBeNotified")
    register_sync()
    mother.refresh_from_db()
    assert mother.sms_reserved is True


# 6 ------------------------------------------------------------------------------------------------


def test_6_person_ids_are_opaque_text_of_up_to_64_characters(register, family, station_a):
    children = [ChildFactory(station=station_a, birth_date=timezone.localdate() - timedelta(days=100 + i)) for i in range(3)]
    long_id = "3f9c5e318c9497770e37e0ff925034848f9bb1899ce1e8047589fba1c322b278"
    ids = [family(children[0], person_id=long_id), family(children[1], person_id="person-2"), family(children[2])]
    register_sync()
    for child, pid in zip(children, ids):
        child.refresh_from_db()
        assert child.register_person_id == pid
    register.rename(long_id, given_name="Aurora")
    register_sync()
    children[0].refresh_from_db()
    assert children[0].given_name == "Aurora"


# 7 ------------------------------------------------------------------------------------------------


def test_7_an_event_page_past_the_end_is_empty_not_an_error(synced, register, client_for):
    latest = register.latest_event()[0]
    assert requests.get(api(register, f"/event?sequenceNumber={latest + 1}"), headers={"api-version": "2"},
                        timeout=5).status_code == 404
    assert client_for().events(latest + 1).events == []
    result = register_sync()  # An idle poll.
    assert (result.events, result.cursor, SyncCursor.objects.get().last_sequence) == (0, latest, latest)


# 8 ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", ["PersonCorrected", "ChangeInPerson", "ChangeInFalseIdentity", "PersonIsReactivated"])
def test_8_every_event_type_that_changes_the_person_refetches_it(synced, register, event_type):
    register.rename(synced.person_id, family_name="Solberg", event_type=event_type)
    register_sync()
    synced.refresh_from_db()
    assert synced.family_name == "Solberg"
    assert kinds() == ["name_changed"]


def test_8_types_that_change_nothing_read_and_unknown_types_are_skipped(synced, register, caplog):
    register.touch(synced.person_id, "ChangeInMaritalStatus")
    register.touch(synced.person_id, "SomethingNewInVersion4")
    with caplog.at_level(logging.INFO, logger="registry_sync.runs"):
        result = register_sync()
    assert (result.events, result.skipped_events, result.persons) == (2, 2, 0)
    assert "SomethingNewInVersion4" in caplog.text and "ChangeInMaritalStatus" not in caplog.text
    assert SyncCursor.objects.get().last_sequence == register.latest_event()[0]


# 9 ------------------------------------------------------------------------------------------------


def test_9_a_parent_without_a_norwegian_id_is_a_guardian_without_national_id(synced, register):
    register.set_without_identifier(synced.person_id, without_identifier=[("Ana", "Silva", "1991-02-03", "Joint")])
    register_sync()
    links = Guardianship.objects.filter(child=synced, parental_responsibility=True).select_related("guardian")
    without = [link.guardian for link in links if not link.guardian.national_id]
    assert [(g.given_name, g.family_name, g.organisation) for g in without] == [("Ana", "Silva", False)]
    assert links.count() == 3  # The two parents with ids keep theirs.
    finding = Finding.objects.get(kind=FindingKind.GUARDIANS_CHANGED)
    assert finding.details["without_identifier"] == ["Ana Silva"] and not finding.details["placement"]
    # The next change to the child finds the guardians unchanged: no new finding, no new guardian.
    register.rename(synced.person_id, given_name="Nora")
    register_sync()
    assert kinds() == ["guardians_changed", "name_changed"]
    assert Guardian.objects.filter(national_id__isnull=True).count() == 1


# 10 -----------------------------------------------------------------------------------------------


def test_10_the_previous_version_is_the_one_most_recently_closed_not_the_last_listed(synced, register):
    register.shuffled[synced.person_id] = "reversed"  # Served newest first.
    register.move(synced.person_id, municipality="4601", urban_district="460103", street="Nygårdsgaten", house_number=7,
                  postal_code="5015", city="Bergen", move_date=date.today() - timedelta(days=20))
    register.correct_address(synced.person_id, street="Nygårdsgata", house_number=7)
    SyncCursor.objects.update_or_create(name="events", defaults={"full_requested": True})  # A full run has no events: the versions' times decide.
    result = register_sync()
    assert result.full
    synced.refresh_from_db()
    assert synced.street_address == "Nygårdsgata 7"
    assert kinds() == ["address_corrected"]


def test_10_versions_are_ordered_by_valid_from_then_registered_at_then_valid_to():
    original = {"isValid": False, "validFrom": "2024-01-01T00:00:00Z", "registeredAt": "2024-01-01T00:00:00Z",
                "validTo": "2024-06-01T00:00:00Z", "moveDate": "2024-01-01T00:00:00Z"}
    moved = {"isValid": False, "validFrom": "2024-06-01T00:00:00+00:00", "registeredAt": "2024-06-02T00:00:00",
             "validTo": "2024-09-01T00:00:00Z", "moveDate": "2024-06-01T00:00:00Z"}
    # A correction is back-dated to the version it corrects: the later registration wins the tie.
    corrected = {**moved, "registeredAt": "2024-09-01T00:00:00Z", "validTo": None, "isValid": True}
    for order in ([original, moved, corrected], [corrected, moved, original], [moved, corrected, original]):
        assert latest_version(order) is corrected
        assert latest_version(order, valid=False) is moved


# 11 -----------------------------------------------------------------------------------------------


def test_11_the_event_type_decides_a_move_and_a_disagreement_is_logged(synced, register, caplog):
    current = latest_version(register.person(synced.person_id)["residentialAddress"])
    same_day = date.fromisoformat(current["moveDate"][:10])
    register.move(synced.person_id, municipality="4601", urban_district="460103", street="Nygårdsgaten", house_number=7,
                  postal_code="5015", city="Bergen", move_date=same_day)  # A move registered with the old date.
    with caplog.at_level(logging.WARNING, logger="registry_sync.comparison"):
        register_sync()
    assert kinds(status=FindingStatus.RESOLVED) == ["moved_within"]
    assert "ChangeInResidentialAddress" in caplog.text and "disagrees" in caplog.text


def test_11_the_event_type_decides_a_correction(synced, register):
    register.correct_address(synced.person_id, street="Barnevegen", house_number=2)
    register_sync()
    assert kinds(status=FindingStatus.RESOLVED) == ["address_corrected"]


# 12 -----------------------------------------------------------------------------------------------


def test_12_a_respooled_register_is_reconciled_in_full_and_then_followed_from_its_new_latest(synced, register):
    with register.bulk():
        for i in range(5):
            register.rename(synced.person_id, given_name=f"N{i}")
    register_sync()
    before = SyncCursor.objects.get().last_sequence
    base = register.server.base_url.rsplit("/api/", 1)[0]
    latest = requests.post(f"{base}/_admin/respool", json={}, timeout=5).json()["latest"][0]
    assert latest < before
    register.rename(synced.person_id, given_name="Respooled")  # Only a full run can see this one now.
    result = register_sync()
    assert result.full
    cursor = SyncCursor.objects.get()
    assert (cursor.last_sequence, cursor.full_requested) == (latest + 1, False)
    synced.refresh_from_db()
    assert synced.given_name == "Respooled"
    # Then the event sync follows the re-spooled sequence from its new latest number.
    register.die(synced.person_id)
    result = register_sync()
    assert not result.full and result.events == 2
    synced.refresh_from_db()
    assert synced.status == ChildStatus.DECEASED
