"""Letters through SvarUt against the fake over real HTTP: the channel rules, every status and its
effect on the ladder, the 40-hour print fallback, 429/5xx/timeouts, a lost answer after acceptance,
and a batch with some letters digital and some printed."""

from __future__ import annotations

import json
import re
import time
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from followup.letters.batch import letter_batch_prepare, letter_batch_request, letter_batch_start, letter_retry
from followup.letters.making import letters_create_due
from followup.letters.models import Letter, LetterState
from followup.letters.svarut import services
from followup.letters.svarut.choices import DeliveryStatus, LetterChannel, SendState
from followup.letters.svarut.client import SvarUtClient, SvarUtProtocolError
from followup.models import CaseStep, StepKind, StepStatus
from helsestasjon.models import AddressProtection
from tests.factories import ChildFactory
from tests.followup.letters_support import case_at_step
from tests.followup.svarut.conftest import guardian

pytestmark = pytest.mark.django_db


def _letter_for(station, svarut, **guardian_kwargs):
    child = ChildFactory(station=station, given_name="Ola", family_name="Hansen")
    g = guardian(child, svarut, **guardian_kwargs)
    case, step = case_at_step(child)
    letters_create_due(station=station)
    return Letter.objects.get(case_step=step), step, g


def _send(station):
    services.svarut_dispatch(station_id=station.id)  # eager Celery: the send tasks run inline


def _poll_after(svarut, **delta):
    svarut.advance(timedelta(**delta))
    return services.svarut_poll()


def _received(svarut):
    return svarut.received()["forsendelser"]


# ----------------------------------------------------------------------------- channel rules


def test_guardian_with_active_mailbox_gets_a_digital_letter_and_delivery_completes_the_step(station_a, svarut):
    letter, step, g = _letter_for(station_a, svarut)
    assert letter.channel == LetterChannel.DIGITAL

    _send(station_a)

    letter.refresh_from_db()
    [sent] = _received(svarut)
    assert str(letter.forsendelse_id) == sent["id"] and letter.send_state == SendState.ACCEPTED
    assert sent["mottaker"]["digitalId"] == g.national_id and sent["eksternReferanse"] == f"helsestasjon-brev-{letter.pk}"
    step.refresh_from_db()
    assert step.status == StepStatus.ACTIVE  # accepted is not delivered

    _poll_after(svarut, minutes=3)
    letter.refresh_from_db()
    step.refresh_from_db()
    assert letter.delivery_status == DeliveryStatus.LEVERT_SDP
    assert step.status == StepStatus.DONE
    following = CaseStep.objects.get(case=step.case, status=StepStatus.ACTIVE)
    assert following.started_at is not None and following.deadline is not None

    _poll_after(svarut, hours=3)
    letter.refresh_from_db()
    assert letter.delivery_status == DeliveryStatus.LEST
    assert [e.status for e in letter.delivery_events.all()] == ["LEVERT_SDP", "LEST"]


def test_reserved_guardian_goes_by_the_stations_paper_channel_svarut_print(station_a, svarut):
    station_a.paper_channel = LetterChannel.SVARUT_PRINT
    station_a.save()
    letter, step, g = _letter_for(station_a, svarut, reserved=True)
    assert letter.channel == LetterChannel.SVARUT_PRINT and "Reservert" in letter.channel_reason

    _send(station_a)
    [sent] = _received(svarut)
    assert "digitalId" not in sent["mottaker"]
    assert sent["mottaker"]["adresse"] == {"adresselinje1": g.street_address, "postnummer": g.postal_code, "poststed": g.city}

    _poll_after(svarut, minutes=5)
    step.refresh_from_db()
    assert Letter.objects.get(pk=letter.pk).delivery_status == DeliveryStatus.SENDT_PRINT and step.status == StepStatus.ACTIVE
    _poll_after(svarut, hours=2)
    step.refresh_from_db()
    assert Letter.objects.get(pk=letter.pk).delivery_status == DeliveryStatus.PRINTET and step.status == StepStatus.DONE


