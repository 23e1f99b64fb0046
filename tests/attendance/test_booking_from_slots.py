"""Booking from free slots: the worklist's proposal, the week view, moving, and two clerks at once."""

from __future__ import annotations

import re
from datetime import time, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from attendance.models import (
    Appointment,
    AppointmentStatus,
    Consultation,
    ConsultationState,
)
from attendance.working_hours import working_hours_add
from attendance.slots import free_slots, public_holidays
from helsestasjon.models import AccessLog
from tests.attendance.conftest import local
from tests.concurrency import at_once

WORKLIST = reverse("attendance:booking_worklist")
BUSY = "Nora Nilsen har allerede en time som overlapper dette tidspunktet. Velg et annet tidspunkt."


def next_working_day(after=None):
    day = (after or timezone.localdate()) + timedelta(days=1)
    while day.weekday() >= 5 or day in public_holidays(day, day):
        day += timedelta(days=1)
    return day


def due(child) -> Consultation:
    return child.consultations.filter(state=ConsultationState.DUE).order_by("step__order").first()


@pytest.fixture
def hours(nurse_a, station_a):
    for weekday in range(5):
        working_hours_add(professional=nurse_a, station=station_a, weekday=weekday, starts=time(8), ends=time(12))


def proposed(body: str) -> list[str]:
    return re.findall(r'name="starts_at" value="([^"]+)"', body)


@pytest.mark.django_db
def test_booking_proposes_the_first_free_slot_in_working_hours(login, hours, station_a, clerk_a, nurse_a, planned_child, booked):
    day = next_working_day()
    booked(planned_child(station_a, given_name="Opptatt"), nurse_a, starts_at=local(day, 8, 0))
    planned_child(station_a, given_name="Neste")
    body = login(clerk_a).get(WORKLIST).content.decode()
    rows = body[body.index("<tbody>"):body.index("</tbody>")]
    first_row = Consultation.objects.needing_booking([station_a.pk]).first()
    expected = free_slots(nurse_a, station_a, timezone.now(), timezone.now() + timedelta(days=28), first_row.step.default_duration_minutes)
    assert timezone.datetime.fromisoformat(proposed(rows)[0]) == expected[0]
    assert local(day, 8, 0) not in [timezone.datetime.fromisoformat(s) for s in proposed(rows)]
    assert "Nora Nilsen" in rows and "Velg annen tid" in rows
    # Compact: no date, time, duration, place or room inputs any more.
    assert 'type="date"' not in rows and 'type="time"' not in rows and "<select" not in rows


@pytest.mark.django_db
def test_each_row_is_offered_a_different_slot(login, hours, station_a, clerk_a, planned_child):
    for n in range(4):
        planned_child(station_a, given_name=f"Barn{n}")
    body = login(clerk_a).get(WORKLIST).content.decode()
    offers = proposed(body)
    assert len(offers) == Consultation.objects.filter(state=ConsultationState.DUE).count()
    assert len(set(offers)) == len(offers)


@pytest.mark.django_db
def test_the_worklist_keeps_its_query_count_with_many_rows(login, hours, station_a, clerk_a, planned_child, django_assert_max_num_queries):
    for n in range(3):
        planned_child(station_a, given_name=f"Barn{n}")
    client = login(clerk_a)
    client.get(WORKLIST)
    with django_assert_max_num_queries(14):
        client.get(WORKLIST)
    for n in range(6):
        planned_child(station_a, given_name=f"Flere{n}")
    with django_assert_max_num_queries(14):
        client.get(WORKLIST)


@pytest.mark.django_db
def test_bestill_books_the_proposed_slot_with_the_programmes_duration(login, hours, station_a, clerk_a, nurse_a, planned_child):
    child = planned_child(station_a)
    consultation = due(child)
    client = login(clerk_a)
    body = client.get(WORKLIST).content.decode()
    row = body[body.index(f'id="konsultasjon-{consultation.pk}"'):]
    starts_at = proposed(row)[0]
    response = client.post(reverse("attendance:book_slot", args=[consultation.pk]),
                           {"professional": nurse_a.pk, "starts_at": starts_at}, HTTP_HX_REQUEST="true")
    assert "Bestilt" in response.content.decode()
    appointment = Appointment.objects.get(consultation=consultation)
    assert appointment.starts_at == timezone.datetime.fromisoformat(starts_at)
    assert appointment.duration_minutes == consultation.step.default_duration_minutes
    assert AccessLog.objects.filter(child=child, what="Timebestilling (rad oppdatert)").exists()


