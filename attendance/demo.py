"""Demo data for attendance: every demo child's plan, about two years of
appointment history, and booked appointments for the demo nurses' coming days.

Called by ``seed_demo`` through settings.DEMO_SEEDERS. Rows are bulk-inserted in
chunks of children so 40,000 children stay within memory and a few minutes.
"""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import date, datetime, time, timedelta

from django.db import connection
from django.utils import timezone

from attendance.models import (Appointment, AppointmentStatus, Consultation, ConsultationState, Outcome, OutcomeEvent,
                               Place, ProgrammeStep, Reason)
from helsestasjon.models import Child, Role, User

CHUNK = 2000
HISTORY_DAYS = 730
SLOTS_PER_NURSE_DAY = 16
BOOKING_DAYS = 10
DEMO_NURSES = ("sykepleier", "sykepleier2")
MISSED_REASONS = [Reason.FORGOT, Reason.ILLNESS, Reason.LANGUAGE, Reason.LOGISTICS, Reason.UNKNOWN, ""]


def _at(day: date, minutes_after_eight: int) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(8, 0)) + timedelta(minutes=minutes_after_eight))


def _slot(rng: random.Random) -> int:
    return rng.randrange(0, 14) * 30


class _Chunk:
    """Rows for one chunk of children, linked by list position until inserted."""

    def __init__(self):
        self.consultations: list[Consultation] = []
        self.appointments: list[tuple[int, Appointment]] = []  # consultation index, appointment
        self.events: list[tuple[int, OutcomeEvent]] = []  # appointment index, event

    def appointment(self, consultation_index: int, appointment: Appointment, outcome: str, reason: str = "") -> None:
        appointment.status = outcome
        self.appointments.append((consultation_index, appointment))
        if outcome != AppointmentStatus.BOOKED:
            self.events.append(
                (
                    len(self.appointments) - 1,
                    OutcomeEvent(
                        outcome=outcome, reason=reason if outcome in (Outcome.NOT_BROUGHT, Outcome.CANCELLED_BY_GUARDIAN) else "",
                        recorded_by=appointment.professional, recorded_at=appointment.starts_at + timedelta(minutes=appointment.duration_minutes),
                    ),
                )
            )

    def save(self) -> None:
        _insert(Consultation, self.consultations)
        rows = []
        for consultation_index, appointment in self.appointments:
            appointment.consultation_id = self.consultations[consultation_index].pk
            rows.append(appointment)
        _insert(Appointment, rows)
        events = []
        for appointment_index, event in self.events:
            event.appointment_id = rows[appointment_index].pk
            events.append(event)
        _insert(OutcomeEvent, events)


def _insert(model, objects: list) -> None:
    """Insert model instances with INSERT ... SELECT FROM unnest(...) RETURNING id and set their ids.

    The same as bulk_create for these plain rows, without preparing every value
    through the field machinery, which was most of the time of seeding 40,000
    children. One array parameter per column: the query text stays short however
    many rows.
    """
    if not objects:
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    attnames = [f.attname for f in fields]
    casts = ", ".join(f"%s::{f.db_type(connection)}[]" for f in fields)
    sql = f"INSERT INTO {qn(model._meta.db_table)} ({columns}) SELECT * FROM unnest({casts}) RETURNING {qn('id')}"
    with connection.cursor() as cursor:
        for start in range(0, len(objects), 5000):
            batch = objects[start:start + 5000]
            cursor.execute(sql, [[obj.__dict__[attname] for obj in batch] for attname in attnames])
            for obj, (pk,) in zip(batch, cursor.fetchall()):
                obj.pk = pk
                obj._state.adding = False


def _staff(stations) -> tuple[dict[int, list[User]], dict[int, User]]:
    nurses: dict[int, list[User]] = defaultdict(list)
    clerks: dict[int, User] = {}
    for user in User.objects.filter(stations__in=stations, is_active=True).prefetch_related("stations").order_by("username"):
        for station in user.stations.all():
            if user.role == Role.NURSE:
                nurses[station.pk].append(user)
            elif user.role == Role.CLERK:
                clerks.setdefault(station.pk, user)
    # The demo nurses first: they are the ones whose day should be full.
    for station_id, users in nurses.items():
        users.sort(key=lambda u: (u.username.rsplit("_", 1)[0] not in DEMO_NURSES, u.username))
    return nurses, clerks


