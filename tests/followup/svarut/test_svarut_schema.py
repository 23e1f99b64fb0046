"""Every request the client sends and every answer the fake SvarUt gives, against the schema.

followup/letters/svarut/svarut-v3.yaml holds the routes the project uses, written from KS's published
OpenAPI v3 files (ks-no/fiks-svarut-klient, openapi_v3/) and KS's documented lookup by eksternReferanse;
openapi-core validates the recorded HTTP exchanges against it, so neither the client nor the fake can
drift from the real service without this test failing.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import requests
from openapi_core.testing import MockRequest, MockResponse

from followup.letters.making import letters_create_due
from followup.letters.svarut import services
from followup.letters.svarut.choices import LetterChannel
from followup.letters.svarut.client import SvarUtClient
from tests.factories import ChildFactory
from tests.followup.letters_support import case_at_step
from tests.followup.svarut.conftest import TOKEN, guardian
from tests.openapi_support import content_type, schema_fixture

pytestmark = pytest.mark.django_db

SCHEMA = Path(__file__).resolve().parents[3] / "followup" / "letters" / "svarut" / "svarut-v3.yaml"


openapi = schema_fixture(SCHEMA)


def _request(exchange) -> MockRequest:
    return MockRequest("https://svarut.ks.no", exchange["method"], exchange["path"], headers=exchange["headers"],
                       data=exchange["body"] or None, content_type=content_type(exchange))


def _validate(openapi, exchanges) -> set[tuple[str, int]]:
    seen = set()
    for exchange in exchanges:
        request = _request(exchange)
        if exchange["status"] == 200:
            # Refused requests are refused because they do not fit; their answers must fit still.
            openapi.validate_request(request)
        openapi.validate_response(request, MockResponse(exchange["response"], status_code=exchange["status"],
                                                        content_type="application/json"))
        seen.add((exchange["path"].rsplit("/", 1)[-1] if "eksternref" not in exchange["path"] else "eksternref", exchange["status"]))
    return seen


def test_every_request_of_a_send_and_poll_and_every_answer_fits_the_schema(station_a, svarut, openapi, settings):
    svarut.exchanges = exchanges = []
    station_a.paper_channel = LetterChannel.SVARUT_PRINT
    station_a.save()
    for kwargs in ({}, {"mailbox": None}, {"reserved": True}):
        child = ChildFactory(station=station_a)
        guardian(child, svarut, **kwargs)
        case_at_step(child)
    letters_create_due(station=station_a)
    svarut.add_fault("status", status=429, retry_after=0, path="/forsendelser/person")
    services.svarut_dispatch(station_id=station_a.id)
    for hours in (0.05, 3, 41):
        svarut.advance(timedelta(hours=hours))
        services.svarut_poll()
    client = SvarUtClient.from_settings(sleep=lambda s: None)
    assert client.lookup_external_reference("helsestasjon-brev-0") == []
    # Refusals the fake gives, as KS ErrorMessage documents.
    base = f"{svarut.server.base_url}/v3/kontoer/{svarut.account}/forsendelser"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert requests.post(f"{base}/status", json={"id": ["not-a-uuid"]}, headers=auth, timeout=2).status_code == 400
    assert requests.post(f"{base}/status", json={"id": []}, timeout=2).status_code == 401
    assert requests.post(f"{base}/person", data=b"{}", headers={**auth, "Content-Type": "application/json"}, timeout=2).status_code == 400

    seen = _validate(openapi, exchanges)
    assert {("person", 200), ("person", 429), ("status", 200), ("eksternref", 200), ("status", 400), ("status", 401),
            ("person", 400)} <= seen


def test_the_schema_refuses_what_ks_would_refuse(openapi):
    bad = MockRequest("https://svarut.ks.no", "post", f"/api/v3/kontoer/{'0' * 8}-0000-0000-0000-{'0' * 12}/forsendelser/status",
                      data=b'{"id": "one"}', content_type="application/json")
    with pytest.raises(Exception):
        openapi.validate_request(bad)


def test_the_schema_reads_the_multipart_forsendelse_part(openapi):
    """A forsendelse part without tittel does not fit: the multipart body is really validated."""
    import json

    def prepared(forsendelse):
        files = [("forsendelse", (None, json.dumps(forsendelse).encode(), "application/json")),
                 ("dokumenter", ("brev.pdf", b"%PDF-1.7", "application/pdf"))]
        return requests.Request("POST", "https://svarut.ks.no/x", files=files).prepare()

    path = "/api/v3/kontoer/0b7a5d2e-3c41-4f7e-9a0d-6c2b1e8f4a37/forsendelser/person"
    good = prepared({"tittel": "Brev", "mottaker": {"navn": "Kari"}, "dokumenter": [{"filnavn": "brev.pdf", "mimeType": "application/pdf"}]})
    openapi.validate_request(MockRequest("https://svarut.ks.no", "post", path, data=good.body, content_type=good.headers["Content-Type"]))
    bad = prepared({"mottaker": {"navn": "Kari"}, "dokumenter": []})
    with pytest.raises(Exception):
        openapi.validate_request(MockRequest("https://svarut.ks.no", "post", path, data=bad.body, content_type=bad.headers["Content-Type"]))


def test_the_lookup_by_external_reference_answers_as_ks_documents_it(station_a, svarut, openapi):
    """v1's GET /eksternref/{eksternref} answers List<ForsendelsesId>: objects with an id, found for a sent letter."""
    import json
    import uuid

    from followup.letters.models import Letter

    child = ChildFactory(station=station_a)
    guardian(child, svarut)
    case_at_step(child)
    letters_create_due(station=station_a)
    services.svarut_dispatch(station_id=station_a.id)
    letter = Letter.objects.get(child=child)
    svarut.exchanges = exchanges = []
    found = SvarUtClient.from_settings(sleep=lambda s: None).lookup_external_reference(services.external_reference(letter.pk))
    assert len(found) == 1 and isinstance(found[0], uuid.UUID)
    (exchange,) = exchanges
    assert json.loads(exchange["response"]) == [{"id": str(found[0])}]
    assert _validate(openapi, exchanges) == {("eksternref", 200)}
    # Bare ids, as the fake once answered, do not fit KS's model.
    request = _request(exchange)
    with pytest.raises(Exception):
        openapi.validate_response(request, MockResponse(json.dumps([str(found[0])]).encode(), status_code=200,
                                                        content_type="application/json"))