def test_guardian_without_mailbox_at_a_local_print_station_goes_in_the_print_batch(station_a, clerk_a, svarut):
    letter, step, g = _letter_for(station_a, svarut, mailbox=None)
    assert letter.channel == LetterChannel.LOCAL_PRINT
    _send(station_a)
    assert _received(svarut) == []
    batch = letter_batch_start(station=station_a, user=clerk_a)
    assert list(batch.letters.values_list("id", flat=True)) == [letter.pk]


def test_strictly_confidential_guardian_with_mailbox_gets_a_digital_letter_without_address(station_a, svarut):
    letter, step, g = _letter_for(station_a, svarut, address_protection=AddressProtection.STRICTLY_CONFIDENTIAL,
                                  street_address="", postal_code="", city="")
    assert letter.channel == LetterChannel.DIGITAL and letter.address_lines == []
    _send(station_a)
    [sent] = _received(svarut)
    assert "adresse" not in sent["mottaker"] and sent["mottaker"]["digitalId"] == g.national_id


def test_strictly_confidential_guardian_without_mailbox_goes_to_manual_handling_never_svarut(station_a, svarut):
    station_a.paper_channel = LetterChannel.SVARUT_PRINT
    station_a.save()
    letter, step, g = _letter_for(station_a, svarut, mailbox=None, address_protection=AddressProtection.STRICTLY_CONFIDENTIAL,
                                  street_address="", postal_code="", city="")
    assert letter.channel == LetterChannel.LOCAL_PRINT and letter.manual_handling
    _send(station_a)
    assert _received(svarut) == []


def test_guardian_protected_after_the_letter_was_made_is_kept_off_svarut_print(station_a, svarut):
    station_a.paper_channel = LetterChannel.SVARUT_PRINT
    station_a.save()
    letter, step, g = _letter_for(station_a, svarut, mailbox=None)
    assert letter.channel == LetterChannel.SVARUT_PRINT
    g.address_protection = AddressProtection.CONFIDENTIAL
    g.save()
    _send(station_a)
    letter.refresh_from_db()
    assert _received(svarut) == []
    assert letter.channel == LetterChannel.LOCAL_PRINT and letter.manual_handling and letter.address_lines == []


# ----------------------------------------------------------------------------- statuses and the ladder


def test_unread_digital_letter_is_printed_after_40_hours_and_then_counts_as_delivered(station_a, svarut):
    letter, step, g = _letter_for(station_a, svarut, in_register_mailbox=None, reads_after=None)
    _send(station_a)
    _poll_after(svarut, hours=39)
    step.refresh_from_db()
    assert Letter.objects.get(pk=letter.pk).delivery_status == DeliveryStatus.VARSLET and step.status == StepStatus.ACTIVE
    _poll_after(svarut, hours=1.5)  # 40.5 h: sent to print
    assert Letter.objects.get(pk=letter.pk).delivery_status == DeliveryStatus.SENDT_PRINT
    _poll_after(svarut, hours=1)
    step.refresh_from_db()
    assert Letter.objects.get(pk=letter.pk).delivery_status == DeliveryStatus.PRINTET and step.status == StepStatus.DONE


def test_not_delivered_letter_needs_a_hand_and_starts_the_address_check(station_a, svarut):
    # Strictly confidential, no mailbox SvarUt can use, nobody reads: print has no address -> IKKE_LEVERT.
    letter, step, g = _letter_for(station_a, svarut, in_register_mailbox=None, reads_after=None,
                                  address_protection=AddressProtection.STRICTLY_CONFIDENTIAL, street_address="", postal_code="", city="")
    _send(station_a)
    _poll_after(svarut, hours=42)
    letter.refresh_from_db()
    assert letter.delivery_status == DeliveryStatus.IKKE_LEVERT and letter.returned_at is not None
    step.refresh_from_db()
    assert step.status == StepStatus.SKIPPED
    assert step.case.current_step.kind == StepKind.ADDRESS_CHECK
    assert services.svarut_counts(station=station_a)["needs_hand"] == 1
    assert services.svarut_letters(station=station_a)["not_delivered"] == [letter]