@pytest.mark.django_db
def test_a_time_outside_working_hours_is_refused_with_a_message(login, hours, station_a, clerk_a, nurse_a, planned_child):
    consultation = due(planned_child(station_a))
    evening = local(next_working_day(), 19, 0)
    body = login(clerk_a).post(reverse("attendance:book_slot", args=[consultation.pk]),
                               {"professional": nurse_a.pk, "starts_at": evening.isoformat()}, HTTP_HX_REQUEST="true").content.decode()
    assert "ikke en ledig tid i fagpersonens arbeidstid" in body
    assert not Appointment.objects.exists()
    # The row offers the next free time instead.
    assert proposed(body)


@pytest.mark.django_db
@pytest.mark.parametrize("starts_at", ["ikke-en-dato", "", "9999-12-31T08:00", "2001-01-01T08:00", "<script>alert(1)</script>"])
def test_bad_slot_input_gets_a_norwegian_message(login, hours, station_a, clerk_a, nurse_a, planned_child, starts_at):
    consultation = due(planned_child(station_a))
    response = login(clerk_a).post(reverse("attendance:book_slot", args=[consultation.pk]),
                                   {"professional": nurse_a.pk, "starts_at": starts_at}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert re.search(r'class="error" role="alert">[^<]+', response.content.decode())
    assert "<script>alert" not in response.content.decode()
    assert not Appointment.objects.exists()


@pytest.mark.django_db
def test_a_clerk_as_professional_or_another_stations_consultation_is_refused(login, hours, station_a, station_b, clerk_a, nurse_a, planned_child):
    consultation = due(planned_child(station_a))
    slot = local(next_working_day(), 9, 0).isoformat()
    body = login(clerk_a).post(reverse("attendance:book_slot", args=[consultation.pk]),
                               {"professional": clerk_a.pk, "starts_at": slot}, HTTP_HX_REQUEST="true").content.decode()
    assert "Velg en fagperson ved helsestasjonen." in body
    other = due(planned_child(station_b))
    assert login(clerk_a).post(reverse("attendance:book_slot", args=[other.pk]), {"professional": nurse_a.pk, "starts_at": slot}).status_code == 404
    assert login(clerk_a).get(reverse("attendance:booking_week", args=[other.pk])).status_code == 404
    assert not Appointment.objects.exists()


@pytest.mark.django_db
def test_the_week_view_shows_free_slots_and_books_the_one_chosen(login, hours, station_a, clerk_a, nurse_a, planned_child, booked):
    day = next_working_day(timezone.localdate() + timedelta(days=7))
    booked(planned_child(station_a), nurse_a, starts_at=local(day, 8, 0))
    consultation = due(planned_child(station_a))
    client = login(clerk_a)
    response = client.get(reverse("attendance:booking_week", args=[consultation.pk]),
                          {"uke": day.isoformat(), "fagperson": nurse_a.pk}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    offered = [timezone.datetime.fromisoformat(s) for s in proposed(body)]
    last = local(day, 12, 0) - timedelta(minutes=consultation.step.default_duration_minutes)
    assert local(day, 8, 0) not in offered and local(day, 8, 30) in offered and last in offered
    assert all(timezone.localtime(s).weekday() < 5 for s in offered)
    client.post(reverse("attendance:book_slot", args=[consultation.pk]), {"professional": nurse_a.pk, "starts_at": local(day, 11, 0).isoformat()})
    assert Appointment.objects.get(consultation=consultation).starts_at == local(day, 11, 0)
    # Without htmx the week is a page of its own.
    page = client.get(reverse("attendance:booking_week", args=[consultation.pk]), {"uke": "ikke-dato"})
    assert page.status_code == 200 and "Ugyldig dato." in page.content.decode()


@pytest.mark.django_db
def test_the_week_view_marks_a_public_holiday(login, hours, station_a, clerk_a, planned_child):
    consultation = due(planned_child(station_a))
    today = timezone.localdate()
    christmas = next(d for d in public_holidays(today, today + timedelta(days=400)) if d.month == 12 and d.day == 25)
    body = login(clerk_a).get(reverse("attendance:booking_week", args=[consultation.pk]), {"uke": christmas.isoformat()},
                              HTTP_HX_REQUEST="true").content.decode()
    assert "Første juledag" in body
    assert all(timezone.localtime(timezone.datetime.fromisoformat(s)).date() != christmas for s in proposed(body))


@pytest.mark.django_db
def test_moving_an_appointment_uses_the_same_slots(login, hours, station_a, nurse_a, planned_child, booked):
    day = next_working_day()
    appointment = booked(planned_child(station_a), nurse_a, starts_at=local(day, 9, 0))
    booked(planned_child(station_a), nurse_a, starts_at=local(day, 10, 0))
    client = login(nurse_a)
    url = reverse("attendance:appointment_move", args=[appointment.pk])
    body = client.get(url, {"uke": day.isoformat()}).content.decode()
    offered = [timezone.datetime.fromisoformat(s) for s in proposed(body)]
    assert local(day, 9, 15) in offered  # its own time counts as free
    assert local(day, 10, 0) not in offered and local(day, 9, 45) not in offered
    client.post(url, {"professional": nurse_a.pk, "starts_at": local(day, 10, 0).isoformat()})
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED  # occupied: nothing moved
    client.post(url, {"professional": nurse_a.pk, "starts_at": local(day, 19, 0).isoformat()})
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED  # outside the working hours
    client.post(url, {"professional": nurse_a.pk, "starts_at": local(day, 11, 0).isoformat()})
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.RESCHEDULED and appointment.rescheduled_to.starts_at == local(day, 11, 0)


@pytest.mark.django_db(transaction=True)
def test_two_clerks_booking_one_slot_through_the_view_book_it_once(hours, station_a, clerk_a, leader_a, nurse_a, planned_child):
    first, second = due(planned_child(station_a)), due(planned_child(station_a))
    slot = local(next_working_day(), 9, 0).isoformat()
    clients = {}
    for consultation, clerk in ((first, clerk_a), (second, leader_a)):
        clients[consultation.pk] = Client()
        clients[consultation.pk].force_login(clerk)

    def attempt(consultation):
        return clients[consultation.pk].post(reverse("attendance:book_slot", args=[consultation.pk]),
                                             {"professional": nurse_a.pk, "starts_at": slot}, HTTP_HX_REQUEST="true").content.decode()

    before = {c.pk: c.state for c in Consultation.objects.all()}
    bodies = dict(zip([first.pk, second.pk], at_once(lambda: attempt(first), lambda: attempt(second))))
    won = [pk for pk, body in bodies.items() if "Bestilt" in body and BUSY not in body]
    lost = [pk for pk, body in bodies.items() if BUSY in body]
    assert len(won) == 1 and len(lost) == 1
    assert list(Appointment.objects.values_list("consultation_id", flat=True)) == won
    after = {c.pk: c.state for c in Consultation.objects.all()}
    assert after.pop(won[0]) == ConsultationState.BOOKED
    before.pop(won[0])
    assert after == before  # nothing else changed
    # The loser is offered another free slot at once.
    assert slot not in proposed(bodies[lost[0]]) and proposed(bodies[lost[0]])


@pytest.mark.django_db
def test_a_nurse_is_offered_her_own_slots_and_a_clerk_the_earliest_colleague(login, hours, station_a, clerk_a, nurse_a, planned_child):
    from helsestasjon.models import Role
    from tests.factories import UserFactory

    colleague = UserFactory(username="sykepleier2_a", first_name="Siri", last_name="Sand", role=Role.NURSE, stations=[station_a])
    for weekday in range(5):
        working_hours_add(professional=colleague, station=station_a, weekday=weekday, starts=time(7), ends=time(8))
    planned_child(station_a)
    first = Consultation.objects.needing_booking([station_a.pk]).first()
    minutes = first.step.default_duration_minutes

    def earliest(professional):
        return free_slots(professional, station_a, timezone.now(), timezone.now() + timedelta(days=28), minutes)[0]

    def first_row(user):
        rows = login(user).get(WORKLIST).content.decode().split("<tbody>")[1]
        return rows, timezone.datetime.fromisoformat(proposed(rows)[0])

    rows, offered = first_row(nurse_a)
    assert offered == earliest(nurse_a) and "Siri Sand" not in rows
    rows, offered = first_row(clerk_a)
    winner = min((nurse_a, colleague), key=earliest)
    assert offered == earliest(winner) and winner.get_full_name() in rows


@pytest.mark.django_db
def test_the_childs_page_links_to_the_free_slots_and_to_moving(login, hours, station_a, clerk_a, nurse_a, planned_child, booked):
    child = planned_child(station_a)
    appointment = booked(child, nurse_a, starts_at=local(next_working_day(), 9, 0))
    body = login(clerk_a).get(reverse("attendance:child", args=[child.pk])).content.decode()
    bookable = child.consultations.filter(state__in=["due", "planned"], window_opens__lte=timezone.localdate() + timedelta(days=60))
    assert bookable and all(reverse("attendance:booking_week", args=[c.pk]) in body for c in bookable)
    assert reverse("attendance:appointment_move", args=[appointment.pk]) in body


@pytest.mark.django_db
def test_the_demo_gives_its_nurses_working_hours(settings, tmp_path):
    from django.core.management import call_command

    from attendance.models import WorkingHours
    from helsestasjon.models import Role, User

    call_command("seed_demo", children=10, if_empty=True, stdout=__import__("io").StringIO())
    nurses = User.objects.filter(role=Role.NURSE)
    assert nurses and set(WorkingHours.objects.values_list("professional_id", flat=True)) == set(nurses.values_list("id", flat=True))
