"""The attendance facts the sweep reads: which outcomes are triggers, and when they happened.

A fact is one outcome event (not brought, nobody at home, attended, a repeated cancelling) or
one expired consultation, read by ``followup.sweep`` and applied child by child. Nothing here
writes: the rules that turn outcome rows into facts are kept apart from the passes that apply them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q

from attendance.models import Outcome, OutcomeEvent
from followup.models import Case, CaseStatus, TriggerKind

REBOOK_OUTCOMES = (Outcome.CANCELLED_BY_GUARDIAN, Outcome.RESCHEDULED)
ATTENDED = "attended"

EVENT_FIELDS = (
    "id", "outcome", "recorded_at", "replaces_id", "appointment__child_id", "appointment__consultation_id",
    "appointment__starts_at",
)


@dataclass
class Fact:
    child_id: int
    at: datetime
    order: int  # tie-breaker: the event or consultation id
    kind: str  # a TriggerKind, or ATTENDED
    key: str = ""
    event_id: int | None = None
    consultation_id: int | None = None


def fact_time(row: dict) -> datetime:
    """When it happened: the appointment's time for an outcome recorded after it, the
    recording time for a cancellation made before the appointment."""
    return min(row["appointment__starts_at"], row["recorded_at"])


def outcome_event_rows(where: Q) -> list[dict]:
    """The outcome events in ``where`` that count now (not replaced by a correction).

    Most outcomes are attendances; they matter only to a child with an open case."""
    current = OutcomeEvent.objects.filter(where, replaced_by__isnull=True).order_by()
    rows = list(current.exclude(outcome=Outcome.ATTENDED).values(*EVENT_FIELDS))
    rows += list(
        current.filter(
            outcome=Outcome.ATTENDED,
            appointment__child_id__in=Case.objects.filter(status=CaseStatus.OPEN).values("child_id"),
        ).values(*EVENT_FIELDS)
    )
    return rows


def outcome_facts(rows: list[dict]) -> list[Fact]:
    """The facts in these outcome rows: attendances, not brought, nobody at home, repeated cancelling."""
    facts: list[Fact] = []
    for r in rows:
        child_id = r["appointment__child_id"]
        if r["outcome"] == Outcome.ATTENDED:
            facts.append(Fact(child_id, r["appointment__starts_at"], r["id"], ATTENDED))
        elif r["outcome"] in (Outcome.NOT_BROUGHT, Outcome.NO_ACCESS):
            kind = TriggerKind.NOT_BROUGHT if r["outcome"] == Outcome.NOT_BROUGHT else TriggerKind.NO_ACCESS
            facts.append(_event_fact(r, kind))
    facts.extend(repeated_cancelling_facts([r for r in rows if r["outcome"] in REBOOK_OUTCOMES]))
    return facts


def _event_fact(row: dict, kind: str) -> Fact:
    return Fact(
        row["appointment__child_id"], fact_time(row), row["id"], kind, f"event:{row['id']}", row["id"],
        row["appointment__consultation_id"],
    )


def repeated_cancelling_facts(rows: list[dict]) -> list[Fact]:
    """The spec's repeated-cancelling triggers, judged as of each cancellation."""
    if not rows:
        return []
    current = OutcomeEvent.objects.filter(replaced_by__isnull=True).order_by()
    by_consultation = _rebookings_by_consultation(current, rows)
    by_child = _guardian_cancellations_by_child(current, rows)
    same_limit = settings.FOLLOWUP_SAME_CONSULTATION_REBOOKINGS
    period_limit = settings.FOLLOWUP_GUARDIAN_CANCELLATIONS
    window = timedelta(days=settings.FOLLOWUP_CANCELLATION_WINDOW_DAYS)
    facts = []
    for r in rows:
        mine = (fact_time(r), r["id"])
        same = sum(1 for other in by_consultation[r["appointment__consultation_id"]] if other <= mine)
        kind = None
        if same >= same_limit:
            kind = TriggerKind.REPEATED_REBOOKING
        elif r["outcome"] == Outcome.CANCELLED_BY_GUARDIAN:
            recent = sum(1 for other in by_child[r["appointment__child_id"]] if mine[0] - window < other[0] and other <= mine)
            if recent >= period_limit:
                kind = TriggerKind.REPEATED_CANCELLING
        if kind:
            facts.append(_event_fact(r, kind))
    return facts


def _rebookings_by_consultation(current, rows: list[dict]) -> dict[int, list[tuple]]:
    """(time, id) of every rebooking of the consultations that reach the limit."""
    return _events_reaching_limit(
        current.filter(outcome__in=REBOOK_OUTCOMES), "appointment__consultation_id",
        {r["appointment__consultation_id"] for r in rows}, settings.FOLLOWUP_SAME_CONSULTATION_REBOOKINGS,
    )


def _guardian_cancellations_by_child(current, rows: list[dict]) -> dict[int, list[tuple]]:
    """(time, id) of the guardians' cancellations in the window, for the children that reach the limit."""
    guardian_rows = [r for r in rows if r["outcome"] == Outcome.CANCELLED_BY_GUARDIAN]
    if not guardian_rows:
        return defaultdict(list)
    window = timedelta(days=settings.FOLLOWUP_CANCELLATION_WINDOW_DAYS)
    earliest = min(fact_time(r) for r in guardian_rows) - window
    return _events_reaching_limit(
        current.filter(outcome=Outcome.CANCELLED_BY_GUARDIAN, recorded_at__gte=earliest), "appointment__child_id",
        {r["appointment__child_id"] for r in guardian_rows}, settings.FOLLOWUP_GUARDIAN_CANCELLATIONS,
    )


def _events_reaching_limit(events, key: str, keys: set[int], limit: int) -> dict[int, list[tuple]]:
    """(time, id) of ``events`` by ``key``, for the keys with at least ``limit`` of them. Counted in
    the database first, so only the few candidates are read row by row."""
    candidates = list(
        events.filter(**{f"{key}__in": keys}).values(key).annotate(n=Count("id")).filter(n__gte=limit).values_list(key, flat=True)
    )
    found: dict[int, list[tuple]] = defaultdict(list)
    if candidates:
        for e in events.filter(**{f"{key}__in": candidates}).values("id", key, "appointment__starts_at", "recorded_at"):
            found[e[key]].append((fact_time(e), e["id"]))
    return found
