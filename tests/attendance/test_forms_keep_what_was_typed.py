"""Issue 17: a refused attendance form comes back open with what was chosen and typed, the message at its field.

One test per form, as a clerk would notice it: the values are still there, the field is marked
(``aria-invalid``) and names its message (``aria-describedby``), and nothing was saved.
"""

from __future__ import annotations

import re
from datetime import time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from attendance.models import Absence, Appointment, AppointmentStatus, ConsultationState
from attendance.working_hours import working_hours_add
from attendance.slots import public_holidays
from helsestasjon.models import Child
from tests.attendance.conftest import local
from tests.factories import next_national_id

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("register")]
HOURS = reverse("attendance:working_hours")


def next_working_day():
    day = timezone.localdate() + timedelta(days=1)
    while day.weekday() >= 5 or day in public_holidays(day, day):
        day += timedelta(days=1)
    return day


@pytest.fixture
def hours(nurse_a, station_a):
    for weekday in range(5):
        working_hours_add(professional=nurse_a, station=station_a, weekday=weekday, starts=time(8), ends=time(12))


def marked(body: str, field_id: str) -> bool:
    """The input with this id is marked invalid and described by its message, which stands on the page."""
    tag = re.search(rf'<(?:input|select|textarea)[^>]*\bid="{field_id}"[^>]*>', body)
    return bool(tag) and 'aria-invalid="true"' in tag.group(0) and f"{field_id}_error" in tag.group(0) \
        and f'id="{field_id}_error"' in body


def due(child):
    return child.consultations.filter(state=ConsultationState.DUE).order_by("step__order").first()


def test_moving_to_a_taken_slot_keeps_the_chosen_time_and_marks_it(login, hours, station_a, nurse_a, planned_child, booked):
    day = next_working_day() + timedelta(days=7)
    appointment = booked(planned_child(station_a), nurse_a, starts_at=local(day, 9, 0))
    booked(planned_child(station_a), nurse_a, starts_at=local(day, 10, 0))
    url = reverse("attendance:appointment_move", args=[appointment.pk])
    response = login(nurse_a).post(url, {"professional": nurse_a.pk, "starts_at": local(day, 10, 0).isoformat()})
    body = response.content.decode()
    # The same week, not this week: the day chosen is shown with the time marked and the message beside it.
    assert response.status_code == 200 and f"{day:%d.%m.}" in body
    chosen = re.search(r'<span class="slot-button taken" id="flytt-\d+-valgt" aria-describedby="(flytt-\d+-feil)">10:00</span>', body)
    assert chosen and f'id="{chosen.group(1)}" role="alert">Tiden er ikke en ledig tid' in body
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED and appointment.starts_at == local(day, 9, 0)


def test_booking_a_taken_time_in_the_week_keeps_the_week_open_in_the_row(login, hours, station_a, clerk_a, nurse_a, planned_child, booked):
    day = next_working_day() + timedelta(days=7)
    booked(planned_child(station_a), nurse_a, starts_at=local(day, 10, 0))
    consultation = due(planned_child(station_a))
    monday = day - timedelta(days=day.weekday())
    body = login(clerk_a).post(reverse("attendance:book_slot", args=[consultation.pk]), {
        "professional": nurse_a.pk, "starts_at": local(day, 10, 0).isoformat(), "uke": monday.isoformat(),
    }, HTTP_HX_REQUEST="true").content.decode()
    # The row keeps its week (that week, that nurse) open, the refused time marked with its message.
    assert f'id="uke-{consultation.pk}"' in body and f"{monday:%d.%m.%Y}" in body
    assert f'aria-describedby="uke-{consultation.pk}-feil">10:00</span>' in body
    assert "har allerede en time" in body
    assert not Appointment.objects.filter(consultation=consultation).exists()


def test_booking_a_taken_time_without_script_shows_the_same_week_again(login, hours, station_a, clerk_a, nurse_a, planned_child, booked):
    day = next_working_day() + timedelta(days=7)
    booked(planned_child(station_a), nurse_a, starts_at=local(day, 10, 0))
    consultation = due(planned_child(station_a))
    response = login(clerk_a).post(reverse("attendance:book_slot", args=[consultation.pk]),
                                   {"professional": nurse_a.pk, "starts_at": local(day, 10, 0).isoformat()})
    body = response.content.decode()
    assert response.status_code == 200 and f"{day - timedelta(days=day.weekday()):%d.%m.%Y}" in body
    assert f'aria-describedby="uke-{consultation.pk}-feil">10:00</span>' in body