def test_a_rejected_forsendelse_goes_to_the_address_check(station_a, svarut):
    letter, step, g = _letter_for(station_a, svarut)
    services.svarut_apply_status(letter_id=letter.pk, status=DeliveryStatus.AVVIST, at=timezone.now())
    step.refresh_from_db()
    assert step.status == StepStatus.SKIPPED and step.case.current_step.kind == StepKind.ADDRESS_CHECK


@pytest.mark.parametrize("status", [DeliveryStatus.MANUELT_HANDTERT, DeliveryStatus.SENDT_DIGITALT, DeliveryStatus.KLAR_FOR_MOTTAK,
                                    DeliveryStatus.SLETTET, DeliveryStatus.MOTTATT, DeliveryStatus.AKSEPTERT])
def test_other_statuses_are_recorded_and_leave_the_step_waiting(station_a, svarut, status):
    letter, step, g = _letter_for(station_a, svarut)
    _send(station_a)
    services.svarut_apply_status(letter_id=letter.pk, status=status, at=timezone.now() + timedelta(seconds=5))
    step.refresh_from_db()
    letter.refresh_from_db()
    assert step.status == StepStatus.ACTIVE
    assert letter.delivery_events.filter(status=status).count() == 1


def test_applying_the_same_status_twice_records_it_once(station_a, svarut):
    letter, step, g = _letter_for(station_a, svarut)
    at = timezone.now()
    assert services.svarut_apply_status(letter_id=letter.pk, status=DeliveryStatus.LEVERT_SDP, at=at)
    assert not services.svarut_apply_status(letter_id=letter.pk, status=DeliveryStatus.LEVERT_SDP, at=at)
    assert letter.delivery_events.count() == 1


# ----------------------------------------------------------------------------- faults


def test_429_with_retry_after_is_waited_for_and_the_letter_sent_once(station_a, svarut):
    letter, step, g = _letter_for(station_a, svarut)
    svarut.add_fault("status", status=429, retry_after=2, path="/forsendelser/person")
    waits = []
    client = SvarUtClient.from_settings(sleep=waits.append)
    services.svarut_dispatch(station_id=station_a.id)  # renders; the eager send ran with the settings' client...
    assert len(_received(svarut)) == 1
    assert waits == [] or waits[0] >= 2
    # ...and the client itself waits as long as Retry-After says.
    svarut.add_fault("status", status=429, retry_after=3, path="/forsendelser/status")
    client.statuses([Letter.objects.get(pk=letter.pk).forsendelse_id])
    assert waits == [3.0]


def test_503_outlasting_the_retries_leaves_the_letter_unsent_for_the_next_run(station_a, svarut, settings):
    settings.SVARUT_MAX_ATTEMPTS = 2
    letter, step, g = _letter_for(station_a, svarut)
    svarut.add_fault("status", status=503, count=2, path="/forsendelser/person")
    _send(station_a)
    letter.refresh_from_db()
    assert letter.send_state == SendState.NOT_SENT and letter.state == LetterState.PRODUCED and "HTTP 503" in letter.error
    assert _received(svarut) == []
    services.svarut_resume()  # the beat's safety net sends it
    letter.refresh_from_db()
    assert letter.send_state == SendState.ACCEPTED and len(_received(svarut)) == 1


def test_a_timeout_after_the_send_is_resolved_by_lookup_never_by_sending_again(station_a, svarut):
    letter, step, g = _letter_for(station_a, svarut)
    svarut.add_fault("slow", seconds=1.5, path="/forsendelser/person")
    _send(station_a)
    letter.refresh_from_db()
    assert letter.send_state == SendState.SENDING and letter.forsendelse_id is None
    _send(station_a)  # a second run does not send it again
    services.svarut_resume()  # not stale yet
    assert Letter.objects.get(pk=letter.pk).send_state == SendState.SENDING
    for _ in range(50):  # the fake takes the forsendelse when its slow answer is done
        if _received(svarut):
            break
        time.sleep(0.1)
    services.svarut_resume(now=timezone.now() + timedelta(hours=1))
    letter.refresh_from_db()
    [sent] = _received(svarut)
    assert letter.send_state == SendState.ACCEPTED and str(letter.forsendelse_id) == sent["id"]
    assert svarut.received()["per_reference"] == {f"helsestasjon-brev-{letter.pk}": 1}


