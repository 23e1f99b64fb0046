"""Registering a child by hand never reveals another station's guardian or child (issue 13, finding 3)."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from followup.letters.addressing import recipients_for_child
from followup.sms.services import sms_recipients
from helsestasjon.models import AccessAction, AccessLog, AddressProtection, Child, Guardian, Guardianship, Language, Relation
from tests.attendance.conftest import registration
from tests.factories import ChildFactory, GuardianFactory, GuardianshipFactory

# Registering by hand asks the (fake) register first that it does not know the child.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("register")]

NEUTRAL = "Fødselsnummeret kan ikke registreres her. Kontakt leder hvis barnet skal flyttes hit."


@pytest.fixture
def other_station_guardian(station_b):
    """A mother known only at station B, with a confidential address."""
    guardian = GuardianFactory(
        given_name="Hemmelig", family_name="Skjulsen", mobile="98765432", preferred_language=Language.AR,
        interpreter_needed=True, street_address="Skjultveien 1", postal_code="5020", city="Bergen",
        address_protection=AddressProtection.CONFIDENTIAL,
    )
    GuardianshipFactory(child=ChildFactory(station=station_b), guardian=guardian, relation=Relation.MOTHER,
                        parental_responsibility=True)
    return guardian


def test_a_guardian_known_only_at_another_station_is_not_shown_back(login, station_a, leader_a, other_station_guardian):
    # The leader may see confidential addresses, so only the rule under test can hide it.
    client = login(leader_a)
    response = client.post(
        reverse("attendance:child_new"), registration(station_a, guardian_national_id=other_station_guardian.national_id),
        follow=True,
    )
    page = response.content.decode()
    assert response.status_code == 200 and "Tiril Dahl" in page
    for secret in ("Hemmelig", "Skjulsen", "98765432", "987 65 432", "Skjultveien", "Adressebeskyttet", "Trenger tolk", "العربية"):
        assert secret not in page
    assert "Kari Dahl" in page and "912 34 567" in page
    child = Child.objects.get(given_name="Tiril")
    typed = child.guardianships.get().guardian
    assert typed != other_station_guardian
    assert typed.national_id is None and typed.mobile == "91234567" and typed.street_address == "Fjordgata 2"
    other_station_guardian.refresh_from_db()
    assert other_station_guardian.given_name == "Hemmelig" and other_station_guardian.mobile == "98765432"


def test_letters_and_sms_about_the_new_child_never_reach_the_other_station_s_guardian(
    login, station_a, clerk_a, other_station_guardian
):
    login(clerk_a).post(
        reverse("attendance:child_new"), registration(station_a, guardian_national_id=other_station_guardian.national_id)
    )
    child = Child.objects.get(given_name="Tiril")
    assert not Guardianship.objects.filter(child=child, guardian=other_station_guardian).exists()
    letter_to = [r.guardian for r in recipients_for_child(child.pk)]
    assert letter_to and other_station_guardian not in letter_to
    sms_to = sms_recipients(child_id=child.pk)
    assert [g.mobile for g in sms_to] == ["91234567"] and other_station_guardian not in sms_to


def test_a_guardian_already_known_at_the_user_s_station_is_reused(login, station_a, clerk_a, child_a):
    mother = GuardianFactory(given_name="Mona", mobile="41234567")
    GuardianshipFactory(child=child_a, guardian=mother, relation=Relation.MOTHER)
    login(clerk_a).post(reverse("attendance:child_new"), registration(station_a, guardian_national_id=mother.national_id))
    child = Child.objects.get(given_name="Tiril")
    assert child.guardianships.get().guardian == mother
    assert Guardian.objects.filter(national_id=mother.national_id).count() == 1


def test_a_national_id_in_use_gets_one_answer_at_any_station_and_is_logged(login, station_a, station_b, clerk_a, child_a):
    elsewhere = ChildFactory(station=station_b, given_name="Borte")
    client = login(clerk_a)
    answers = []
    for existing in (child_a, elsewhere):
        response = client.post(reverse("attendance:child_new"), registration(station_a, national_id=existing.national_id))
        assert response.status_code == 200
        page = response.content.decode()
        assert NEUTRAL in page and "finnes allerede" not in page and "allerede registrert" not in page
        answers.append(re.sub(r'(csrfmiddlewaretoken" value="|X-CSRFToken": ")[^"]+', "", page.replace(existing.national_id, "")))
        log = AccessLog.objects.get(child=existing, user=clerk_a)
        assert log.action == AccessAction.VIEW_RECORD and log.station_id == existing.station_id
        assert log.what == "Forsøk på registrering med eksisterende fødselsnummer"
    assert answers[0] == answers[1]
    assert Child.objects.filter(given_name="Tiril").count() == 0
