"""The rows of the nurse's day list, read with three flat queries.

The day list is the page a nurse opens most. Building model instances and
resolving template lookups was most of its time (benchmarks/day_view.py), so the
rows are read as plain values and formatted here once, and the template only
prints them. One query whatever the number of rows: the appointments with child,
consultation, the 12-month missed count, and their guardians and outcome events
as JSON arrays.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import json
from datetime import date, datetime
from datetime import timezone as dt_timezone

from django.db import connection
from django.db.models.expressions import RawSQL
from django.urls import reverse
from django.utils import timezone

from attendance.models import Appointment, Outcome, Reason, local_day_bounds
from helsestasjon.dates import age_text
from helsestasjon.models import Language, Relation

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


# Guardians and outcome events come as JSON arrays from correlated subqueries, so
# the whole list is one query (one round trip) on PostgreSQL and on SQLite. The
# inner ORDER BY sets the order; PostgreSQL also gets it inside the aggregate.
_GUARDIANS_SQL = (
    "(SELECT {agg}({arr}(x.relation, x.given_name, x.family_name, x.preferred_language, x.interpreter_needed){order_pg})"
    " FROM (SELECT gs.relation, g.given_name, g.family_name, g.preferred_language, g.interpreter_needed,"
    " gs.parental_responsibility, gs.id FROM helsestasjon_guardianship gs"
    " JOIN helsestasjon_guardian g ON g.id = gs.guardian_id WHERE gs.child_id = attendance_appointment.child_id"
    " ORDER BY gs.parental_responsibility DESC, gs.id) x)"
)
_EVENTS_SQL = (
    "(SELECT {agg}({arr}(x.id, x.outcome, x.reason, x.replaces_id, x.recorded_at, x.first_name, x.last_name){order_pg})"
    " FROM (SELECT e.id, e.outcome, e.reason, e.replaces_id, e.recorded_at, u.first_name, u.last_name"
    " FROM attendance_outcomeevent e LEFT JOIN helsestasjon_user u ON u.id = e.recorded_by_id"
    " WHERE e.appointment_id = attendance_appointment.id ORDER BY e.recorded_at, e.id) x)"
)


def _json_subqueries():
    if connection.vendor == "postgresql":
        guardians = _GUARDIANS_SQL.format(agg="json_agg", arr="json_build_array", order_pg=" ORDER BY x.parental_responsibility DESC, x.id")
        events = _EVENTS_SQL.format(agg="json_agg", arr="json_build_array", order_pg=" ORDER BY x.recorded_at, x.id")
    else:
        guardians = _GUARDIANS_SQL.format(agg="json_group_array", arr="json_array", order_pg="")
        events = _EVENTS_SQL.format(agg="json_group_array", arr="json_array", order_pg="")
    return RawSQL(guardians, []), RawSQL(events, [])


def _json(value) -> list:
    """psycopg hands PostgreSQL's json over parsed; SQLite's is text."""
    if value is None:
        return []
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=dt_timezone.utc)


def day_rows(*, professional_id: int | None = None, day: date | None = None, station_ids, appointment_id: int | None = None) -> list[DayRow]:
    """A professional's rows for one local day, or the one row ``appointment_id`` (for an htmx swap)."""
    qs = Appointment.objects.filter(station_id__in=station_ids)
    if appointment_id is not None:
        qs = qs.filter(pk=appointment_id)
    else:
        start, end = local_day_bounds(day)
        qs = qs.filter(professional_id=professional_id, starts_at__gte=start, starts_at__lt=end)
    guardians_sql, events_sql = _json_subqueries()
    values = (
        qs.with_missed_last_12_months()
        .annotate(guardians_json=guardians_sql, events_json=events_sql)
        .order_by("starts_at", "id")
        .values_list(
            "id", "starts_at", "duration_minutes", "place", "room", "status", "professional_id", "child_id", "station_id",
            "child__given_name", "child__family_name", "child__birth_date", "child__special_attention",
            "consultation__step__name", "rescheduled_to__starts_at", "missed_12m", "guardians_json", "events_json",
        )
    )
    today = timezone.localdate()
    # Reversed once, not once per row: URL reversing is a visible part of the page's time.
    record_url = reverse("attendance:record_outcome", args=[0])
    child_url = reverse("attendance:child", args=[0])
    rows = []
    for (pk, starts_at, duration, place, room, status, professional, child_id, station, given, family, born, special,
         step_name, moved_to, missed, guardians_json, events_json) in values:
        row = DayRow(
            pk=pk, time=_local(starts_at, "%H:%M"), duration_minutes=duration, place=place, room=room, status=status,
            professional_id=professional, child_id=child_id, station_id=station, child_name=f"{given} {family}",
            age=age_text(born, today), special_attention=special, step_name=step_name, missed_12m=missed,
            rescheduled_to=_local(moved_to, "%d.%m.%Y %H:%M") if moved_to else "",
            record_url=record_url.replace("/0/", f"/{pk}/"), child_url=child_url.replace("/0/", f"/{child_id}/"),
        )
        for relation, g_given, g_family, language, interpreter in _json(guardians_json):
            row.guardians.append(
                Guardian(
                    name=f"{g_given} {g_family}".strip(), relation=RELATION_LABELS.get(relation, relation),
                    language="" if language in NORWEGIAN else LANGUAGE_LABELS.get(language, language),
                    interpreter=bool(interpreter),
                )
            )
        for e_pk, outcome, reason, replaces_id, recorded_at, first, last in _json(events_json):
            row.events.append(
                Event(
                    pk=e_pk, outcome=outcome, outcome_label=str(OUTCOME_LABELS[outcome]),
                    reason_label=str(REASON_LABELS.get(reason, "")) if reason else "", replaces_id=replaces_id,
                    recorded_by=f"{first or ''} {last or ''}".strip() or "Systemet",
                    recorded_at=_local(_moment(recorded_at), "%d.%m. %H:%M"),
                )
            )
        if row.events:
            replaced = {e.replaces_id for e in row.events if e.replaces_id}
            current = [e for e in row.events if e.pk not in replaced]
            row.current = current[-1] if current else None
        rows.append(row)
    return rows


def children_of(rows: list[DayRow]) -> list[_ChildRef]:
    return [_ChildRef(row.child_id, row.station_id) for row in rows]