def test_a_lost_answer_after_acceptance_without_lookup_is_listed_as_uncertain_and_the_clerk_records_it(station_a, clerk_a, svarut, settings):
    settings.SVARUT_EXTERNAL_REFERENCE_URL = ""
    letter, step, g = _letter_for(station_a, svarut)
    svarut.add_fault("lose_answer", path="/forsendelser/person")
    _send(station_a)
    services.svarut_resume(now=timezone.now() + timedelta(hours=1))
    letter.refresh_from_db()
    assert letter.send_state == SendState.UNCERTAIN and "Sjekk i SvarUt" in letter.error
    assert services.svarut_letters(station=station_a)["uncertain"] == [letter]
    [sent] = _received(svarut)
    with pytest.raises(ValidationError):
        services.letter_svarut_resolve(letter=letter, user=clerk_a, forsendelse_id="ikke-en-id")
    services.letter_svarut_resolve(letter=letter, user=clerk_a, forsendelse_id=sent["id"])
    letter.refresh_from_db()
    assert letter.send_state == SendState.ACCEPTED and str(letter.forsendelse_id) == sent["id"]
    assert len(_received(svarut)) == 1


def test_a_500_after_the_send_with_nothing_found_is_uncertain_and_sent_again_only_by_the_clerk(station_a, clerk_a, svarut, django_capture_on_commit_callbacks):
    letter, step, g = _letter_for(station_a, svarut)
    svarut.add_fault("status", status=500, path="/forsendelser/person")
    _send(station_a)
    services.svarut_resume(now=timezone.now() + timedelta(hours=1))
    letter.refresh_from_db()
    assert letter.send_state == SendState.UNCERTAIN and _received(svarut) == []
    services.svarut_resume(now=timezone.now() + timedelta(hours=2))
    assert _received(svarut) == []  # never sent again by itself
    with django_capture_on_commit_callbacks(execute=True):
        services.letter_svarut_resolve(letter=letter, user=clerk_a)
    letter.refresh_from_db()
    assert letter.send_state == SendState.ACCEPTED and len(_received(svarut)) == 1


def test_a_malformed_status_answer_is_a_clear_error_and_changes_nothing(station_a, svarut):
    letter, step, g = _letter_for(station_a, svarut)
    _send(station_a)
    svarut.add_fault("garbage", body='{"statuser": [{"id": "x", "status": "LEST"}]}', path="/forsendelser/status")
    with pytest.raises(SvarUtProtocolError) as error:
        _poll_after(svarut, hours=3)
    assert "SvarUt" in str(error.value)
    letter.refresh_from_db()
    assert letter.delivery_status == DeliveryStatus.MOTTATT and letter.delivery_events.count() == 0


def test_the_fake_refuses_a_request_without_the_token(svarut):
    import requests

    response = requests.post(f"{svarut.server.base_url}/v3/kontoer/{svarut.account}/forsendelser/status", json={"id": []}, timeout=2)
    assert response.status_code == 401 and json.loads(response.content)["status"] == 401


# ----------------------------------------------------------------------------- a mixed batch, the clerk


def test_a_batch_with_some_letters_digital_and_some_printed(station_a, clerk_a, svarut):
    digital = [_letter_for(station_a, svarut)[0] for _ in range(3)]
    printed = [_letter_for(station_a, svarut, mailbox=None)[0] for _ in range(2)]
    batch = letter_batch_start(station=station_a, user=clerk_a)
    _send(station_a)
    assert set(batch.letters.values_list("id", flat=True)) == {l.pk for l in printed}
    assert {f["eksternReferanse"] for f in _received(svarut)} == {f"helsestasjon-brev-{l.pk}" for l in digital}
    _poll_after(svarut, minutes=3)
    counts = services.svarut_counts(station=station_a)
    assert counts["digital"] == 3 and counts["local_waiting"] == 2 and counts["needs_hand"] == 0


