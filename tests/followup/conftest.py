"""Helpers for follow-up tests: attendance facts made with factories, and a fixed clock."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from django.utils import timezone

from tests.factories import AppointmentFactory, ConsultationFactory, OutcomeEventFactory


def local(day: date, hour: int = 9, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


@pytest.fixture
def outcome(nurse_a):
    """outcome(child, "not_brought", at=datetime, consultation=None) -> an OutcomeEvent for a new appointment."""

    def make(child, value, *, at=None, consultation=None, recorded_at=None, reason=""):
        at = at or timezone.now() - timedelta(hours=2)
        consultation = consultation or ConsultationFactory(child=child)
        appointment = AppointmentFactory(consultation=consultation, starts_at=at, professional=nurse_a)
        return OutcomeEventFactory(appointment=appointment, outcome=value, recorded_at=recorded_at or at + timedelta(minutes=30), reason=reason)

    return make


@pytest.fixture
def sms_outbox():
    from followup.sms.backends import MemoryBackend

    MemoryBackend.outbox.clear()
    yield MemoryBackend.outbox
    MemoryBackend.outbox.clear()
