"""The rows of the nurse's day list, read with one query.

The day list is the page a nurse opens most. Building model instances and
resolving template lookups was most of its time (benchmarks/day_view.py), so the
rows are read as plain values and formatted here once, and the template only
prints them. One hand-written query whatever the number of rows: the appointments
with child, consultation, the 12-month missed count, and their guardians and
outcome events as JSON arrays.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from django.db import connection
from django.middleware.csrf import get_token
from django.template.loader import get_template
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, gettext_lazy

from attendance.models import MISSED_STATUSES, MISSED_WINDOW, Outcome, Reason, local_day_bounds
from helsestasjon.dates import age_text
from helsestasjon.formatting import list_name
from helsestasjon.models import PROTECTED_LEVELS, AddressProtection, ChildStatus, Language, Relation, User

OUTCOME_LABELS = dict(Outcome.choices)
REASON_LABELS = dict(Reason.choices)
RELATION_LABELS = {value: str(label).lower() for value, label in Relation.choices}
LANGUAGE_LABELS = dict(Language.choices)
NORWEGIAN = {Language.NB, Language.NN}
CHILD_STATUS_LABELS = dict(ChildStatus.choices)
# The row's marks for a child whose address is protected: that it is, never the address.
PROTECTION_MARKS = {
    AddressProtection.CONFIDENTIAL: gettext_lazy("Fortrolig adresse"),
    AddressProtection.STRICTLY_CONFIDENTIAL: gettext_lazy("Strengt fortrolig adresse"),
}
GOOD, NEUTRAL = {Outcome.ATTENDED}, {Outcome.CANCELLED_BY_SERVICE, Outcome.RESCHEDULED}
# The columns. Each row repeats its column's heading as data-label, which the narrow layout shows in front of
# the cell, so they are translated once per page (column_labels) rather than once per cell.
COLUMNS = {
    "time": gettext_lazy("Tid"), "child": gettext_lazy("Barn"), "consultation": gettext_lazy("Konsultasjon"),
    "guardians": gettext_lazy("Foresatte"), "missed": gettext_lazy("Uteblitt 12 mnd"), "outcome": gettext_lazy("Utfall"),
}
OPEN_CASE_MARK = gettext_lazy("Åpen oppfølgingssak")
SPECIAL_ATTENTION_MARK = gettext_lazy("Særlig oppfølging")


def column_labels() -> dict[str, str]:
    return {key: str(label) for key, label in COLUMNS.items()}


class _TemplateLookups:
    """Attribute lookups the template engine finds on its first try.

    Django's templates try ``row["name"]`` before ``row.name``; answering the
    first saves an exception per lookup, and a day list makes about forty
    lookups per row.
    """

    __slots__ = ()

    def __getitem__(self, name):
        try:
            return getattr(self, name)
        except (AttributeError, TypeError):
            raise KeyError(name) from None


@dataclass(slots=True)
class Guardian(_TemplateLookups):
    name: str
    relation: str
    language: str  # empty when Norwegian
    interpreter: bool


@dataclass(slots=True)
class Event(_TemplateLookups):
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
class DayRow(_TemplateLookups):
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
    child_status: str = ChildStatus.ACTIVE
    address_protection: str = ""
    open_case: bool = False
    record_url: str = ""
    child_url: str = ""
    guardians: list[Guardian] = field(default_factory=list)
    cells_html: str = ""  # the cells up to the outcome, see _cells_html
    events: list[Event] = field(default_factory=list)
    current: Event | None = None
    controls: str = ""  # the outcome control, filled in by RowControls

    @property
    def is_booked(self) -> bool:
        return self.status == "booked"

    @property
    def is_home_visit(self) -> bool:
        return self.place == "home"

    @property
    def status_mark(self) -> str:
        """Emigrated, deceased, moved or aged out: the child's status when it is not active, else empty."""
        return "" if self.child_status == ChildStatus.ACTIVE else str(CHILD_STATUS_LABELS.get(self.child_status, self.child_status))

    @property
    def protection_mark(self) -> str:
        return str(PROTECTION_MARKS[self.address_protection]) if self.address_protection in PROTECTED_LEVELS else ""


def _e(text) -> str:
    """Django's ``escape`` (which is the standard library's) without its lazy-string wrapper and SafeString:
    checking every argument for laziness was a fifth of building the rows (benchmarks/day_view.py)."""
    return html.escape(str(text))


