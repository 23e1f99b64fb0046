"""The register client over real HTTP: retries, errors the sync must record, parsing."""

from __future__ import annotations

import pytest

from registry_sync.person_document import parse_person
from registry_sync.register_errors import RegisterProtocolError, RegisterRefused, RegisterUnavailable
from registry_sync.models import SyncCursor, SyncError
from registry_sync.runs import SyncFailed, register_sync
from tests.factories import next_national_id


def person(register, **kw):
    values = dict(nin=next_national_id(), given_name="Kari", family_name="Nordmann", birth_date="2024-03-01",
                  municipality="4601", urban_district="460103", street="Storgata", house_number=4, postal_code="5003",
                  city="Bergen")
    values.update(kw)
    return register.add_person(**values)


def test_429_waits_as_long_as_retry_after_says(register, client_for):
    pid = person(register)
    register.faults.add("status", status=429, retry_after=7)
    client = client_for()
    assert [d["id"] for d in client.persons_by_id([pid])] == [pid]
    assert client.waits == [7.0]


def test_5xx_is_retried_with_backoff(register, client_for):
    person(register)
    register.faults.add("status", status=503, count=2)
    client = client_for(backoff_seconds=0.5)
    assert client.latest_event().sequence_number == 1
    assert client.waits == [0.5, 1.0]


def test_5xx_that_outlasts_the_retries_is_unavailable(register, client_for):
    person(register)
    register.faults.add("status", status=500, count=10)
    with pytest.raises(RegisterUnavailable):
        client_for(max_attempts=3).latest_event()


def test_timeout_is_retried_then_given_up(register, client_for):
    person(register)
    register.faults.add("slow", seconds=0.6, count=5)
    client = client_for(timeout=0.2, max_attempts=2)
    with pytest.raises(RegisterUnavailable, match="Timeout"):
        client.latest_event()


def test_truncated_json_is_a_protocol_error(register, client_for):
    person(register)
    register.faults.add("truncate")
    with pytest.raises(RegisterProtocolError):
        client_for().events(1)


def test_unexpected_shape_is_a_protocol_error(register, client_for):
    person(register)
    register.faults.add("garbage", body={"results": "not a list"})
    with pytest.raises(RegisterProtocolError):
        client_for().events(1)


def test_bearer_token_is_sent_and_a_wrong_one_refused(register, client_for):
    person(register)
    register.token = "hemmelig"
    with pytest.raises(RegisterRefused, match="401"):
        client_for(token="feil").latest_event()
    assert client_for(token="hemmelig").latest_event().sequence_number == 1


def test_bulk_calls_are_split_at_one_hundred(register, client_for):
    ids = [person(register, save=False) for _ in range(250)]
    client = client_for()
    assert len(client.persons_by_id(ids)) == 250
    assert client.requests_made == 3


def test_search_pages_through_the_municipality(register, client_for):
    from datetime import date

    for _ in range(25):
        person(register, save=False)
    person(register, municipality="0301")
    client = client_for()
    found = list(client.search_ids(municipality_number="4601", birth_from=date(2020, 1, 1), birth_to=date(2026, 12, 31), page_size=10))
    assert len(found) == 25 and client.requests_made == 3


def test_get_by_nin_answers_none_for_an_unknown_person(register, client_for):
    assert client_for().person_by_nin(next_national_id()) is None


def test_person_is_read_from_the_valid_versions_only(register):
    pid = person(register, phone="41234567", language="pl")
    register.move(pid, municipality="4601", urban_district="460107", street="Fanavegen", house_number=9,
                  postal_code="5221", city="Bergen")
    register.rename(pid, given_name="Karianne")
    record = parse_person(register.person(pid))
    assert (record.given_name, record.street_address, record.urban_district_code) == ("Karianne", "Fanavegen 9", "460107")
    assert (record.phone, record.language, record.status, str(record.birth_date)) == ("41234567", "pl", "Resident", "2024-03-01")


def test_a_person_without_identification_number_is_a_protocol_error():
    with pytest.raises(RegisterProtocolError):
        parse_person({"id": "x", "norwegianIdentificationNumber": [], "birth": []})


@pytest.mark.django_db
@pytest.mark.parametrize("fault", [
    {"kind": "truncate", "path": "/person/bulk-by-id"},
    {"kind": "status", "status": 500, "count": 10, "path": "/event"},
    {"kind": "garbage", "body": [{"no": "id"}], "path": "/person/bulk-by-id"},
])
def test_a_bad_answer_is_recorded_never_applied_and_the_cursor_stays(register, station_a, fault, settings):
    from tests.factories import ChildFactory

    child = ChildFactory(station=station_a)
    pid = person(register, nin=child.national_id, given_name=child.given_name, family_name=child.family_name,
                 birth_date=child.birth_date)
    register_sync()
    cursor = SyncCursor.objects.get().last_sequence
    register.die(pid)
    register.faults.add(**fault)
    import registry_sync.client as client_module

    original = client_module.RegisterClient.from_settings
    client_module.RegisterClient.from_settings = classmethod(lambda cls, **kw: original.__func__(cls, backoff_seconds=0, **kw))
    try:
        with pytest.raises(SyncFailed):
            register_sync()
    finally:
        client_module.RegisterClient.from_settings = original
    child.refresh_from_db()
    assert (child.status, SyncCursor.objects.get().last_sequence) == ("active", cursor)
    assert SyncError.objects.count() == 1
    register.faults.clear()
    register_sync()
    child.refresh_from_db()
    assert child.status == "deceased"
