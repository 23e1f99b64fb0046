"""Deny by default for a protected child's messages (issue 13, finding 10).

A child with a protected address, one guardian registered with the same protection (living
with the child) and one unprotected guardian with parental responsibility: reminders,
cancellations, the ladder's SMS and letters go only to the first; the second gets nothing
automatic, and the child's page and the case ask the nurse for a manual decision.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from followup.sms.rebook import case_sms_rebook
from followup.sms.sending import sms_send
from followup.letters.models import Letter
from followup.letters.making import letters_create_due
from followup.models import SmsMessage, SmsStatus, StepKind
from followup.sms import services
from followup.sms.models import ContactDecision, ManualContactDecision
from helsestasjon.models import AddressProtection
from helsestasjon.protection import child_set_protection
from tests.factories import AppointmentFactory, ConsultationFactory, GuardianFactory, GuardianshipFactory
from tests.followup.letters_support import _media, case_at_step  # noqa: F401

pytestmark = pytest.mark.django_db

LEVELS = [AddressProtection.CONFIDENTIAL, AddressProtection.STRICTLY_CONFIDENTIAL]
NEEDED = "Manuell avgjørelse trengs"


def _guardian(child, *, relation="mother", **kw):
    guardian = GuardianFactory(**kw)
    GuardianshipFactory(child=child, guardian=guardian, parental_responsibility=True, relation=relation)
    return guardian


def _family(child, level):
    """The child and its mother share the protection; the father, with parental responsibility, does not."""
    child_set_protection(child=child, level=level)
    mother = _guardian(child, given_name="Mor", family_name="Skjermet", mobile="41000101", address_protection=level, street_address="")
    father = _guardian(
        child, relation="father", given_name="Far", family_name="Utenfor", mobile="41000102", street_address="Farsveien 3"
    )
    return mother, father


def _appointment(child, nurse, days=2):
    starts = timezone.localtime(timezone.now() + timedelta(days=days)).replace(hour=10, minute=15, second=0, microsecond=0)
    return AppointmentFactory(consultation=ConsultationFactory(child=child), starts_at=starts, professional=nurse)


# --------------------------------------------------------------------------- what goes out


@pytest.mark.parametrize("level", LEVELS)
def test_a_protected_childs_reminder_goes_only_to_the_guardian_who_shares_the_protection(
    child_a, nurse_a, level, sms_outbox, django_capture_on_commit_callbacks
):
    mother, father = _family(child_a, level)
    _appointment(child_a, nurse_a, days=2)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sms_reminders_send() == 1
    assert [m["to"] for m in sms_outbox] == [mother.mobile]
    assert not SmsMessage.objects.filter(guardian=father).exists()
    # A second run does not reach the father either.
    assert services.sms_reminders_send() == 0


@pytest.mark.parametrize("level", LEVELS)
def test_a_protected_childs_cancellation_sms_goes_only_to_the_guardian_who_shares_the_protection(child_a, nurse_a, level):
    mother, father = _family(child_a, level)
    appointment = _appointment(child_a, nurse_a, days=12)
    assert services.sms_cancellations_send(appointment_ids=[appointment.pk]) == 1
    (message,) = SmsMessage.objects.all()
    assert message.guardian == mother and "er avlyst. Dere får en ny time." in message.text


@pytest.mark.parametrize("level", LEVELS)
def test_a_protected_childs_ladder_sms_goes_only_to_the_guardian_who_shares_the_protection(
    child_a, nurse_a, clerk_a, level, sms_outbox, django_capture_on_commit_callbacks
):
    mother, father = _family(child_a, level)
    _case, step = case_at_step(child_a, StepKind.SMS_REBOOK)
    _appointment(child_a, nurse_a, days=3)
    with django_capture_on_commit_callbacks(execute=True):
        sent = case_sms_rebook(step=step, user=clerk_a)
    assert [m.guardian for m in sent] == [mother]
    assert [m["to"] for m in sms_outbox] == [mother.mobile]
    step.refresh_from_db()
    assert "1 foresatt fikk ikke SMS fordi barnets adresse er beskyttet" in step.evidence


@pytest.mark.parametrize("level", LEVELS)
def test_a_protected_childs_invitation_letter_goes_only_to_the_guardian_who_shares_the_protection(child_a, nurse_a, level):
    station = child_a.station
    station.send_invitation_letters = True
    station.save(update_fields=["send_invitation_letters"])
    mother, father = _family(child_a, level)
    _appointment(child_a, nurse_a, days=14)
    letters_create_due(station=station)
    (letter,) = Letter.objects.all()
    assert letter.recipient == mother and letter.recipient_name == "Mor Skjermet"
    # Her own address is protected too: the letter waits for manual handling, without an address.
    assert letter.manual_handling and letter.address_lines == []
    assert not Letter.objects.filter(recipient=father).exists()


def test_a_guardian_with_another_protection_level_gets_nothing_automatic(child_a, nurse_a, sms_outbox):
    child_set_protection(child=child_a, level=AddressProtection.STRICTLY_CONFIDENTIAL)
    _guardian(child_a, mobile="41000103", address_protection=AddressProtection.CONFIDENTIAL)
    _appointment(child_a, nurse_a, days=2)
    assert services.sms_reminders_send() == 0
    assert not SmsMessage.objects.exists()


def test_a_placed_protected_childs_parents_do_not_get_the_letter_the_foster_home_may_not(child_a):
    child_set_protection(child=child_a, level=AddressProtection.CONFIDENTIAL)
    _guardian(child_a, given_name="Kari", family_name="Mor", street_address="Mors vei 1")
    foster = GuardianFactory(given_name="Fosterhjemmet", family_name="Berg", street_address="Fosterveien 5")
    GuardianshipFactory(child=child_a, guardian=foster, relation="foster_home", parental_responsibility=False, is_caretaker=True)
    case_at_step(child_a)
    letters_create_due(station=child_a.station)
    assert not Letter.objects.exists()


def test_an_unprotected_childs_messages_go_to_every_guardian_with_responsibility(child_a, nurse_a, sms_outbox):
    _guardian(child_a, mobile="41000104")
    _guardian(child_a, relation="father", mobile="41000105", address_protection=AddressProtection.CONFIDENTIAL)
    _appointment(child_a, nurse_a, days=2)
    assert services.sms_reminders_send() == 2


@pytest.mark.parametrize("level", LEVELS)
def test_a_queued_reminder_is_stopped_when_the_child_becomes_protected(
    child_a, nurse_a, level, sms_outbox, django_capture_on_commit_callbacks
):
    father = _guardian(child_a, relation="father", mobile="41000106")
    _appointment(child_a, nurse_a, days=2)
    with django_capture_on_commit_callbacks(execute=False):
        assert services.sms_reminders_send() == 1
    child_set_protection(child=child_a, level=level)
    message = sms_send(sms_id=SmsMessage.objects.get(guardian=father).pk)
    assert message.status == SmsStatus.FAILED and "barnets adresse er beskyttet" in message.error
    assert sms_outbox == []


# --------------------------------------------------------------------------- the manual decision


def _pages(child):
    from followup.models import Case

    case = Case.objects.get(child=child)
    return reverse("attendance:child", args=[child.pk]), reverse("followup:case", args=[case.pk])


@pytest.mark.parametrize("level", LEVELS)
def test_the_child_page_and_the_case_page_show_that_a_manual_decision_is_needed(child_a, nurse_a, level, login):
    _family(child_a, level)
    case_at_step(child_a)
    client = login(nurse_a)
    for url in _pages(child_a):
        html = client.get(url).content.decode()
        assert NEEDED in html
        assert "Far Utenfor" in html.split("Varsling når barnets adresse er beskyttet", 1)[1]


@pytest.mark.parametrize("level", LEVELS)
def test_recording_the_decision_with_a_reason_clears_it(child_a, nurse_a, level, login):
    _mother, father = _family(child_a, level)
    case_at_step(child_a)
    client = login(nurse_a)
    response = client.post(
        reverse("followup:manual_contact", args=[child_a.pk]),
        {"guardian": father.pk, "decision": ContactDecision.NOTHING, "reason": "Adressen er beskyttet mot far.", "fra": "sak"},
    )
    assert response.status_code == 302
    decision = ManualContactDecision.objects.get()
    assert (decision.guardian, decision.decided_by, decision.child_protection) == (father, nurse_a, level)
    for url in _pages(child_a):
        html = client.get(url).content.decode()
        assert NEEDED not in html
        assert "Får ingen informasjon om timer og sted" in html and "Adressen er beskyttet mot far." in html


def test_the_decision_answers_an_htmx_request_with_the_section_only(child_a, nurse_a, login):
    _mother, father = _family(child_a, AddressProtection.CONFIDENTIAL)
    response = login(nurse_a).post(
        reverse("followup:manual_contact", args=[child_a.pk]),
        {"guardian": father.pk, "decision": ContactDecision.TOLD_BY_STATION, "reason": "Far ringes av helsesykepleier."},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert "<html" not in html and "Avgjørelsen er lagret." in html and NEEDED not in html


def test_a_decision_needs_a_reason(child_a, nurse_a, login):
    _mother, father = _family(child_a, AddressProtection.CONFIDENTIAL)
    client = login(nurse_a)
    response = client.post(
        reverse("followup:manual_contact", args=[child_a.pk]),
        {"guardian": father.pk, "decision": ContactDecision.NOTHING, "reason": "  "}, HTTP_HX_REQUEST="true",
    )
    assert "Skriv begrunnelsen for avgjørelsen." in response.content.decode()
    assert not ManualContactDecision.objects.exists()
    assert NEEDED in client.get(reverse("attendance:child", args=[child_a.pk])).content.decode()


def test_a_clerk_sees_that_a_decision_is_needed_but_cannot_make_it(child_a, clerk_a, login):
    _mother, father = _family(child_a, AddressProtection.CONFIDENTIAL)
    client = login(clerk_a)
    assert NEEDED in client.get(reverse("attendance:child", args=[child_a.pk])).content.decode()
    response = client.post(
        reverse("followup:manual_contact", args=[child_a.pk]), {"guardian": father.pk, "decision": "nothing", "reason": "x"}
    )
    assert response.status_code == 403 and not ManualContactDecision.objects.exists()


def test_a_nurse_at_another_station_cannot_decide(child_a, nurse_b, login):
    _mother, father = _family(child_a, AddressProtection.CONFIDENTIAL)
    response = login(nurse_b).post(
        reverse("followup:manual_contact", args=[child_a.pk]), {"guardian": father.pk, "decision": "nothing", "reason": "x"}
    )
    assert response.status_code == 404 and not ManualContactDecision.objects.exists()


def test_no_decision_is_asked_for_a_guardian_who_shares_the_protection(child_a, nurse_a, login):
    mother, _father = _family(child_a, AddressProtection.CONFIDENTIAL)
    login(nurse_a).post(
        reverse("followup:manual_contact", args=[child_a.pk]), {"guardian": mother.pk, "decision": "nothing", "reason": "x"}
    )
    assert not ManualContactDecision.objects.exists()


def test_an_unprotected_child_needs_no_manual_decision(child_a, nurse_a, login):
    _guardian(child_a)
    _guardian(child_a, relation="father")
    html = login(nurse_a).get(reverse("attendance:child", args=[child_a.pk])).content.decode()
    assert NEEDED not in html and "Varsling når barnets adresse er beskyttet" not in html


def test_a_change_of_the_childs_level_asks_for_the_decision_again(child_a, nurse_a, login):
    _mother, father = _family(child_a, AddressProtection.CONFIDENTIAL)
    client = login(nurse_a)
    client.post(
        reverse("followup:manual_contact", args=[child_a.pk]),
        {"guardian": father.pk, "decision": ContactDecision.NOTHING, "reason": "Beskyttet mot far."},
    )
    assert NEEDED not in client.get(reverse("attendance:child", args=[child_a.pk])).content.decode()
    child_a.refresh_from_db()
    child_set_protection(child=child_a, level=AddressProtection.STRICTLY_CONFIDENTIAL)
    assert NEEDED in client.get(reverse("attendance:child", args=[child_a.pk])).content.decode()