def test_the_clerks_button_prints_only_the_local_letters_and_sends_the_digital_ones(station_a, clerk_a, svarut):
    # "Lag dagens brev" answers at once (letter_batch_request) and a task prepares the batch.
    digital = [_letter_for(station_a, svarut)[0] for _ in range(2)]
    printed = [_letter_for(station_a, svarut, mailbox=None)[0] for _ in range(2)]
    batch = letter_batch_request(station=station_a, user=clerk_a)
    letter_batch_prepare(batch_id=batch.id)
    _send(station_a)
    assert set(batch.letters.values_list("id", flat=True)) == {l.pk for l in printed}
    assert {f["eksternReferanse"] for f in _received(svarut)} == {f"helsestasjon-brev-{l.pk}" for l in digital}


def test_the_clerk_overrides_the_channel_before_sending_and_the_reason_is_kept(station_a, clerk_a, svarut):
    letter, step, g = _letter_for(station_a, svarut)
    with pytest.raises(ValidationError):
        services.letter_channel_override(letter=letter, channel=LetterChannel.LOCAL_PRINT, reason="  ", user=clerk_a)
    letter = services.letter_channel_override(letter=letter, channel=LetterChannel.LOCAL_PRINT, reason="Mor ba om papirbrev", user=clerk_a)
    assert letter.channel == LetterChannel.LOCAL_PRINT and letter.channel_reason == "Mor ba om papirbrev" and letter.channel_set_by == clerk_a
    _send(station_a)
    assert _received(svarut) == []


def test_the_clerk_cannot_send_a_protected_letter_to_svarut_print(station_a, clerk_a, svarut):
    letter, step, g = _letter_for(station_a, svarut, mailbox=None, address_protection=AddressProtection.CONFIDENTIAL)
    with pytest.raises(ValidationError):
        services.letter_channel_override(letter=letter, channel=LetterChannel.SVARUT_PRINT, reason="Prøver", user=clerk_a)


def test_the_digital_share_per_month(station_a, svarut):
    for _ in range(2):
        _letter_for(station_a, svarut)
    _letter_for(station_a, svarut, reserved=True, mailbox=None)
    station_a.paper_channel = LetterChannel.SVARUT_PRINT
    station_a.save()
    Letter.objects.filter(channel=LetterChannel.LOCAL_PRINT).update(channel=LetterChannel.SVARUT_PRINT)
    _send(station_a)
    _poll_after(svarut, hours=3)
    [month] = services.svarut_digital_share_by_month(station_ids=[station_a.id])
    assert month["total"] == 3 and month["digital"] == 2 and month["share"] == 66.7


def test_the_statistics_page_shows_the_digital_share_per_month(station_a, svarut, login, leader_a):
    for _ in range(2):
        _letter_for(station_a, svarut)
    _letter_for(station_a, svarut, reserved=True, mailbox=None)
    Letter.objects.filter(channel=LetterChannel.LOCAL_PRINT).update(channel=LetterChannel.SVARUT_PRINT)
    _send(station_a)
    _poll_after(svarut, hours=3)
    page = login(leader_a).get(reverse("followup:statistics:page")).content.decode()  # this year
    section = page[page.index('id="digitale-brev"'):]
    section = section[: section.index("</section>")]
    assert "Brev levert digitalt" in section
    assert re.search(r'<td class="num">3</td><td class="num">2</td><td class="num">66,7 %</td>', section)


def test_a_refused_send_fails_the_letter_with_svaruts_message_and_a_retry_sends_it(station_a, svarut, django_capture_on_commit_callbacks):
    letter, step, g = _letter_for(station_a, svarut)
    svarut.add_fault("status", status=400, path="/forsendelser/person")
    _send(station_a)
    letter.refresh_from_db()
    assert letter.state == LetterState.FAILED and "HTTP 400" in letter.error and letter.send_state == SendState.NOT_SENT
    with django_capture_on_commit_callbacks(execute=True):
        letter_retry(letter=letter)
    letter.refresh_from_db()
    assert letter.send_state == SendState.ACCEPTED and len(_received(svarut)) == 1
