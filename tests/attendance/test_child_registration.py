"""Registering a child from the register: look up, confirm, both guardians; by hand only for an unknown person."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from helsestasjon.models import AccessLog, Child, Guardian, Relation
from tests.factories import next_national_id

pytestmark = pytest.mark.django_db
NEW = reverse("attendance:child_new")


@pytest.fixture
def newborn(register):
    """A newborn in the fake register with a mother and a father, both with parental responsibility."""
    mother, father, child = next_national_id(), next_national_id(), next_national_id()
    register.add_person(nin=mother, given_name="Mona", family_name="Dahl", birth_date="1990-05-05", municipality="4601",
                        street="Fjordgata", house_number=2, postal_code="5003", city="Bergen", phone="+4791234567", language="pl")
    register.add_person(nin=father, given_name="Ali", family_name="Dahl", birth_date="1988-03-03", municipality="4601",
                        phone="+4798765432", language="ar")
    born = timezone.localdate() - timedelta(days=6)
    register.add_person(nin=child, given_name="Tiril", family_name="Dahl", birth_date=born, sex="female", municipality="4601",
                        street="Fjordgata", house_number=2, postal_code="5003", city="Bergen",
                        responsible=[(mother, "Joint"), (father, "Joint")], parents=[(mother, "Mother"), (father, "Father")])
    return {"child": child, "mother": mother, "father": father}


def test_registering_a_child_fetches_both_guardians_from_the_register(login, station_a, clerk_a, newborn):
    client = login(clerk_a)
    page = client.post(NEW, {"handling": "hent", "national_id": newborn["child"], "station": station_a.pk}).content.decode()
    for shown in ("Tiril Dahl", "Mona Dahl", "Ali Dahl", "+4791234567", "Polski", "Fjordgata 2", "Mor", "Far", "Bekreft og registrer"):
        assert shown in page, shown
    assert not Child.objects.exists()  # only shown, not stored, until confirmed
    response = client.post(NEW, {"handling": "bekreft", "national_id": newborn["child"], "station": station_a.pk})
    child = Child.objects.get(national_id=newborn["child"])
    assert response.status_code == 302 and response["Location"] == reverse("attendance:child", args=[child.pk])
    assert (child.given_name, child.sex, child.street_address, child.unverified) == ("Tiril", "female", "Fjordgata 2", False)
    assert child.register_person_id
    links = {g.guardian.national_id: g for g in child.guardianships.select_related("guardian")}
    assert set(links) == {newborn["mother"], newborn["father"]}
    assert all(link.parental_responsibility for link in links.values())
    assert links[newborn["mother"]].relation == Relation.MOTHER and links[newborn["father"]].relation == Relation.FATHER
    assert links[newborn["mother"]].guardian.mobile == "+4791234567" and links[newborn["mother"]].guardian.preferred_language == "pl"
    assert child.consultations.count() == 14


def test_a_strictly_confidential_address_is_neither_shown_nor_stored(login, register, station_a, leader_a, newborn):
    register.set_protection(register.person_id_for(newborn["child"]), "StrictlyConfidential")
    client = login(leader_a)
    page = client.post(NEW, {"handling": "hent", "national_id": newborn["child"], "station": station_a.pk}).content.decode()
    assert "Beskyttet adresse" in page
    assert page.count("Fjordgata 2") == 1  # the mother's own address, not the child's
    client.post(NEW, {"handling": "bekreft", "national_id": newborn["child"], "station": station_a.pk})
    child = Child.objects.get(national_id=newborn["child"])
    assert (child.street_address, child.postal_code, child.address_protection) == ("", "", "StrictlyConfidential")


def test_a_confidential_address_is_shown_only_to_a_user_with_the_permission(login, register, station_a, clerk_a, leader_a, newborn):
    register.set_protection(register.person_id_for(newborn["mother"]), "Confidential")
    data = {"handling": "hent", "national_id": newborn["child"], "station": station_a.pk}
    assert "Fjordgata 2" in login(leader_a).post(NEW, data).content.decode()
    clerk_page = login(clerk_a).post(NEW, data).content.decode()
    # The child's own address (not protected) is shown once; the mother's is not.
    assert clerk_page.count("Fjordgata 2") == 1 and "Beskyttet adresse" in clerk_page


def test_a_person_unknown_to_the_register_is_registered_by_hand_as_unverified(login, register, station_a, clerk_a):
    unknown = next_national_id()
    client = login(clerk_a)
    page = client.post(NEW, {"handling": "hent", "national_id": unknown, "station": station_a.pk}).content.decode()
    assert "Folkeregisteret kjenner ikke fødselsnummeret" in page and "uverifisert" in page
    # No default sex: the select's first option is the empty one.
    assert '<option value="" selected>Velg kjønn</option>' in page
    born = (timezone.localdate() - timedelta(days=3)).strftime("%d.%m.%Y")
    data = {
        "handling": "for_haand", "arrival": "birth", "national_id": unknown, "given_name": "Ola", "family_name": "Nordmann",
        "birth_date": born, "sex": "", "station": station_a.pk, "guardian_given_name": "Kari", "guardian_family_name": "Nordmann",
        "guardian_relation": "mother", "guardian_language": "nb",
    }
    assert "Velg kjønn." in client.post(NEW, data).content.decode()
    response = client.post(NEW, {**data, "sex": "male"})
    child = Child.objects.get(national_id=unknown)
    assert response.status_code == 302 and child.unverified and child.sex == "male"
    assert "uverifisert" in client.get(response["Location"]).content.decode().lower()


def test_a_person_the_register_knows_cannot_be_typed_by_hand(login, station_a, clerk_a, newborn):
    born = (timezone.localdate() - timedelta(days=3)).strftime("%d.%m.%Y")
    page = login(clerk_a).post(NEW, {
        "handling": "for_haand", "arrival": "birth", "national_id": newborn["child"], "given_name": "Falsk", "family_name": "Navn",
        "birth_date": born, "sex": "male", "station": station_a.pk, "guardian_given_name": "X", "guardian_family_name": "Y",
        "guardian_relation": "mother", "guardian_language": "nb",
    }).content.decode()
    assert "Folkeregisteret kjenner dette fødselsnummeret" in page
    assert not Child.objects.exists() and not Guardian.objects.exists()


@pytest.mark.parametrize("national_id", ["12345678901", "abc", "<script>x</script>", "1" * 13])
def test_an_invalid_national_id_gets_a_norwegian_message(login, register, station_a, clerk_a, national_id):
    register.server.exchanges = []
    response = login(clerk_a).post(NEW, {"handling": "hent", "national_id": national_id, "station": station_a.pk})
    body = response.content.decode()
    assert response.status_code == 200 and "<script>x" not in body
    # The message stands at the field it is about (templates/includes/field.html).
    assert "id=\"id_national_id_error\"" in body and "aria-invalid=\"true\"" in body
    assert register.server.exchanges == []  # an invalid number is never sent to the register


def test_a_register_that_does_not_answer_registers_nothing(login, settings, station_a, clerk_a):
    settings.REGISTER_BASE_URL = "http://127.0.0.1:9/nothing"
    settings.REGISTER_TIMEOUT_SECONDS = 1
    response = login(clerk_a).post(NEW, {"handling": "hent", "national_id": next_national_id(), "station": station_a.pk})
    assert "Folkeregisteret svarer ikke" in response.content.decode()
    assert not Child.objects.exists()


def test_a_national_id_already_in_a_journal_at_another_station_does_not_leak(login, station_a, station_b, clerk_a, newborn, register):
    from tests.factories import ChildFactory

    other = ChildFactory(station=station_b, national_id=newborn["child"], given_name="Hemmelig")
    for handling in ("hent", "bekreft"):
        page = login(clerk_a).post(NEW, {"handling": handling, "national_id": newborn["child"], "station": station_a.pk}).content.decode()
        assert "Fødselsnummeret kan ikke registreres her." in page
        assert "Hemmelig" not in page and "Tiril" not in page and "Mona" not in page
    assert AccessLog.objects.filter(child=other, user=clerk_a).count() == 2
    assert Child.objects.count() == 1
