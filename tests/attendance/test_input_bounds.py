"""Absurd dates and hidden control characters get a clear Norwegian answer, never a 500 (issue 13, finding 7)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from attendance.models import Appointment
from helsestasjon.models import Child
from tests.attendance.conftest import local, registration

# Registering by hand asks the (fake) register first that it does not know the child.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("register")]
BOUNDS = "Datoen må være mellom år 1900 og 2200."
HIDDEN = "Teksten inneholder usynlige styretegn"


@pytest.mark.parametrize("day", ["9999-12-31", "31.12.9999", "0001-01-01", "1899-12-31", "2201-01-01"])
def test_an_absurd_day_list_date_is_explained_and_today_shown(login, nurse_a, day):
    response = login(nurse_a).get(reverse("attendance:day"), {"dato": day}, follow=True)
    assert response.status_code == 200
    body = response.content.decode()
    assert BOUNDS in body and "Viser dagens liste" in body
    assert timezone.localdate().strftime("%d.%m.%Y") in body


def test_an_absurd_new_date_for_a_moved_appointment_is_refused(login, station_a, nurse_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a, starts_at=local(timezone.localdate(), 10))
    response = login(nurse_a).post(
        reverse("attendance:record_outcome", args=[appointment.pk]),
        {"outcome": "rescheduled", "new_date": "9999-12-31", "new_time": "23:59"}, HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200 and BOUNDS in response.content.decode()
    assert Appointment.objects.count() == 1


CONTROLS = ["\u202e", "\u202a", "\u2066", "\u2069", "\u200e", "\u200f", "\u061c", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"]
FIELDS = ["given_name", "family_name", "street_address", "city", "guardian_given_name", "guardian_family_name"]


def _refused(client, station, field, control) -> bool:
    value = registration(station)[field]
    response = client.post(reverse("attendance:child_new"), registration(station, **{field: value[:2] + control + value[2:]}))
    return response.status_code == 200 and HIDDEN in response.content.decode()


@pytest.mark.parametrize("control", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_bidi_and_zero_width_characters_are_refused_in_names(login, station_a, clerk_a, control):
    assert _refused(login(clerk_a), station_a, "family_name", control)
    assert not Child.objects.exists()


def test_a_right_to_left_override_is_refused_in_every_name_and_address_field(login, station_a, clerk_a):
    client = login(clerk_a)
    assert [field for field in FIELDS if not _refused(client, station_a, field, "\u202e")] == []
    assert not Child.objects.exists()


def test_ordinary_norwegian_and_foreign_letters_are_accepted(login, station_a, clerk_a):
    response = login(clerk_a).post(
        reverse("attendance:child_new"),
        registration(station_a, given_name="Åse-Mari", family_name="Ødegård O'Neill", guardian_family_name="Nguyễn Thị",
                     street_address="Ærøveien 3 B", city="Tromsø"),
    )
    assert response.status_code == 302 and Child.objects.get().family_name == "Ødegård O'Neill"
