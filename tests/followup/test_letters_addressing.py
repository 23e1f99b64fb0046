"""Who gets a letter: responsibility, distinct addresses, placed children, protected addresses."""

from __future__ import annotations

import pytest

from followup.letters.models import Letter
from followup.letters.making import letters_create_due
from helsestasjon.models import AddressProtection
from tests.followup.letters_support import _media, case_at_step, parent  # noqa: F401

pytestmark = pytest.mark.django_db


def test_joint_responsibility_at_two_addresses_gives_one_letter_each(child_a):
    parent(child_a, given_name="Kari", family_name="Nordmann", street_address="Fjellveien 1")
    parent(child_a, given_name="Per", family_name="Nordmann", relation="father", street_address="Sjøgata 9", postal_code="5004")
    case_at_step(child_a)
    letters_create_due(station=child_a.station)
    letters = list(Letter.objects.order_by("id"))
    assert [l.recipient_name for l in letters] == ["Kari Nordmann", "Per Nordmann"]
    assert letters[0].address_lines == ["Fjellveien 1", "5003 Bergen"]
    assert letters[1].address_lines == ["Sjøgata 9", "5004 Bergen"]


def test_parents_at_the_same_address_share_one_letter(child_a):
    parent(child_a, given_name="Kari", family_name="Nordmann")
    parent(child_a, given_name="Per", family_name="Nordmann", relation="father", street_address="  barneveien 2 ")
    case_at_step(child_a)
    letters_create_due(station=child_a.station)
    (letter,) = Letter.objects.all()
    assert letter.recipient_name == "Kari Nordmann og Per Nordmann"


def test_a_parent_without_responsibility_gets_no_letter(child_a):
    parent(child_a, given_name="Kari", family_name="Nordmann")
    parent(child_a, given_name="Per", family_name="Utenansvar", relation="father", responsibility=False, street_address="Annen vei 3")
    case_at_step(child_a)
    letters_create_due(station=child_a.station)
    assert [l.recipient_name for l in Letter.objects.all()] == ["Kari Nordmann"]


def test_a_placed_childs_letter_goes_to_the_foster_home_only(child_a):
    parent(child_a, given_name="Barneverntjenesten", family_name="i Bergen", organisation=True, relation="other", street_address="Postboks 7")
    parent(child_a, given_name="Kari", family_name="Mor", street_address="Mors vei 1")
    parent(child_a, given_name="Fosterhjemmet", family_name="Berg", relation="foster_home", responsibility=False, caretaker=True,
           street_address="Fosterveien 5")
    case_at_step(child_a)
    letters_create_due(station=child_a.station)
    (letter,) = Letter.objects.all()
    assert letter.recipient_name == "Fosterhjemmet Berg"
    assert letter.address_lines[0] == "Fosterveien 5"


@pytest.mark.parametrize("level", [AddressProtection.CONFIDENTIAL, AddressProtection.STRICTLY_CONFIDENTIAL])
def test_a_protected_address_goes_to_manual_handling_without_the_address(child_a, level):
    parent(child_a, given_name="Kari", family_name="Nordmann")
    parent(child_a, given_name="Skjult", family_name="Forelder", relation="father", street_address="Hemmelig vei 1", address_protection=level)
    case_at_step(child_a)
    letters_create_due(station=child_a.station)
    ordinary, protected = Letter.objects.order_by("id")
    assert not ordinary.manual_handling and ordinary.address_lines
    assert protected.manual_handling
    assert protected.address_lines == []


def test_making_the_due_letters_twice_makes_them_once(child_a):
    parent(child_a)
    case_at_step(child_a)
    letters_create_due(station=child_a.station)
    letters_create_due(station=child_a.station)
    assert Letter.objects.count() == 1
