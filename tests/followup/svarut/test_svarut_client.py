"""The SvarUt client's edges: Maskinporten tokens, the contact register's digital mailbox as the
register sync reads it, retries, and strictness about answers."""

from __future__ import annotations

import json

import pytest

from followup.letters.svarut.client import (
    MaskinportenTokenProvider, Recipient, StaticToken, SvarUtAnswerLost, SvarUtClient, SvarUtProtocolError, SvarUtRefused, SvarUtUnavailable,
)
from helsestasjon.helseid.keys import generate_rsa_key
from registry_sync.person_document import parse_person
from tests.factories import next_national_id
from tests.followup.svarut.conftest import TOKEN

PDF = b"%PDF-1.7\n%minimal\n"


def _client(svarut, **kwargs):
    kwargs.setdefault("token_provider", StaticToken(TOKEN))
    waits = []
    client = SvarUtClient(svarut.server.base_url, account=svarut.account, external_reference_url=svarut.server.lookup_url,
                          timeout=1, send_timeout=1, backoff_seconds=0.01, sleep=waits.append, **kwargs)
    client.waits = waits
    return client


def _send(client, nin=None, reference="ref-1"):
    return client.send_to_person(title="Ny innkalling", recipient=Recipient(name="Kari Nordmann", national_id=nin or ""),
                                 external_reference=reference, pdf=PDF, filename="brev-1-new-invitation.pdf")


def test_a_maskinporten_token_is_fetched_with_a_jwt_grant_cached_and_accepted(svarut):
    svarut.maskinporten_client_id = "helsestasjon-test"
    svarut.static_token = ""
    provider = MaskinportenTokenProvider(token_url=f"{svarut.server.root_url}/_maskinporten/token", audience="https://maskinporten.no/",
                                         client_id="helsestasjon-test", key=generate_rsa_key(), scope="ks:fiks")
    client = _client(svarut, token_provider=provider)
    first = _send(client)
    assert provider.token() in svarut.issued_tokens and len(svarut.issued_tokens) == 1
    _send(client, reference="ref-2")
    assert len(svarut.issued_tokens) == 1 and first


def test_a_wrong_maskinporten_client_gets_no_token_and_a_clear_error(svarut):
    svarut.maskinporten_client_id = "helsestasjon-test"
    provider = MaskinportenTokenProvider(token_url=f"{svarut.server.root_url}/_maskinporten/token", audience="https://maskinporten.no/",
                                         client_id="someone-else", key=generate_rsa_key(), scope="ks:fiks")
    with pytest.raises(SvarUtRefused) as error:
        provider.token()
    assert "Maskinporten" in str(error.value)


def test_the_register_reads_the_digital_mailbox_and_the_reservation_from_krr(svarut):
    register = svarut.register
    with_box, reserved, inactive = next_national_id(), next_national_id(), next_national_id()
    register.add_person(nin=with_box, given_name="A", family_name="B", birth_date="1990-01-01", municipality="4601", phone="41000000",
                        digital_post="digipost")
    register.add_person(nin=reserved, given_name="C", family_name="D", birth_date="1990-01-01", municipality="4601", phone="41000001",
                        reserved=True, digital_post="digipost")
    pid = register.add_person(nin=inactive, given_name="E", family_name="F", birth_date="1990-01-01", municipality="4601",
                              phone="41000002", digital_post="eboks")
    register.set_contact(pid, phone="41000002", status="Deleted", digital_post="eboks")
    records = {nin: parse_person(register.person(register.person_id_for(nin))) for nin in (with_box, reserved, inactive)}
    assert (records[with_box].digital_mailbox, records[with_box].krr_reserved) == ("digipost", False)
    assert (records[reserved].digital_mailbox, records[reserved].krr_reserved) == ("", True)
    assert records[inactive].digital_mailbox == ""


def test_5xx_on_the_status_call_is_retried_with_backoff(svarut):
    client = _client(svarut)
    svarut.add_fault("status", status=502, count=2, path="/forsendelser/status")
    client.statuses(["0b7a5d2e-3c41-4f7e-9a0d-6c2b1e8f4a37"])
    assert len(client.waits) >= 1


def test_timeouts_on_the_status_call_outlast_the_retries_as_unavailable(svarut):
    client = _client(svarut, max_attempts=2)
    svarut.add_fault("slow", seconds=1.5, count=2, path="/forsendelser/status")
    with pytest.raises(SvarUtUnavailable):
        client.statuses(["0b7a5d2e-3c41-4f7e-9a0d-6c2b1e8f4a37"])


def test_a_send_answered_200_with_a_bad_id_is_a_lost_answer_not_a_resend(svarut):
    client = _client(svarut)
    svarut.add_fault("garbage", body='{"id": "not-a-uuid"}', path="/forsendelser/person")
    with pytest.raises(SvarUtAnswerLost):
        _send(client)
    assert len(svarut.received()["forsendelser"]) == 1


def test_a_refused_send_names_what_svarut_said(svarut):
    client = _client(svarut)
    with pytest.raises(SvarUtRefused) as error:
        client.send_to_person(title="x", recipient=Recipient(name="Kari", national_id="123"), external_reference="r", pdf=PDF,
                              filename="brev.pdf")
    assert "digitalId" in str(error.value)


@pytest.mark.parametrize("body", ['{"statuser": "no"}', "[]", '{"statuser": [{"id": "0b7a5d2e-3c41-4f7e-9a0d-6c2b1e8f4a37", '
                                  '"status": "LEST", "sisteStatusEndring": "9999-01-01T00:00:00Z"}]}',
                                  '{"statuser": [{"id": "0b7a5d2e-3c41-4f7e-9a0d-6c2b1e8f4a37", "status": "ÅPNET", '
                                  '"sisteStatusEndring": "2026-12-01T10:00:00Z"}]}', "not json"])
def test_malformed_status_answers_are_protocol_errors(svarut, body):
    client = _client(svarut)
    svarut.add_fault("garbage", body=body, path="/forsendelser/status")
    with pytest.raises(SvarUtProtocolError):
        client.statuses(["0b7a5d2e-3c41-4f7e-9a0d-6c2b1e8f4a37"])


def test_the_lookup_by_external_reference_finds_what_was_sent(svarut):
    client = _client(svarut)
    sent = _send(client, reference="helsestasjon-brev-77")
    assert client.lookup_external_reference("helsestasjon-brev-77") == [sent]
    assert client.lookup_external_reference("helsestasjon-brev-78") == []
    assert json.loads(json.dumps(svarut.received()["per_reference"])) == {"helsestasjon-brev-77": 1}