@dataclass(frozen=True, slots=True)
class _CellTexts:
    """The words the cells built here repeat, translated once per list rather than once per row."""

    nobody: str
    interpreter: str
    open_case: str
    special_attention: str
    duration: str
    home_visit: str
    labels: dict[str, str]  # escaped

    @classmethod
    def now(cls) -> _CellTexts:
        return cls(
            nobody=gettext('<span class="muted">Ingen registrert</span>'),
            interpreter=f' <span class="tag warn">{_e(gettext("Tolk"))}</span>',
            open_case=str(OPEN_CASE_MARK), special_attention=str(SPECIAL_ATTENTION_MARK), duration=gettext("%(minutes)s min"),
            home_visit=f' <span class="tag">{_e(gettext("Hjemmebesøk"))}</span>',
            labels={key: _e(label) for key, label in column_labels().items()},
        )


def _guardians_html(guardians: list[Guardian], texts: _CellTexts) -> str:
    """The guardians cell, escaped here once per row rather than by a template loop."""
    if not guardians:
        return mark_safe(texts.nobody)
    cells = []
    for g in guardians:
        language = f' <span class="tag">{_e(g.language)}</span>' if g.language else ""
        cells.append(f'<div>{_e(g.name)} <span class="muted">({_e(g.relation)})</span>{language}'
                     f'{texts.interpreter if g.interpreter else ""}</div>')
    return mark_safe("".join(cells))


def _marks_html(row: DayRow, texts: _CellTexts) -> str:
    """The child's marks: status, protected address, open case, special attention (issue 18)."""
    marks = (
        ("bad", row.status_mark), ("warn", row.protection_mark), ("warn", texts.open_case if row.open_case else ""),
        ("warn", texts.special_attention if row.special_attention else ""),
    )
    return mark_safe(" ".join(f'<span class="tag {tone}">{_e(text)}</span>' for tone, text in marks if text))


def _cells_html(row: DayRow, texts: _CellTexts) -> str:
    """The row's cells up to the outcome (time, child with marks, consultation, guardians, missed count), written
    here once per row: as template tags they were most of the row's rendering (benchmarks/day_view.py). Each cell
    carries its column's label for the narrow layout."""
    labels = texts.labels
    place = texts.home_visit if row.is_home_visit else (f' <span class="muted">{_e(row.room)}</span>' if row.room else "")
    duration = _e(texts.duration % {"minutes": row.duration_minutes})
    missed = f'<span class="tag bad">{row.missed_12m}</span>' if row.missed_12m else "0"
    return mark_safe(
        f'<td data-label="{labels["time"]}"><strong>{row.time}</strong> <span class="muted">{duration}</span>{place}</td>\n'
        f'    <td data-label="{labels["child"]}" class="child"><a href="{_e(row.child_url)}">{_e(row.child_name)}</a>'
        f' <span class="muted">{_e(row.age)}</span>\n      {_marks_html(row, texts)}</td>\n'
        f'    <td data-label="{labels["consultation"]}">{_e(row.step_name)}</td>\n'
        f'    <td data-label="{labels["guardians"]}" class="guardians">{_guardians_html(row.guardians, texts)}</td>\n'
        f'    <td data-label="{labels["missed"]}">{missed}</td>'
    )


def _local(moment: datetime, fmt: str) -> str:
    return timezone.localtime(moment).strftime(fmt)