def _working_hours(nurses: dict[int, list[User]]) -> None:
    """Monday to Friday 08:00-15:30 for every demo nurse, at her first station (the booking worklist's slots)."""
    from attendance.models import WorkingHours

    placed = set(WorkingHours.objects.values_list("professional_id", flat=True))
    rows = []
    for station_id, users in sorted(nurses.items()):
        for user in users:
            if user.pk in placed:
                continue
            placed.add(user.pk)
            rows += [WorkingHours(professional=user, station_id=station_id, weekday=d, starts=time(8), ends=time(15, 30)) for d in range(5)]
    WorkingHours.objects.bulk_create(rows)


def seed(*, children: list[Child], result, rng: random.Random, today: date) -> None:
    if not children:
        return
    steps = list(ProgrammeStep.objects.order_by("order"))
    nurses, clerks = _staff(result.stations)
    _working_hours(nurses)
    now = timezone.now()
    history_start = today - timedelta(days=HISTORY_DAYS)
    due_pool: dict[int, list[tuple[int, bool]]] = defaultdict(list)  # station -> (consultation id, home visit)

    for start in range(0, len(children), CHUNK):
        chunk = _Chunk()
        due_indexes: list[tuple[int, int, bool]] = []
        for child in children[start:start + CHUNK]:
            staff = nurses.get(child.station_id) or []
            if not staff:
                continue
            booker = clerks.get(child.station_id, staff[0])
            for step in steps:
                opens, closes = step.window_for(child.birth_date)
                consultation = Consultation(
                    child_id=child.pk, step=step, window_opens=opens, window_closes=closes, planned_at=now, state_changed_at=now
                )
                index = len(chunk.consultations)
                chunk.consultations.append(consultation)
                place = Place.HOME if step.is_home_visit else Place.STATION

                def appointment(day: date, nurse: User | None = None) -> Appointment:
                    nurse = nurse or staff[rng.randrange(len(staff))]
                    return Appointment(
                        child_id=child.pk, station_id=child.station_id, starts_at=_at(day, _slot(rng)),
                        duration_minutes=step.default_duration_minutes, place=place, professional=nurse,
                        booked_by=booker, booked_at=_at(day - timedelta(days=21), 0),
                    )

                if closes <= today:
                    span = max(1, min((closes - opens).days, 45))
                    if rng.random() < 0.02:
                        consultation.state = ConsultationState.EXPIRED
                        consultation.expired_at = timezone.make_aware(datetime.combine(closes, time(1, 5)))
                        consultation.due_at = timezone.make_aware(datetime.combine(opens, time(1, 5)))
                        day = opens + timedelta(days=rng.randrange(span))
                        if day >= history_start:
                            chunk.appointment(index, appointment(day), Outcome.NOT_BROUGHT, rng.choice(MISSED_REASONS))
                        continue
                    day = min(opens + timedelta(days=rng.randrange(span)), today - timedelta(days=1))
                    consultation.state = ConsultationState.COMPLETED
                    consultation.due_at = timezone.make_aware(datetime.combine(opens, time(1, 5)))
                    consultation.completed_at = _at(day, 240)
                    if day < history_start:
                        continue  # Completed before the history this demo keeps.
                    roll = rng.random()
                    if roll < 0.05 and day - timedelta(days=14) >= history_start:
                        chunk.appointment(index, appointment(day - timedelta(days=14)), Outcome.NOT_BROUGHT, rng.choice(MISSED_REASONS))
                    elif roll < 0.11 and day - timedelta(days=7) >= history_start:
                        chunk.appointment(index, appointment(day - timedelta(days=7)), Outcome.CANCELLED_BY_GUARDIAN, rng.choice(MISSED_REASONS))
                    elif roll < 0.13 and day - timedelta(days=5) >= history_start:
                        chunk.appointment(index, appointment(day - timedelta(days=5)), Outcome.CANCELLED_BY_SERVICE)
                    chunk.appointment(index, appointment(day), Outcome.ATTENDED)
                elif opens <= today:
                    consultation.state = ConsultationState.DUE
                    consultation.due_at = timezone.make_aware(datetime.combine(opens, time(1, 5)))
                    if (today - opens).days > 10 and rng.random() < 0.05:
                        chunk.appointment(index, appointment(opens + timedelta(days=3)), Outcome.NOT_BROUGHT, rng.choice(MISSED_REASONS))
                    due_indexes.append((child.station_id, index, step.is_home_visit))
                else:
                    consultation.state = ConsultationState.PLANNED
        chunk.save()
        for station_id, index, home in due_indexes:
            due_pool[station_id].append((chunk.consultations[index].pk, home))

    _book_coming_days(due_pool=due_pool, nurses=nurses, clerks=clerks, rng=rng, today=today, now=now)


