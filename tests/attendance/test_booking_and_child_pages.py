"""The clerk's booking worklist, the child's page and registering a child by hand."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from attendance.models import Appointment, Consultation, ConsultationState, Outcome
from attendance.outcomes import appointment_record_outcome
from helsestasjon.models import AccessLog, Child
from tests.attendance.conftest import registration

# Registering by hand asks the (fake) register first that it does not know the child.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("register")]
WORKLIST = reverse("attendance:booking_worklist")


def booking_post(consultation, professional, day=None, **extra):
    day = day or timezone.localdate() + timedelta(days=3)
    prefix = f"c{consultation.pk}"
    data = {
        f"{prefix}-date": day.isoformat(), f"{prefix}-time": "10:30", f"{prefix}-duration_minutes": "30",
        f"{prefix}-place": "station", f"{prefix}-room": "Rom 2", f"{prefix}-professional": str(professional.pk),
    }
    data.update(extra)
    return data


def test_the_worklist_shows_due_consultations_oldest_first(login, station_a, clerk_a, planned_child, django_assert_max_num_queries):
    younger = planned_child(station_a, given_name="Yngre", birth_date=timezone.localdate() - timedelta(days=100))
    older = planned_child(station_a, given_name="Eldre", birth_date=timezone.localdate() - timedelta(days=300))
    client = login(clerk_a)
    with django_assert_max_num_queries(14):
        page = client.get(WORKLIST).content.decode()
    assert page.index("Eldre") < page.index("Yngre")
    assert page.count('<tr id="konsultasjon-') == Consultation.objects.filter(state=ConsultationState.DUE).count()
    assert {younger, older} <= {log.child for log in AccessLog.objects.filter(action="view_list")}


def test_the_worklist_shows_only_the_users_station(login, station_b, clerk_a, planned_child):
    planned_child(station_b, given_name="Bortelag")
    assert "Bortelag" not in login(clerk_a).get(WORKLIST).content.decode()


def test_one_step_booking_from_the_worklist(login, station_a, clerk_a, nurse_a, planned_child):
    child = planned_child(station_a)
    consultation = child.consultations.filter(state=ConsultationState.DUE).first()
    response = login(clerk_a).post(reverse("attendance:book", args=[consultation.pk]), booking_post(consultation, nurse_a), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "Bestilt" in body and "Nora Nilsen" in body
    consultation.refresh_from_db()
    assert consultation.state == ConsultationState.BOOKED
    appointment = Appointment.objects.get(consultation=consultation)
    assert timezone.localtime(appointment.starts_at).strftime("%H:%M") == "10:30"


def test_booking_twice_books_once_and_says_so(login, station_a, clerk_a, nurse_a, planned_child):
    consultation = planned_child(station_a).consultations.filter(state=ConsultationState.DUE).first()
    client = login(clerk_a)
    url = reverse("attendance:book", args=[consultation.pk])
    client.post(url, booking_post(consultation, nurse_a), HTTP_HX_REQUEST="true")
    body = client.post(url, booking_post(consultation, nurse_a), HTTP_HX_REQUEST="true").content.decode()
    assert "allerede en bestilt time" in body
    assert Appointment.objects.filter(consultation=consultation).count() == 1


def test_booking_in_the_past_or_with_a_clerk_as_professional_is_refused(login, station_a, clerk_a, planned_child):
    consultation = planned_child(station_a).consultations.filter(state=ConsultationState.DUE).first()
    client = login(clerk_a)
    url = reverse("attendance:book", args=[consultation.pk])
    body = client.post(url, booking_post(consultation, clerk_a, day=timezone.localdate() - timedelta(days=1)), HTTP_HX_REQUEST="true").content.decode()
    assert "Datoen har passert" in body and "Velg en fagperson" in body
    assert not Appointment.objects.exists()


def test_booking_another_stations_consultation_is_not_found(login, station_b, clerk_a, nurse_a, planned_child):
    consultation = planned_child(station_b).consultations.filter(state=ConsultationState.DUE).first()
    assert login(clerk_a).post(reverse("attendance:book", args=[consultation.pk]), booking_post(consultation, nurse_a)).status_code == 404


def test_the_childs_page_shows_the_timeline_and_history_and_logs_access(login, station_a, nurse_a, planned_child, booked):
    child = planned_child(station_a)
    appointment = booked(child, nurse_a)
    appointment_record_outcome(appointment=appointment, outcome=Outcome.NOT_BROUGHT, reason="forgot", recorded_by=nurse_a)
    page = login(nurse_a).get(reverse("attendance:child", args=[child.pk])).content.decode()
    assert page.count('<li class="state-') == 14
    assert "Ikke aktuell (kom etter vinduet)" in page and "Glemt timen" in page
    assert "Mona Hansen" in page
    assert AccessLog.objects.filter(child=child, user=nurse_a, action="view_record").count() == 1


def test_a_clerk_sees_the_history_but_not_the_reasons(login, station_a, clerk_a, nurse_a, planned_child, booked):
    child = planned_child(station_a)
    appointment_record_outcome(appointment=booked(child, nurse_a), outcome=Outcome.NOT_BROUGHT, reason="language", recorded_by=nurse_a)
    page = login(clerk_a).get(reverse("attendance:child", args=[child.pk])).content.decode()
    assert "Ikke møtt" in page and "Forsto ikke innkallingen" not in page


def test_another_stations_child_is_not_found(login, station_b, nurse_a, planned_child):
    child = planned_child(station_b)
    assert login(nurse_a).get(reverse("attendance:child", args=[child.pk])).status_code == 404


def test_registering_a_newborn_by_hand_plans_the_programme(login, station_a, clerk_a):
    response = login(clerk_a).post(reverse("attendance:child_new"), registration(station_a))
    child = Child.objects.get(given_name="Tiril")
    assert response.status_code == 302 and response["Location"] == reverse("attendance:child", args=[child.pk])
    assert child.consultations.count() == 14
    assert child.guardianships.get().guardian.mobile == "91234567"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"national_id": "12345678901"}, "Fødselsnummer"),
        ({"birth_date": "31.02.2026"}, "Ugyldig dato"),
        ({"birth_date": (date.today() + timedelta(days=3)).strftime("%d.%m.%Y")}, "fremtiden"),
        ({"birth_date": "01.01.2018", "arrival": "move_in"}, "til og med fem år"),
        ({"birth_date": "01.01.2025"}, "Velg innflytting"),
        ({"guardian_mobile": "1234"}, "mobilnummer"),
        ({"given_name": ""}, "Skriv inn fornavn"),
    ],
)
def test_registering_with_bad_input_explains_what_is_wrong(login, station_a, clerk_a, changes, message):
    response = login(clerk_a).post(reverse("attendance:child_new"), registration(station_a, **changes))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Child.objects.exists()


def test_registering_at_another_station_is_refused(login, station_a, station_b, clerk_a):
    response = login(clerk_a).post(reverse("attendance:child_new"), registration(station_b))
    assert response.status_code == 200 and "gyldig" in response.content.decode().lower()
    assert not Child.objects.exists()


def test_registering_a_child_twice_is_explained(login, station_a, clerk_a, child_a):
    response = login(clerk_a).post(reverse("attendance:child_new"), registration(station_a, national_id=child_a.national_id))
    assert "Fødselsnummeret kan ikke registreres her." in response.content.decode()


def test_a_protected_address_is_hidden_from_a_nurse_without_the_permission(login, station_a, nurse_a, leader_a, planned_child):
    child = planned_child(station_a, street_address="Hemmeligveien 7", address_protection="Confidential")
    assert "Hemmeligveien 7" not in login(nurse_a).get(reverse("attendance:child", args=[child.pk])).content.decode()
    assert "Hemmeligveien 7" in login(leader_a).get(reverse("attendance:child", args=[child.pk])).content.decode()
    child.address_protection = "StrictlyConfidential"
    child.save()
    assert "Hemmeligveien 7" not in login(leader_a).get(reverse("attendance:child", args=[child.pk])).content.decode()
