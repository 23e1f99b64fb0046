"""The daily state task: planned -> due -> expired, safe to run twice or concurrently."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from attendance.models import Consultation, ConsultationState
from attendance.plan import consultations_advance_states
from attendance.tasks import advance_consultation_states
from helsestasjon.models import ChildStatus
from tests.concurrency import at_once

S = ConsultationState


@pytest.mark.django_db
def test_consultations_become_due_then_expire(station_a, planned_child):
    child = planned_child(station_a, birth_date=date(2026, 1, 10), today=date(2026, 1, 10))
    m3 = Consultation.objects.get(child=child, step__code="M3")
    consultations_advance_states(today=m3.window_opens)
    m3.refresh_from_db()
    assert m3.state == S.DUE and m3.due_at is not None
    consultations_advance_states(today=m3.window_closes)
    m3.refresh_from_db()
    assert m3.state == S.EXPIRED and m3.expired_at is not None


@pytest.mark.django_db
def test_running_the_task_twice_moves_each_consultation_once(station_a, planned_child):
    child = planned_child(station_a, birth_date=date(2026, 1, 10), today=date(2026, 1, 10))
    later = date(2026, 6, 1)
    first = consultations_advance_states(today=later)
    expired_at = dict(Consultation.objects.filter(child=child, state=S.EXPIRED).values_list("id", "expired_at"))
    second = consultations_advance_states(today=later)
    assert first == {"expired": 4, "due": 2}  # HV..M3 closed; M4 and M5 open on 1 June.
    assert second == {"due": 0, "expired": 0}
    assert dict(Consultation.objects.filter(child=child, state=S.EXPIRED).values_list("id", "expired_at")) == expired_at


@pytest.mark.django_db
def test_booked_consultations_and_children_who_left_are_not_expired(station_a, nurse_a, planned_child, booked):
    child = planned_child(station_a)
    appointment = booked(child, nurse_a)
    gone = planned_child(station_a)
    gone.status = ChildStatus.MOVED
    gone.save()
    consultations_advance_states(today=date.today() + timedelta(days=3000))
    appointment.consultation.refresh_from_db()
    assert appointment.consultation.state == S.BOOKED
    assert not Consultation.objects.filter(child=gone, state=S.EXPIRED).exists()


@pytest.mark.django_db
def test_the_celery_task_runs_the_service(station_a, planned_child):
    planned_child(station_a)
    result = advance_consultation_states.delay().get()
    assert set(result) == {"due", "expired"}


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_runs_move_each_consultation_exactly_once(station_a, planned_child):
    for _ in range(20):
        planned_child(station_a, birth_date=date(2025, 1, 10), today=date(2025, 1, 10))
    later = date(2026, 1, 10)
    results = at_once(lambda: consultations_advance_states(today=later), lambda: consultations_advance_states(today=later))
    expired = Consultation.objects.filter(state=S.EXPIRED).count()
    due = Consultation.objects.filter(state=S.DUE).count()
    assert sum(r["expired"] for r in results) == expired == 20 * 9  # HV..M10 closed on the first birthday.
    assert sum(r["due"] for r in results) == due == 20


@pytest.mark.django_db
def test_the_command_reports_what_it_moved_and_refuses_a_bad_date(station_a, planned_child):
    from io import StringIO

    from django.core.management import CommandError, call_command

    planned_child(station_a, birth_date=date(2026, 1, 10), today=date(2026, 1, 10))
    out = StringIO()
    call_command("advance_consultation_states", "--dato", "2026-06-01", stdout=out)
    assert out.getvalue().strip() == "Aktuelle: 2, utløpte: 4."
    with pytest.raises(CommandError, match="Ugyldig dato"):
        call_command("advance_consultation_states", "--dato", "1. juni")
