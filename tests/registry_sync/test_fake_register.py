"""The fake register behaves like the real one where the client depends on it."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
import requests

from registry_sync.fake import FakeRegister
from tests.factories import next_national_id


def person(register, **kw):
    values = dict(nin=next_national_id(), given_name="Kari", family_name="Nordmann", birth_date="2024-03-01",
                  municipality="4601", street="Storgata", house_number=4, postal_code="5003", city="Bergen")
    values.update(kw)
    return register.add_person(**values)


def test_a_change_closes_the_old_version_and_appends_events_in_order():
    register = FakeRegister()
    pid = person(register)
    events = register.die(pid)
    assert [e["eventType"] for e in events] == ["PersonIsDeceased", "ChangeInStatus"]
    assert [int(e["sequenceNumber"]) for e in events] == [2, 3]
    statuses = register.person(pid)["status"]
    assert [(v["status"], v["isValid"], v["validTo"] is not None) for v in statuses] == [
        ("Resident", False, True), ("Deceased", True, False)]


def test_strictly_confidential_person_is_served_without_address():
    register = FakeRegister()
    pid = person(register)
    register.set_protection(pid, "StrictlyConfidential")
    served = json.loads(register.documents([pid])[0])
    assert served["residentialAddress"] == [] and register.person(pid)["residentialAddress"]
    register.set_protection(pid, "Unclassified")  # Lifting the protection shows the address again.
    assert json.loads(register.documents([pid])[0])["residentialAddress"]


def test_d_number_replaced_by_a_national_id_keeps_both_findable():
    register = FakeRegister()
    d_number = next_national_id()
    pid = person(register, nin=d_number)
    new = next_national_id()
    register.change_id(pid, new)
    assert register.document_by_nin(new) == register.document_by_nin(d_number)


def test_the_data_file_round_trips(tmp_path):
    path = tmp_path / "register.json"
    register = FakeRegister(path)
    pid = person(register)
    register.move(pid, municipality="0301", street="Karl Johans gate", house_number=1, postal_code="0154", city="Oslo")
    again = FakeRegister(path)
    assert again.person(pid) == register.person(pid)
    assert again.latest_event() == register.latest_event()


def test_respool_makes_the_sequence_go_backwards():
    register = FakeRegister()
    pid = person(register)
    for i in range(5):
        register.rename(pid, given_name=f"N{i}")
    before = register.latest_event()[0]
    register.respool()
    assert register.latest_event()[0] < before


@pytest.mark.django_db
def test_admin_api_changes_a_person_over_http(register):
    pid = person(register)
    base = register.server.base_url.rsplit("/api/", 1)[0]
    answer = requests.post(f"{base}/_admin/emigrate", json={"personId": pid, "country": "SWE"}, timeout=5).json()
    assert [e["eventType"] for e in answer["events"]] == ["PersonIsEmigrated", "ChangeInEmigrationFromNorway", "ChangeInStatus"]
    assert requests.post(f"{base}/_admin/die", json={"nin": "00000000000"}, timeout=5).status_code == 404
    assert requests.post(f"{base}/_admin/move", json={"personId": pid, "bogus": 1}, timeout=5).status_code == 400


@pytest.mark.django_db
def test_celery_task_runs_the_sync(register, station_a):
    from registry_sync.models import Finding
    from registry_sync.tasks import sync_register

    person(register, birth_date=date.today() - timedelta(days=100))
    sync_register.delay()
    assert Finding.objects.filter(kind="unregistered_resident").count() == 1


def test_the_fake_serves_what_persontjenesten_serves(tmp_path):
    register = FakeRegister(tmp_path / "register.json")
    with register.bulk():
        ids = [person(register, phone="41234567", save=False) for _ in range(30)]
    assert any(len(pid) == 64 for pid in ids) and any(len(pid) == 36 for pid in ids)  # Opaque ids, some not UUIDs.
    doc = json.loads(register.documents([ids[0]])[0])
    assert doc["birth"][0]["birthDate"] == "2024-03-01T00:00:00Z" and isinstance(doc["sequenceNumber"], int)
    assert doc["commonContactRegisterInformation"]["reservation"] == "No"
    register.change_id(ids[0], next_national_id())
    statuses = {v["status"] for v in register.person(ids[0])["norwegianIdentificationNumber"]}
    assert statuses == {"InUse", "Discontinued"}
    # Some persons have closed versions and are served with their versions out of the recorded order.
    shuffled = [pid for pid in ids if pid in register.shuffled]
    assert 0 < len(shuffled) < len(ids)
    served, recorded = json.loads(register.documents([shuffled[0]])[0]), register.person(shuffled[0])
    assert len(recorded["name"]) == 2 and served["name"] != recorded["name"]
    assert sorted(map(json.dumps, served["name"])) == sorted(map(json.dumps, recorded["name"]))
    assert FakeRegister(tmp_path / "register.json").documents([shuffled[0]]) == register.documents([shuffled[0]])
    # Without includeHistory the closed versions stay out.
    current = json.loads(register.documents([shuffled[0]], history=False)[0])
    assert [v["isValid"] for v in current["name"]] == [True]