# One hand-written statement, built once per shape: compiling the equivalent ORM
# query took longer than running it (benchmarks/day_view.py). Guardians and
# outcome events come as JSON arrays from correlated subqueries (ordered inside
# the aggregate), so the whole list is one round trip.
_DAY_SQL = """
SELECT a.id, a.starts_at, a.duration_minutes, a.place, a.room, a.status, a.professional_id, a.child_id, a.station_id,
       c.given_name, c.family_name, c.birth_date, c.special_attention, s.name AS step_name, moved.starts_at AS moved_to,
       c.status AS child_status, c.address_protection,
       EXISTS (SELECT 1 FROM followup_case fc WHERE fc.child_id = a.child_id AND fc.status = 'open') AS open_case,
       (SELECT COUNT(*) FROM attendance_appointment m
         WHERE m.child_id = a.child_id AND m.status IN ({missed}) AND m.starts_at >= %s) AS missed,
       (SELECT json_agg(json_build_array(x.relation, x.given_name, x.family_name, x.preferred_language, x.interpreter_needed)
                    ORDER BY x.parental_responsibility DESC, x.id)
          FROM (SELECT gs.relation, g.given_name, g.family_name, g.preferred_language, g.interpreter_needed,
                       gs.parental_responsibility, gs.id
                  FROM helsestasjon_guardianship gs JOIN helsestasjon_guardian g ON g.id = gs.guardian_id
                 WHERE gs.child_id = a.child_id) x) AS guardians,
       (SELECT json_agg(json_build_array(x.id, x.outcome, x.reason, x.replaces_id, x.recorded_at, x.first_name, x.last_name)
                    ORDER BY x.recorded_at, x.id)
          FROM (SELECT e.id, e.outcome, e.reason, e.replaces_id, e.recorded_at, u.first_name, u.last_name
                  FROM attendance_outcomeevent e LEFT JOIN helsestasjon_user u ON u.id = e.recorded_by_id
                 WHERE e.appointment_id = a.id) x) AS events
  FROM attendance_appointment a
  JOIN helsestasjon_child c ON c.id = a.child_id
  JOIN attendance_consultation k ON k.id = a.consultation_id
  JOIN attendance_programmestep s ON s.id = k.step_id
  LEFT JOIN attendance_appointment moved ON moved.id = a.rescheduled_to_id
 WHERE a.station_id IN ({stations}) AND {where}
"""
_ORDER = " ORDER BY a.starts_at, a.id"
# The rows shown and their access-log rows (one per row, as
# helsestasjon.services.access_log_record_many writes them) are one statement:
# the log cannot miss a row that was read, and the page saves a round trip.
_LOGGED_SQL = """
WITH day AS ({select}),
logged AS (
  INSERT INTO helsestasjon_accesslog (at, user_id, username, role, child_id, station_id, action, what, path)
  SELECT %s, %s, %s, %s, day.child_id, day.station_id, %s, %s, %s FROM day
)
SELECT * FROM day ORDER BY starts_at, id
"""
_DAY_WHERE = "a.professional_id = %s AND a.starts_at >= %s AND a.starts_at < %s"
_ONE_WHERE = "a.id = %s"
_sql_cache: dict[tuple, str] = {}


def _day_sql(stations: int, one: bool, logged: bool) -> str:
    key = (stations, one, logged)
    sql = _sql_cache.get(key)
    if sql is None:
        sql = _DAY_SQL.format(
            missed=", ".join(["%s"] * len(MISSED_STATUSES)), stations=", ".join(["%s"] * stations),
            where=_ONE_WHERE if one else _DAY_WHERE,
        )
        sql = _sql_cache[key] = _LOGGED_SQL.format(select=sql) if logged else sql + _ORDER
    return sql


@dataclass(frozen=True, slots=True)
class ListAccess:
    """Who is shown the rows, for the access log (one row per list row)."""

    user: User
    action: str
    what: str
    path: str = ""


@dataclass(slots=True)
class Alongside:
    """Another read sent in the same round trip as the rows (the results come first, in order): on a loaded machine
    each round trip costs the request a wait for the CPU, and the day view makes few enough that one fewer shows."""

    sql: str
    params: list
    rows: list = field(default_factory=list)


def day_rows(*, professional_id: int | None = None, day: date | None = None, station_ids, appointment_id: int | None = None,
             log: ListAccess | None = None, alongside: Sequence[Alongside] = ()) -> list[DayRow]:
    """A professional's rows for one local day, or the one row ``appointment_id`` (for an htmx swap).

    With ``log``, every row read is written to the access log in the same statement; the ``alongside`` reads
    are sent in the same round trip.
    """
    station_ids = list(station_ids)
    if not station_ids:
        return []
    today = timezone.localdate()
    # Reversed once, not once per row: URL reversing is a visible part of the page's time.
    record_url = reverse("attendance:record_outcome", args=[0])
    child_url = reverse("attendance:child", args=[0])
    texts = _CellTexts.now()
    return [_row(values, today, record_url, child_url, texts)
            for values in _read(station_ids, professional_id, day, appointment_id, log, alongside)]


def _read(station_ids: list, professional_id, day, appointment_id, log: ListAccess | None, alongside: Sequence[Alongside]) -> list:
    # The rule of AppointmentQuerySet.missed_in_last_12_months, in the statement: its statuses and window.
    params: list = [*MISSED_STATUSES, timezone.now() - MISSED_WINDOW, *station_ids]
    if appointment_id is not None:
        params.append(appointment_id)
    else:
        start, end = local_day_bounds(day)
        params += [professional_id, start, end]
    if log is not None:
        user = log.user
        params += [timezone.now(), user.pk, user.get_username(), user.role, log.action, log.what[:200], log.path[:500]]
    sql = _day_sql(len(station_ids), appointment_id is not None, log is not None)
    with connection.cursor() as cursor:
        if not alongside:
            cursor.execute(sql, params)
            return cursor.fetchall()
        # Several statements in one execute: Django's psycopg cursor binds on the client, which allows it.
        cursor.execute(";\n".join([*(read.sql for read in alongside), sql]), [p for read in alongside for p in read.params] + params)
        for read in alongside:
            read.rows = cursor.fetchall()
            cursor.nextset()
        return cursor.fetchall()


