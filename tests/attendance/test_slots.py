"""Free slots: working hours minus public holidays, leave, closed days and booked appointments."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from attendance.models import Absence, AbsenceKind, Weekday, WorkingHours
from attendance.working_hours import absence_add, working_hours_add
from attendance.slots import (
    SlotPlanner,
    free_ranges,
    free_slots,
    public_holidays,
    slot_is_free,
)
from tests.attendance.conftest import local

pytestmark = pytest.mark.django_db


def next_weekday(weekday: int, *, after: date | None = None) -> date:
    day = (after or timezone.localdate()) + timedelta(days=1)
    while day.weekday() != weekday or day in public_holidays(day, day):
        day += timedelta(days=1)
    return day


def day_bounds(day: date):
    return local(day, 0), local(day + timedelta(days=1), 0)


@pytest.fixture
def hours(nurse_a, station_a):
    """Nora works 08:00-11:00 every weekday at station A."""
    for weekday in range(5):
        working_hours_add(professional=nurse_a, station=station_a, weekday=weekday, starts=time(8), ends=time(11))


def test_slots_fill_the_working_hours_on_a_fifteen_minute_grid(hours, nurse_a, station_a):
    tuesday = next_weekday(Weekday.TUESDAY)
    slots = free_slots(nurse_a, station_a, *day_bounds(tuesday), 30)
    assert [timezone.localtime(s).strftime("%H:%M") for s in slots] == [
        "08:00", "08:15", "08:30", "08:45", "09:00", "09:15", "09:30", "09:45", "10:00", "10:15", "10:30",
    ]


def test_booked_appointments_are_not_free_and_the_next_slot_starts_when_they_end(hours, nurse_a, station_a, planned_child, booked):
    tuesday = next_weekday(Weekday.TUESDAY)
    booked(planned_child(station_a), nurse_a, starts_at=local(tuesday, 8, 0))
    booked(planned_child(station_a), nurse_a, starts_at=local(tuesday, 9, 10))
    slots = [timezone.localtime(s).strftime("%H:%M") for s in free_slots(nurse_a, station_a, *day_bounds(tuesday), 30)]
    assert slots == ["08:30", "09:40", "09:55", "10:10", "10:25"]


def test_a_cancelled_appointment_gives_its_slot_back(hours, nurse_a, station_a, planned_child, booked):
    from attendance.models import Outcome
    from attendance.outcomes import appointment_record_outcome

    tuesday = next_weekday(Weekday.TUESDAY)
    appointment = booked(planned_child(station_a), nurse_a, starts_at=local(tuesday, 8, 0))
    assert local(tuesday, 8, 0) not in free_slots(nurse_a, station_a, *day_bounds(tuesday), 30)
    appointment_record_outcome(appointment=appointment, outcome=Outcome.CANCELLED_BY_GUARDIAN, recorded_by=nurse_a)
    assert local(tuesday, 8, 0) in free_slots(nurse_a, station_a, *day_bounds(tuesday), 30)


def test_an_appointment_at_another_station_takes_the_professionals_time_too(hours, nurse_a, station_a, station_b, planned_child, booked):
    from helsestasjon.models import User

    nurse_a.stations.add(station_b)
    nurse_a = User.objects.get(pk=nurse_a.pk)
    tuesday = next_weekday(Weekday.TUESDAY)
    booked(planned_child(station_b), nurse_a, starts_at=local(tuesday, 8, 0))
    assert free_slots(nurse_a, station_a, *day_bounds(tuesday), 30)[0] == local(tuesday, 8, 30)


def test_no_slot_outside_working_hours_or_at_a_station_she_does_not_work_at(hours, nurse_a, station_a, station_b):
    saturday = next_weekday(Weekday.SATURDAY)
    assert free_slots(nurse_a, station_a, *day_bounds(saturday), 30) == []
    assert free_slots(nurse_a, station_b, *day_bounds(next_weekday(Weekday.TUESDAY)), 30) == []


def test_no_slot_on_a_public_holiday(hours, nurse_a, station_a):
    # 17 May falls on a weekday in 2027 (a Monday) and 2028 (a Wednesday).
    today = timezone.localdate()
    year = today.year + 1
    may17 = next(date(y, 5, 17) for y in range(year, year + 8) if date(y, 5, 17).weekday() < 5)
    assert may17 in public_holidays(may17, may17)
    start = local(may17 - timedelta(days=1), 0)
    ranges = free_ranges(professional_ids=[nurse_a.pk], station_ids=[station_a.pk], start=start, end=local(may17 + timedelta(days=2), 0))
    days = {timezone.localtime(r.starts_at).date() for r in ranges}
    assert may17 not in days
    assert may17 + timedelta(days=1) in days or (may17 + timedelta(days=1)).weekday() >= 5


def test_leave_removes_slots(hours, nurse_a, station_a, leader_a):
    tuesday = next_weekday(Weekday.TUESDAY)
    absence_add(kind=AbsenceKind.LEAVE, professional=nurse_a, starts_on=tuesday, ends_on=tuesday + timedelta(days=1),
                note="Kurs", created_by=leader_a)
    assert free_slots(nurse_a, station_a, *day_bounds(tuesday), 30) == []
    assert free_slots(nurse_a, station_a, *day_bounds(tuesday + timedelta(days=1)), 30) == []
    assert free_slots(nurse_a, station_a, *day_bounds(tuesday + timedelta(days=2)), 30) != []


def test_a_closed_day_removes_the_stations_slots_for_everyone(hours, nurse_a, station_a, clerk_a):
    thursday = next_weekday(Weekday.THURSDAY)
    absence_add(kind=AbsenceKind.CLOSED, station=station_a, starts_on=thursday, ends_on=thursday, created_by=clerk_a)
    assert free_slots(nurse_a, station_a, *day_bounds(thursday), 30) == []


def test_no_slot_in_the_past(nurse_a, station_a):
    today = timezone.localdate()
    working_hours_add(professional=nurse_a, station=station_a, weekday=today.weekday(), starts=time(0, 0), ends=time(23, 59))
    if today in public_holidays(today, today):
        pytest.skip("today is a public holiday")
    slots = free_slots(nurse_a, station_a, *day_bounds(today), 30)
    assert all(s >= timezone.now() for s in slots)
    if timezone.localtime().time() < time(23, 0):
        assert slots  # the rest of today is still offered


def test_a_long_consultation_needs_a_long_enough_gap(hours, nurse_a, station_a, planned_child, booked):
    tuesday = next_weekday(Weekday.TUESDAY)
    booked(planned_child(station_a), nurse_a, starts_at=local(tuesday, 9, 0))
    slots = [timezone.localtime(s).strftime("%H:%M") for s in free_slots(nurse_a, station_a, *day_bounds(tuesday), 60)]
    assert slots == ["08:00", "09:30", "09:45", "10:00"]


def test_slot_is_free_checks_the_whole_duration(hours, nurse_a, station_a):
    tuesday = next_weekday(Weekday.TUESDAY)
    assert slot_is_free(professional=nurse_a, station=station_a, starts_at=local(tuesday, 10, 30), duration_minutes=30)
    assert not slot_is_free(professional=nurse_a, station=station_a, starts_at=local(tuesday, 10, 45), duration_minutes=30)
    assert not slot_is_free(professional=nurse_a, station=station_a, starts_at=local(tuesday, 7, 45), duration_minutes=30)


def test_the_planner_gives_each_row_a_different_slot(hours, nurse_a, station_a):
    planner = SlotPlanner.load(professional_ids=[nurse_a.pk], station_ids=[station_a.pk])
    now = timezone.now()
    first = planner.propose(professional_ids=[nurse_a.pk], station_id=station_a.pk, duration_minutes=30, not_before=now)
    second = planner.propose(professional_ids=[nurse_a.pk], station_id=station_a.pk, duration_minutes=30, not_before=now)
    assert first[0] == second[0] == nurse_a.pk
    assert second[1] >= first[1] + timedelta(minutes=30)


def test_working_hours_must_end_after_they_start_and_not_overlap(nurse_a, station_a, clerk_a):
    with pytest.raises(ValidationError) as exc:
        working_hours_add(professional=nurse_a, station=station_a, weekday=0, starts=time(12), ends=time(9))
    assert "Sluttiden må være etter starttiden." in exc.value.messages
    working_hours_add(professional=nurse_a, station=station_a, weekday=0, starts=time(8), ends=time(12))
    with pytest.raises(ValidationError) as exc:
        working_hours_add(professional=nurse_a, station=station_a, weekday=0, starts=time(11, 30), ends=time(15))
    assert "Arbeidstiden overlapper en annen arbeidstid samme ukedag." in exc.value.messages
    working_hours_add(professional=nurse_a, station=station_a, weekday=0, starts=time(12), ends=time(15))  # touching is fine
    with pytest.raises(ValidationError):
        working_hours_add(professional=clerk_a, station=station_a, weekday=0, starts=time(8), ends=time(9))
    assert WorkingHours.objects.count() == 2


def test_overlapping_leave_is_refused_with_a_message(nurse_a):
    day = timezone.localdate() + timedelta(days=10)
    absence_add(kind=AbsenceKind.LEAVE, professional=nurse_a, starts_on=day, ends_on=day + timedelta(days=4))
    with pytest.raises(ValidationError) as exc:
        absence_add(kind=AbsenceKind.LEAVE, professional=nurse_a, starts_on=day + timedelta(days=4), ends_on=day + timedelta(days=6))
    assert "Fraværet overlapper et fravær som allerede er registrert." in exc.value.messages
    with pytest.raises(ValidationError) as exc:
        absence_add(kind=AbsenceKind.LEAVE, professional=nurse_a, starts_on=day, ends_on=day - timedelta(days=1))
    assert "Sluttdatoen må være samme dag som eller etter startdatoen." in exc.value.messages
    assert Absence.objects.count() == 1


def test_a_daylight_saving_day_keeps_local_working_hours(hours, nurse_a, station_a):
    # The last Sunday of March moves the clock; the first working day after starts at 08:00 Oslo time.
    today = timezone.localdate()
    year = today.year + (1 if (today.month, today.day) > (3, 20) else 0)
    march31 = date(year, 3, 31)
    dst_sunday = march31 - timedelta(days=(march31.weekday() + 1) % 7)
    monday = next_weekday(Weekday.MONDAY, after=dst_sunday - timedelta(days=1))
    slots = free_slots(nurse_a, station_a, *day_bounds(monday), 30)
    assert timezone.localtime(slots[0]).time() == time(8, 0)
    assert timezone.localtime(slots[-1]).time() == time(10, 30)
