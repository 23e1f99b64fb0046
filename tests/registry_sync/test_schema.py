"""Every request the client sends and every answer the fake register gives, against the schema.

registry_sync/persontjenesten.yaml holds the routes the project uses, written from NHN's published
OpenAPI document for Persontjenesten; openapi-core validates the recorded HTTP exchanges against it,
so neither the client nor the fake can drift from the real service without this test failing.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from django.utils import timezone
from openapi_core.testing import MockRequest, MockResponse

from registry_sync.client import RegisterClient
from registry_sync.models import SyncCursor
from registry_sync.runs import register_sync
from tests.factories import ChildFactory, next_national_id
from tests.openapi_support import content_type, schema_fixture

pytestmark = pytest.mark.django_db

SCHEMA = Path(__file__).resolve().parents[2] / "registry_sync" / "persontjenesten.yaml"


openapi = schema_fixture(SCHEMA)


def _request(exchange) -> MockRequest:
    return MockRequest(
        "http://fake-register", exchange["method"], exchange["path"],
        args=parse_qsl(exchange["query"], keep_blank_values=True),
        headers=exchange["headers"], data=exchange["body"] or None, content_type=content_type(exchange).split(";")[0],
    )


def _validate(openapi, exchanges, *, requests_too: bool = True) -> set[tuple[str, int]]:
    seen = set()
    for exchange in exchanges:
        request = _request(exchange)
        if requests_too:
            openapi.validate_request(request)
        openapi.validate_response(request, MockResponse(exchange["response"], status_code=exchange["status"]))
        seen.add((exchange["path"].rsplit("/legal-basis", 1)[1], exchange["status"]))
    return seen


def test_every_request_of_a_sync_and_every_answer_fits_the_schema(register, family, station_a, openapi, client_for):
    register.server.exchanges = exchanges = []
    client = client_for()
    assert client.latest_event() is None  # 404: no events yet.
    children = [ChildFactory(station=station_a, birth_date=timezone.localdate() - timedelta(days=100 + i)) for i in range(4)]
    ids = [family(child) for child in children]
    register.add_person(nin=next_national_id(), given_name="Ny", family_name="Født", birth_date=date.today() - timedelta(days=3),
                        municipality="4601", street="Storgata", house_number=1, postal_code="5003", city="Bergen")
    register_sync()  # The first run: event/latest, the search, bulk-by-id, bulk-by-nin.
    register.move(ids[0], municipality="4601", street="Fjellveien", house_number=3, postal_code="5019", city="Bergen")
    register.correct_address(ids[1], street="Barnevegen", house_number=2)
    register.set_without_identifier(ids[2], without_identifier=[("Ana", "Silva", "1991-02-03", "Joint")])
    register.set_contact(ids[3], phone="41000000", reserved=True)
    register.change_id(ids[3], next_national_id())
    register.die(ids[1])
    register.set_protection(ids[2], "StrictlyConfidential")
    register_sync()  # Events, and the persons they name.
    register_sync()  # Past the end: a 404 page.
    SyncCursor.objects.update_or_create(name="events", defaults={"full_requested": True})
    register_sync()
    assert client.person_by_nin(children[0].national_id)["id"] == ids[0]
    assert client.person_by_nin(next_national_id()) is None
    assert client.persons_by_nin([children[2].national_id])

    seen = _validate(openapi, exchanges)
    assert {path for path, _ in seen} == {"/event/latest", "/event", "/person/bulk-by-id", "/person/bulk-by-nin",
                                          "/person/get-by-nin", "/search/paged-match-list"}
    assert {("/event/latest", 404), ("/event", 404), ("/person/get-by-nin", 404), ("/event", 200)} <= seen


def test_the_fakes_refusals_are_problem_documents_of_the_schema(register, openapi):
    register.server.exchanges = exchanges = []
    pid = register.add_person(nin=next_national_id(), given_name="Kari", family_name="Nordmann", birth_date="2024-03-01")
    base = register.server.base_url
    requests.get(f"{base}/event/latest", timeout=5)  # No api-version.
    requests.post(f"{base}/person/bulk-by-id?informationParts=Name", json={"personIds": [pid]},
                  headers={"api-version": "2"}, timeout=5)  # A JSON body.
    requests.post(f"{base}/person/bulk-by-id", data={"personIds": pid}, headers={"api-version": "2"}, timeout=5)
    assert [e["status"] for e in exchanges] == [400, 400, 400]
    _validate(openapi, exchanges, requests_too=False)  # The requests are wrong on purpose.


def test_a_request_without_information_parts_does_not_fit_the_schema(register, openapi):
    """The schema is strict where the register is: it would catch a client that forgot a parameter."""
    from openapi_core.validation.request.exceptions import MissingRequiredParameter

    register.server.exchanges = exchanges = []
    pid = register.add_person(nin=next_national_id(), given_name="Kari", family_name="Nordmann", birth_date="2024-03-01")
    client = RegisterClient(register.server.base_url, timeout=2)
    client.persons_by_id([pid])
    exchange = dict(exchanges[0])
    exchange["query"] = "&".join(p for p in exchange["query"].split("&") if not p.startswith("informationParts"))
    with pytest.raises(MissingRequiredParameter):
        openapi.validate_request(_request(exchange))
    assert urlsplit(register.server.base_url).path == "/api/legal-basis"