def _row(values: tuple, today: date, record_url: str, child_url: str, texts: _CellTexts) -> DayRow:
    (pk, starts_at, duration, place, room, status, professional, child_id, station, given, family, born, special,
     step_name, moved_to, child_status, protection, open_case, missed, guardians_json, events_json) = values
    row = DayRow(
        pk=pk, time=_local(starts_at, "%H:%M"), duration_minutes=duration, place=place, room=room, status=status,
        professional_id=professional, child_id=child_id, station_id=station, child_name=list_name(given, family),
        age=age_text(born, today), special_attention=bool(special), step_name=step_name, missed_12m=missed or 0,
        rescheduled_to=_local(moved_to, "%d.%m.%Y %H:%M") if moved_to else "",
        child_status=child_status, address_protection=protection or "", open_case=bool(open_case),
        record_url=record_url.replace("/0/", f"/{pk}/"), child_url=child_url.replace("/0/", f"/{child_id}/"),
    )
    for relation, g_given, g_family, language, interpreter in guardians_json or ():
        row.guardians.append(
            Guardian(
                name=list_name(g_given, g_family), relation=RELATION_LABELS.get(relation, relation),
                language="" if language in NORWEGIAN else LANGUAGE_LABELS.get(language, language),
                interpreter=bool(interpreter),
            )
        )
    row.cells_html = _cells_html(row, texts)
    for e_pk, outcome, reason, replaces_id, recorded_at, first, last in events_json or ():
        row.events.append(
            Event(
                pk=e_pk, outcome=outcome, outcome_label=str(OUTCOME_LABELS[outcome]),
                reason_label=str(REASON_LABELS.get(reason, "")) if reason else "", replaces_id=replaces_id,
                recorded_by=f"{first or ''} {last or ''}".strip() or gettext("Systemet"),
                recorded_at=_local(datetime.fromisoformat(recorded_at), "%d.%m. %H:%M"),
            )
        )
    if row.events:
        replaced = {e.replaces_id for e in row.events if e.replaces_id}
        current = [e for e in row.events if e.pk not in replaced]
        row.current = current[-1] if current else None
    return row


class RowControls:
    """Each row's outcome control (the ``outcome_form`` fragment of attendance/day.html), filled in per row.

    The control is the larger part of a row and the same for every row but for the row's id, address and
    child's name, so it is rendered once per kind of row (home visit or not, first outcome or a correction)
    with placeholders and filled in per row: rendering it per row was over half the day list's time
    (benchmarks/day_view.py). ``panel`` carries what an htmx redraw after an error shows in it (the open
    panel, the chosen reason, the typed time); a full page passes only the reason options.
    """

    _FRAGMENT = "attendance/day.html#outcome_form"
    # Placeholders that escaping leaves as they are and no label contains.
    _PK, _URL, _NAME, _REPLACES = "__row_pk__", "__row_url__", "__row_name__", "__row_replaces__"

    def __init__(self, request, **panel):
        self._context = {
            "csrf_token": get_token(request), "open_panel": "", "move_error": False, "error": "", "move_date": "",
            "move_time": "", **panel,
        }
        self._rendered: dict[tuple[bool, bool], str] = {}

    def _fragment(self, home_visit: bool, correction: bool) -> str:
        key = (home_visit, correction)
        fragment = self._rendered.get(key)
        if fragment is None:
            row = {"pk": self._PK, "record_url": self._URL, "child_name": self._NAME, "is_home_visit": home_visit}
            # Rendered without the request: the context processors (menu, alerts) are the page's, not the fragment's.
            context = {**self._context, "row": row, "replaces": self._REPLACES if correction else ""}
            fragment = self._rendered[key] = get_template(self._FRAGMENT).render(context)
        return fragment

    def for_row(self, row: DayRow) -> str:
        """The row's control: a correction of its current outcome, a first outcome for a booked time, else none."""
        if row.current is not None:
            if row.current.outcome == Outcome.RESCHEDULED:
                return ""
            fragment, replaces = self._fragment(row.is_home_visit, True), str(row.current.pk)
        elif row.is_booked:
            fragment, replaces = self._fragment(row.is_home_visit, False), ""
        else:
            return ""
        return mark_safe(
            fragment.replace(self._PK, str(row.pk)).replace(self._URL, _e(row.record_url))
            .replace(self._NAME, _e(row.child_name)).replace(self._REPLACES, replaces)
        )

    def fill(self, rows: list[DayRow]) -> list[DayRow]:
        for row in rows:
            row.controls = self.for_row(row)
        return rows