def test_booking_on_the_childs_page_with_a_clash_keeps_what_was_typed(login, station_a, clerk_a, nurse_a, planned_child, booked):
    day = next_working_day() + timedelta(days=7)
    booked(planned_child(station_a), nurse_a, starts_at=local(day, 10, 30))
    child = planned_child(station_a)
    consultation = due(child)
    p = f"c{consultation.pk}"
    response = login(clerk_a).post(reverse("attendance:book", args=[consultation.pk]), {
        "fra": "barn", f"{p}-date": day.isoformat(), f"{p}-time": "10:30", f"{p}-duration_minutes": "45",
        f"{p}-place": "home", f"{p}-room": "Stue", f"{p}-professional": str(nurse_a.pk),
    })
    body = response.content.decode()
    assert response.status_code == 200 and child.full_name in body
    assert marked(body, f"id_{p}-time") and "har allerede en time" in body
    assert f'value="{day.isoformat()}"' in body and 'value="10:30"' in body and 'value="45"' in body and 'value="Stue"' in body
    assert re.search(r'<option value="home" selected>', body)
    assert not Appointment.objects.filter(consultation=consultation).exists()


def test_booking_on_the_childs_page_with_a_bad_date_marks_the_date(login, station_a, clerk_a, nurse_a, planned_child):
    child = planned_child(station_a)
    consultation = due(child)
    p = f"c{consultation.pk}"
    body = login(clerk_a).post(reverse("attendance:book", args=[consultation.pk]), {
        "fra": "barn", f"{p}-date": "31.02.2027", f"{p}-time": "09:15", f"{p}-duration_minutes": "30",
        f"{p}-place": "station", f"{p}-room": "Rom 7", f"{p}-professional": str(nurse_a.pk),
    }).content.decode()
    assert marked(body, f"id_{p}-date") and "Ugyldig dato." in body
    assert 'value="31.02.2027"' in body and 'value="09:15"' in body and 'value="Rom 7"' in body


def test_register_child_with_bad_id_keeps_the_guardians_typed(login, station_a, clerk_a):
    born = (timezone.localdate() - timedelta(days=3)).strftime("%d.%m.%Y")
    body = login(clerk_a).post(reverse("attendance:child_new"), {
        "handling": "for_haand", "arrival": "birth", "national_id": next_national_id(), "given_name": "Ola", "family_name": "Nordmann",
        "birth_date": born, "sex": "male", "station": station_a.pk, "guardian_national_id": "12345678901",
        "guardian_given_name": "Kari", "guardian_family_name": "Nordmann-Berg", "guardian_relation": "father",
        "guardian_mobile": "91234567", "guardian_language": "ar", "guardian_interpreter": "on", "street_address": "Storgata 1",
    }).content.decode()
    assert marked(body, "id_guardian_national_id")
    for typed in ('value="Kari"', 'value="Nordmann-Berg"', 'value="91234567"', 'value="Storgata 1"', 'value="Ola"'):
        assert typed in body
    assert '<option value="father" selected>' in body and '<option value="ar" selected>' in body
    assert re.search(r'<input type="checkbox" name="guardian_interpreter"[^>]*checked', body)
    assert not Child.objects.exists()


def test_register_lookup_with_a_bad_id_keeps_the_station_chosen(login, station_a, station_b, clerk_a):
    clerk_a.stations.add(station_b)
    body = login(clerk_a).post(reverse("attendance:child_new"), {
        "handling": "hent", "national_id": "12345678901", "station": station_b.pk}).content.decode()
    assert marked(body, "id_national_id") and 'value="12345678901"' in body
    assert f'<option value="{station_b.pk}" selected>' in body


def test_part_day_leave_ending_before_it_starts_keeps_the_form(login, station_a, clerk_a, nurse_a):
    day = next_working_day()
    body = login(clerk_a).post(f"{HOURS}?fagperson={nurse_a.pk}", {
        "handling": "legg_til_unntak", "unntak-kind": "leave", "unntak-starts_on": day.isoformat(), "unntak-ends_on": day.isoformat(),
        "unntak-from_time": "12:00", "unntak-until_time": "10:00", "unntak-note": "Tannlege",
    }).content.decode()
    assert marked(body, "id_unntak-until_time") and "Sluttiden må være etter starttiden." in body
    assert 'value="12:00"' in body and 'value="10:00"' in body and 'value="Tannlege"' in body
    assert re.search(r'<input type="radio" name="unntak-kind" value="leave"[^>]*checked', body)
    assert not Absence.objects.exists()


def test_working_hours_overlapping_keeps_the_times_typed(login, station_a, clerk_a, nurse_a):
    working_hours_add(professional=nurse_a, station=station_a, weekday=2, starts=time(8), ends=time(12))
    body = login(clerk_a).post(f"{HOURS}?fagperson={nurse_a.pk}", {
        "handling": "legg_til_tid", "tid-station": station_a.pk, "tid-weekday": "2", "tid-starts": "11:00", "tid-ends": "14:00",
    }).content.decode()
    assert "Arbeidstiden overlapper en annen arbeidstid samme ukedag." in body
    assert 'value="11:00"' in body and 'value="14:00"' in body and '<option value="2" selected>' in body
