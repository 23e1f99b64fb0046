"""Issue 18: leave and closings for part of a day. A nurse at the dentist 09-10 is bookable before and after."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from attendance.working_hours import absence_add
from attendance.models import Absence, AbsenceKind, Weekday
from attendance.working_hours import working_hours_add
from attendance.slots import SlotPlanner, free_slots, slot_is_free
from tests.attendance.conftest import local
from tests.attendance.test_slots import day_bounds, next_weekday

pytestmark = pytest.mark.django_db
PAGE = reverse("attendance:working_hours")


@pytest.fixture
def hours(nurse_a, station_a):
    """Nora works 08:00-11:00 every weekday at station A."""
    for weekday in range(5):
        working_hours_add(professional=nurse_a, station=station_a, weekday=weekday, starts=time(8), ends=time(11))


def times(slots) -> list[str]:
    return [timezone.localtime(s).strftime("%H:%M") for s in slots]


def test_slots_before_and_after_part_day_leave_are_free_and_the_leaves_are_not(hours, nurse_a, station_a):
    tuesday = next_weekday(Weekday.TUESDAY)
    absence_add(kind=AbsenceKind.LEAVE, professional=nurse_a, starts_on=tuesday, ends_on=tuesday,
                     from_time=time(9), until_time=time(10), note="Tannlege")
    assert times(free_slots(nurse_a, station_a, *day_bounds(tuesday), 30)) == ["08:00", "08:15", "08:30", "10:00", "10:15", "10:30"]
    assert not slot_is_free(professional=nurse_a, station=station_a, starts_at=local(tuesday, 8, 45), duration_minutes=30)
    assert slot_is_free(professional=nurse_a, station=station_a, starts_at=local(tuesday, 10, 0), duration_minutes=30)
    # The day after is whole.
    assert len(free_slots(nurse_a, station_a, *day_bounds(tuesday + timedelta(days=1)), 30)) == 11


def test_the_worklists_planner_skips_part_day_leave(hours, nurse_a, station_a):
    tuesday = next_weekday(Weekday.TUESDAY)
    absence_add(kind=AbsenceKind.LEAVE, professional=nurse_a, starts_on=tuesday, ends_on=tuesday,
                     from_time=time(8), until_time=time(10))
    planner = SlotPlanner.load(professional_ids=[nurse_a.pk], station_ids=[station_a.pk])
    first = planner.first(professional_id=nurse_a.pk, station_id=station_a.pk, duration_minutes=30, not_before=local(tuesday, 0))
    assert first == local(tuesday, 10, 0)


def test_part_day_leave_over_two_days_runs_from_the_first_time_to_the_last(hours, nurse_a, station_a):
    tuesday = next_weekday(Weekday.TUESDAY)
    absence_add(kind=AbsenceKind.LEAVE, professional=nurse_a, starts_on=tuesday, ends_on=tuesday + timedelta(days=1),
                     from_time=time(10), until_time=time(9))
    assert times(free_slots(nurse_a, station_a, *day_bounds(tuesday), 30))[-1] == "09:30"
    assert times(free_slots(nurse_a, station_a, *day_bounds(tuesday + timedelta(days=1)), 30))[0] == "09:00"


def test_a_station_closed_for_the_afternoon_keeps_its_morning(nurse_a, station_a):
    wednesday = next_weekday(Weekday.WEDNESDAY)
    working_hours_add(professional=nurse_a, station=station_a, weekday=Weekday.WEDNESDAY, starts=time(8), ends=time(15))
    absence_add(kind=AbsenceKind.CLOSED, station=station_a, starts_on=wednesday, ends_on=wednesday,
                     from_time=time(12), until_time=time(15), note="Personalmøte")
    slots = times(free_slots(nurse_a, station_a, *day_bounds(wednesday), 30))
    assert slots[0] == "08:00" and slots[-1] == "11:30"


def test_an_end_before_the_start_is_a_clear_norwegian_message(nurse_a):
    day = timezone.localdate() + timedelta(days=5)
    with pytest.raises(ValidationError) as exc:
        absence_add(kind=AbsenceKind.LEAVE, professional=nurse_a, starts_on=day, ends_on=day, from_time=time(12), until_time=time(10))
    assert exc.value.message_dict == {"until_time": ["Sluttiden må være etter starttiden."]}
    with pytest.raises(ValidationError) as exc:
        absence_add(kind=AbsenceKind.LEAVE, professional=nurse_a, starts_on=day, ends_on=day, from_time=time(12))
    assert exc.value.message_dict == {"until_time": ["Fyll inn både fra og til klokkeslett, eller ingen av dem for hele dager."]}
    assert not Absence.objects.exists()


def test_the_database_refuses_a_part_day_that_ends_before_it_starts(nurse_a):
    day = timezone.localdate() + timedelta(days=5)
    with pytest.raises(IntegrityError), transaction.atomic():
        Absence.objects.create(kind=AbsenceKind.LEAVE, professional=nurse_a, starts_on=day, ends_on=day,
                               from_time=time(12), until_time=time(10))


def test_two_part_day_leaves_on_one_day_are_fine_unless_they_overlap(nurse_a):
    day = timezone.localdate() + timedelta(days=5)
    absence_add(kind=AbsenceKind.LEAVE, professional=nurse_a, starts_on=day, ends_on=day, from_time=time(9), until_time=time(10))
    absence_add(kind=AbsenceKind.LEAVE, professional=nurse_a, starts_on=day, ends_on=day, from_time=time(10), until_time=time(11))
    with pytest.raises(ValidationError) as exc:
        absence_add(kind=AbsenceKind.LEAVE, professional=nurse_a, starts_on=day, ends_on=day,
                         from_time=time(10, 30), until_time=time(12))
    assert "Fraværet overlapper et fravær som allerede er registrert." in exc.value.messages
    # A whole day over part-day leave overlaps it too.
    with pytest.raises(ValidationError) as exc:
        absence_add(kind=AbsenceKind.LEAVE, professional=nurse_a, starts_on=day, ends_on=day)
    assert "Fraværet overlapper et fravær som allerede er registrert." in exc.value.messages
    assert Absence.objects.count() == 2


def test_the_working_hours_page_registers_and_shows_part_day_leave(login, hours, station_a, clerk_a, nurse_a):
    tuesday = next_weekday(Weekday.TUESDAY)
    client = login(clerk_a)
    response = client.post(f"{PAGE}?fagperson={nurse_a.pk}", {
        "handling": "legg_til_unntak", "unntak-kind": "leave", "unntak-starts_on": tuesday.isoformat(),
        "unntak-ends_on": tuesday.isoformat(), "unntak-from_time": "09:00", "unntak-until_time": "10:00", "unntak-note": "Tannlege",
    })
    assert response.status_code == 302
    absence = Absence.objects.get()
    assert (absence.from_time, absence.until_time, absence.note) == (time(9), time(10), "Tannlege")
    page = client.get(f"{PAGE}?fagperson={nurse_a.pk}").content.decode()
    assert f"{tuesday:%d.%m.%Y} kl. 09:00" in page and f"{tuesday:%d.%m.%Y} kl. 10:00" in page
    assert 'name="unntak-from_time"' in page and 'name="unntak-until_time"' in page