SLOT_MINUTES = 30


def _slot_minutes(n: int) -> int:
    """Minutes after eight of a nurse's n-th slot of the day: from 08:30, a lunch break after the seventh."""
    return (n + 1) * SLOT_MINUTES + (SLOT_MINUTES if n >= 7 else 0)


def _booked_spans(staff: list[User], days: list[date]) -> dict[int, list[tuple[datetime, datetime]]]:
    """The times the nurses are already booked on those days (a second seeding run, or bookings made since).

    A professional is never booked twice at once (the exclusion constraint on Appointment), so the
    demo books around them.
    """
    taken: dict[int, list[tuple[datetime, datetime]]] = {u.pk: [] for u in staff}
    rows = Appointment.objects.filter(
        professional__in=staff, status=AppointmentStatus.BOOKED,
        starts_at__gte=_at(days[0], -8 * 60), starts_at__lt=_at(days[-1] + timedelta(days=1), -8 * 60),
    ).values_list("professional_id", "starts_at", "duration_minutes")
    for professional_id, starts_at, minutes in rows:
        taken[professional_id].append((starts_at, starts_at + timedelta(minutes=minutes)))
    return taken


def _overlaps(spans: list[tuple[datetime, datetime]], starts_at: datetime, minutes: int) -> bool:
    ends_at = starts_at + timedelta(minutes=minutes)
    return any(start < ends_at and starts_at < end for start, end in spans)


def _book_coming_days(*, due_pool, nurses, clerks, rng: random.Random, today: date, now: datetime) -> None:
    """Fill today and the coming working days of the demo nurses with due consultations."""
    days = [today]
    day = today
    while len(days) < BOOKING_DAYS:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days.append(day)
    steps = {s.pk: s for s in ProgrammeStep.objects.all()}
    rows: list[Appointment] = []
    booked_ids: list[int] = []
    for station_id, pool in due_pool.items():
        staff = nurses.get(station_id, [])[:2]
        if not staff:
            continue
        rng.shuffle(pool)
        # Leave some due consultations unbooked so the clerk's booking worklist has work.
        pool = pool[: int(len(pool) * 0.7)]
        booker = clerks.get(station_id, staff[0])
        taken = _booked_spans(staff, days)
        slots = [
            (d, nurse, n) for d in days for nurse in staff for n in range(SLOTS_PER_NURSE_DAY)
            if not _overlaps(taken[nurse.pk], _at(d, _slot_minutes(n)), SLOT_MINUTES)
        ]
        pairs = list(zip(pool, slots))
        lookup = {c.pk: c for c in Consultation.objects.filter(pk__in=[pk for (pk, _), _ in pairs]).only("id", "child_id", "step_id")}
        for (pk, home), (d, nurse, n) in pairs:
            c = lookup[pk]
            step = steps[c.step_id]
            rows.append(
                Appointment(
                    consultation_id=pk, child_id=c.child_id, station_id=station_id, starts_at=_at(d, _slot_minutes(n)),
                    duration_minutes=min(step.default_duration_minutes, SLOT_MINUTES), place=Place.HOME if home else Place.STATION,
                    room="" if home else f"Rom {1 + staff.index(nurse)}", professional=nurse, booked_by=booker,
                    booked_at=now - timedelta(days=rng.randrange(1, 30)),
                )
            )
            booked_ids.append(pk)
    Appointment.objects.bulk_create(rows, batch_size=2000)
    for start in range(0, len(booked_ids), 900):
        Consultation.objects.filter(pk__in=booked_ids[start:start + 900]).update(
            state=ConsultationState.BOOKED, booked_at=now, state_changed_at=now
        )
