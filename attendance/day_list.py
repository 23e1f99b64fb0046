"""The rows of the nurse's day list, read with three flat queries.

The day list is the page a nurse opens most. Building model instances and
resolving template lookups was most of its time (benchmarks/day_view.py), so the
rows are read as plain values and formatted here once, and the template only
prints them. Three queries whatever the number of rows: the appointments (with
child, consultation and the 12-month missed count), their guardians, and their
outcome events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.urls import reverse
from django.utils import timezone

from attendance.models import Appointment, Outcome, OutcomeEvent, Reason, local_day_bounds
from helsestasjon.dates import age_text
from helsestasjon.models import Guardianship, Language, Relation

OUTCOME_LABELS = dict(Outcome.choices)
REASON_LABELS = dict(Reason.choices)
RELATION_LABELS = {value: str(label).lower() for value, label in Relation.choices}
LANGUAGE_LABELS = dict(Language.choices)
NORWEGIAN = {Language.NB, Language.NN}
GOOD, NEUTRAL = {Outcome.ATTENDED}, {Outcome.CANCELLED_BY_SERVICE, Outcome.RESCHEDULED}


@dataclass(slots=True)
class Guardian:
    name: str
    relation: str
    language: str  # empty when Norwegian
    interpreter: bool


@dataclass(slots=True)
class Event:
    pk: int
    outcome: str
    outcome_label: str
    reason_label: str
    replaces_id: int | None
    recorded_by: str
    recorded_at: str

    @property
    def tone(self) -> str:
        return "ok" if self.outcome in GOOD else ("" if self.outcome in NEUTRAL else "bad")


@dataclass(slots=True)
class DayRow:
    pk: int
    time: str
    duration_minutes: int
    place: str
    room: str
    status: str
    professional_id: int
    child_id: int
    station_id: int
    child_name: str
    age: str
    special_attention: bool
    step_name: str
    missed_12m: int
    rescheduled_to: str
    record_url: str = ""
    child_url: str = ""
    guardians: list[Guardian] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    current: Event | None = None

    @property
    def is_booked(self) -> bool:
        return self.status == "booked"

    @property
    def is_home_visit(self) -> bool:
        return self.place == "home"


class _ChildRef:
    """What access_log_record_many needs of a child: its id and station."""

    __slots__ = ("pk", "station_id")

    def __init__(self, pk: int, station_id: int):
        self.pk, self.station_id = pk, station_id


def _local(moment: datetime, fmt: str) -> str:
    return timezone.localtime(moment).strftime(fmt)


def day_rows(*, professional_id: int | None = None, day: date | None = None, station_ids, appointment_id: int | None = None) -> list[DayRow]:
    """A professional's rows for one local day, or the one row ``appointment_id`` (for an htmx swap)."""
    qs = Appointment.objects.filter(station_id__in=station_ids)
    if appointment_id is not None:
        qs = qs.filter(pk=appointment_id)
    else:
        start, end = local_day_bounds(day)
        qs = qs.filter(professional_id=professional_id, starts_at__gte=start, starts_at__lt=end)
    today = timezone.localdate()
    rows = [
        DayRow(
            pk=pk, time=_local(starts_at, "%H:%M"), duration_minutes=duration, place=place, room=room, status=status,
            professional_id=professional, child_id=child_id, station_id=station, child_name=f"{given} {family}",
            age=age_text(born, today), special_attention=special, step_name=step_name, missed_12m=missed,
            rescheduled_to=_local(moved_to, "%d.%m.%Y %H:%M") if moved_to else "",
        )
        for (pk, starts_at, duration, place, room, status, professional, child_id, station, given, family, born, special,
             step_name, moved_to, missed) in qs.with_missed_last_12_months()
        .order_by("starts_at", "id")
        .values_list(
            "id", "starts_at", "duration_minutes", "place", "room", "status", "professional_id", "child_id", "station_id",
            "child__given_name", "child__family_name", "child__birth_date", "child__special_attention",
            "consultation__step__name", "rescheduled_to__starts_at", "missed_12m",
        )
    ]
    if not rows:
        return rows
    # Reversed once, not once per row: URL reversing is a visible part of the page's time.
    record_url = reverse("attendance:record_outcome", args=[0])
    child_url = reverse("attendance:child", args=[0])
    for row in rows:
        row.record_url = record_url.replace("/0/", f"/{row.pk}/")
        row.child_url = child_url.replace("/0/", f"/{row.child_id}/")
    by_child: dict[int, list[DayRow]] = {}
    by_id: dict[int, DayRow] = {}
    for row in rows:
        by_child.setdefault(row.child_id, []).append(row)
        by_id[row.pk] = row
    guardians = (
        Guardianship.objects.filter(child_id__in=by_child)
        .order_by("-parental_responsibility", "id")
        .values_list("child_id", "relation", "guardian__given_name", "guardian__family_name",
                     "guardian__preferred_language", "guardian__interpreter_needed")
    )
    for child_id, relation, given, family, language, interpreter in guardians:
        guardian = Guardian(
            name=f"{given} {family}".strip(), relation=RELATION_LABELS.get(relation, relation),
            language="" if language in NORWEGIAN else LANGUAGE_LABELS.get(language, language), interpreter=interpreter,
        )
        for row in by_child[child_id]:
            row.guardians.append(guardian)
    events = (
        OutcomeEvent.objects.filter(appointment_id__in=by_id)
        .order_by("recorded_at", "id")
        .values_list("id", "appointment_id", "outcome", "reason", "replaces_id", "recorded_at",
                     "recorded_by__first_name", "recorded_by__last_name")
    )
    for pk, appointment_id_, outcome, reason, replaces_id, recorded_at, first, last in events:
        by_id[appointment_id_].events.append(
            Event(
                pk=pk, outcome=outcome, outcome_label=str(OUTCOME_LABELS[outcome]),
                reason_label=str(REASON_LABELS.get(reason, "")) if reason else "", replaces_id=replaces_id,
                recorded_by=f"{first or ''} {last or ''}".strip() or "Systemet", recorded_at=_local(recorded_at, "%d.%m. %H:%M"),
            )
        )
    for row in rows:
        if row.events:
            replaced = {e.replaces_id for e in row.events if e.replaces_id}
            current = [e for e in row.events if e.pk not in replaced]
            row.current = current[-1] if current else None
    return rows


def children_of(rows: list[DayRow]) -> list[_ChildRef]:
    return [_ChildRef(row.child_id, row.station_id) for row in rows]
