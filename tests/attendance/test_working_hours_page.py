"""The leader's and the clerk's page for working hours, leave and closed days."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from attendance.models import Absence, AbsenceKind, WorkingHours
from attendance.working_hours import working_hours_add

pytestmark = pytest.mark.django_db
PAGE = reverse("attendance:working_hours")


def add_hours(station, weekday="0", starts="08:00", ends="12:00"):
    return {"handling": "legg_til_tid", "tid-station": station.pk, "tid-weekday": weekday, "tid-starts": starts, "tid-ends": ends}


def test_the_leader_adds_working_hours_and_sees_them(login, station_a, leader_a, nurse_a):
    client = login(leader_a)
    response = client.post(f"{PAGE}?fagperson={nurse_a.pk}", add_hours(station_a))
    assert response.status_code == 302
    hours = WorkingHours.objects.get()
    assert (hours.professional, hours.weekday, hours.starts, hours.ends) == (nurse_a, 0, time(8), time(12))
    page = client.get(f"{PAGE}?fagperson={nurse_a.pk}").content.decode()
    assert "Mandag" in page and "08:00" in page and "12:00" in page


@pytest.mark.parametrize("starts, ends, message", [
    ("12:00", "08:00", "Sluttiden må være etter starttiden."),
    ("10:00", "10:00", "Sluttiden må være etter starttiden."),
    ("25:00", "26:00", "Ugyldig klokkeslett. Bruk tt:mm."),
    ("", "", "Skriv inn klokkeslett."),
    ("11:00", "13:00", "Arbeidstiden overlapper en annen arbeidstid samme ukedag."),
])
def test_bad_working_hours_get_a_norwegian_message_and_save_nothing(login, station_a, clerk_a, nurse_a, starts, ends, message):
    working_hours_add(professional=nurse_a, station=station_a, weekday=0, starts=time(8), ends=time(12))
    response = login(clerk_a).post(f"{PAGE}?fagperson={nurse_a.pk}", add_hours(station_a, starts=starts, ends=ends))
    assert response.status_code == 200 and message in response.content.decode()
    assert WorkingHours.objects.count() == 1


def test_leave_and_a_closed_day_are_registered_and_overlaps_refused(login, station_a, clerk_a, nurse_a):
    client = login(clerk_a)
    day = timezone.localdate() + timedelta(days=5)
    leave = {"handling": "legg_til_unntak", "unntak-kind": "leave", "unntak-starts_on": day.isoformat(),
             "unntak-ends_on": (day + timedelta(days=2)).isoformat(), "unntak-note": "Kurs"}
    assert client.post(f"{PAGE}?fagperson={nurse_a.pk}", leave).status_code == 302
    again = client.post(f"{PAGE}?fagperson={nurse_a.pk}", {**leave, "unntak-starts_on": (day + timedelta(days=1)).isoformat()})
    assert "Fraværet overlapper et fravær som allerede er registrert." in again.content.decode()
    backwards = client.post(f"{PAGE}?fagperson={nurse_a.pk}", {**leave, "unntak-ends_on": (day - timedelta(days=1)).isoformat()})
    assert "Sluttdatoen må være samme dag som eller etter startdatoen." in backwards.content.decode()
    closed = {"handling": "legg_til_unntak", "unntak-kind": "closed", "unntak-starts_on": day.isoformat(), "unntak-ends_on": day.isoformat()}
    assert "Velg helsestasjonen som er stengt." in client.post(PAGE, closed).content.decode()
    assert client.post(PAGE, {**closed, "unntak-station": station_a.pk}).status_code == 302
    assert sorted(Absence.objects.values_list("kind", flat=True)) == [AbsenceKind.CLOSED, AbsenceKind.LEAVE]
    page = client.get(f"{PAGE}?fagperson={nurse_a.pk}").content.decode()
    assert "Kurs" in page and "Helsestasjonen stengt" in page


def test_rows_are_deleted_only_at_the_users_stations(login, station_a, station_b, leader_a, nurse_a, nurse_b):
    own = working_hours_add(professional=nurse_a, station=station_a, weekday=1, starts=time(8), ends=time(12))
    other = working_hours_add(professional=nurse_b, station=station_b, weekday=1, starts=time(8), ends=time(12))
    client = login(leader_a)
    response = client.post(PAGE, {"handling": "slett_tid", "id": other.pk}, follow=True)
    assert "Fant ikke raden" in response.content.decode()
    for bad in ("", "abc", "99999999999999999999", "<script>"):
        assert "Fant ikke raden" in client.post(PAGE, {"handling": "slett_unntak", "id": bad}, follow=True).content.decode()
    assert client.post(PAGE, {"handling": "slett_tid", "id": own.pk}).status_code == 302
    assert list(WorkingHours.objects.all()) == [other]


def test_a_nurse_may_not_edit_working_hours(login, nurse_a):
    assert login(nurse_a).get(PAGE).status_code == 403


def test_another_stations_professional_is_not_offered(login, station_a, leader_a, nurse_b):
    page = login(leader_a).get(f"{PAGE}?fagperson={nurse_b.pk}").content.decode()
    assert "Fant ikke fagpersonen ved din helsestasjon." in page
    assert "Berit" not in page and "Berg" not in page


def test_the_page_lists_the_coming_public_holidays(login, leader_a):
    from attendance.slots import public_holidays

    today = timezone.localdate()
    coming = public_holidays(today, today + timedelta(days=120))
    page = login(leader_a).get(PAGE).content.decode()
    assert coming and all(day.strftime("%d.%m.%Y") in page for day in coming)
