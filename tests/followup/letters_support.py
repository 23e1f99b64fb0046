"""Helpers for the letters and SMS tests: a case at a letter step, PDF text, media in a temp dir."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.utils import timezone
from pypdf import PdfReader

from followup.models import Case, CaseStep, StepKind
from followup.ladder import ladder_for_municipality
from tests.factories import AppointmentFactory, ConsultationFactory, GuardianFactory, GuardianshipFactory, OutcomeEventFactory
from tests.factories import ChildFactory


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def case_at_step(child, kind=StepKind.LETTER_NEW_INVITATION, *, missed_at=None, nurse=None):
    """An open case whose active step is ``kind``; optionally with a not-brought appointment."""
    now = timezone.now()
    case = Case.objects.create(child=child, station=child.station, triggered_at=now)
    if missed_at is not None:
        from followup.models import CaseTrigger, TriggerKind

        appointment = AppointmentFactory(consultation=ConsultationFactory(child=child), starts_at=missed_at, professional=nurse, status="not_brought")
        event = OutcomeEventFactory(appointment=appointment, outcome="not_brought", reason="illness")
        CaseTrigger.objects.create(case=case, kind=TriggerKind.NOT_BROUGHT, source_key=f"e{event.id}", outcome_event=event, occurred_at=missed_at)
    ladder = ladder_for_municipality(municipality_id=child.station.municipality_id)
    rung = next(s for s in ladder if s.kind == kind)
    step = CaseStep.objects.create(
        case=case, cycle=1, seq=1, ladder_step=rung, order=rung.order, kind=rung.kind, name=rung.name,
        owner_role=rung.owner_role, deadline=timezone.localdate() + timedelta(days=10),
    )
    case.current_step = step
    case.save(update_fields=["current_step"])
    return case, step


def children_at_step(station, n: int, contact) -> None:
    """`n` children Barn0 … Barn<n-1> Hansen at `station`, each with its guardian (`contact(child, i)`)
    and a case at the letter step."""
    for i in range(n):
        child = ChildFactory(station=station, given_name=f"Barn{i}", family_name="Hansen")
        contact(child, i)
        case_at_step(child)


def parent(child, *, responsibility=True, caretaker=False, relation="mother", **guardian):
    g = GuardianFactory(**guardian)
    GuardianshipFactory(child=child, guardian=g, parental_responsibility=responsibility, is_caretaker=caretaker, relation=relation)
    return g


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(data)).pages)


def pdf_pages(data: bytes) -> int:
    return len(PdfReader(io.BytesIO(data)).pages)
