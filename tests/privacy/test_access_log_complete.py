"""Every response that names a child writes the access log (issue 13, finding 5).

The search (by name and by national-id prefix), the nurse's, clerk's and leader's work lists, and
rows redrawn by htmx after booking or recording an outcome each write one row per child shown.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from attendance.models import Consultation, ConsultationState
from attendance.booking import appointment_book
from attendance.plan import child_plan
from followup.steps import case_step_skip
from attendance.booking import appointment_book
from attendance.plan import child_plan
from followup.models import Case
from followup.sweep import followup_sweep
from helsestasjon.models import AccessAction, AccessLog
from tests.factories import AppointmentFactory, ChildFactory, ConsultationFactory, OutcomeEventFactory

pytestmark = pytest.mark.django_db


def listed(user, child) -> int:
    return AccessLog.objects.filter(user=user, child=child, action=AccessAction.VIEW_LIST).count()


def not_brought_case(child, nurse) -> Case:
    at = timezone.now() - timedelta(hours=2)
    appointment = AppointmentFactory(consultation=ConsultationFactory(child=child), starts_at=at, professional=nurse)
    OutcomeEventFactory(appointment=appointment, outcome="not_brought", recorded_at=at + timedelta(minutes=30))
    followup_sweep()
    return Case.objects.get(child=child)


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_search_by_name_logs_every_child_it_shows_and_no_other(login, station_a, station_b, clerk_a, child_a, htmx):
    sister = ChildFactory(station=station_a, given_name="Kari", family_name="Nordmann")
    elsewhere = ChildFactory(station=station_b, given_name="Per", family_name="Nordmann")
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "results"} if htmx else {}
    body = login(clerk_a).get(reverse("children"), {"q": "Nordmann"}, **headers).content.decode()
    assert "Ola" in body and "Kari" in body
    assert listed(clerk_a, child_a) == 1 and listed(clerk_a, sister) == 1
    assert listed(clerk_a, elsewhere) == 0
    assert AccessLog.objects.get(child=child_a).what == "Søk i barn"


def test_a_search_by_national_id_prefix_logs_the_children_it_names(login, station_a, nurse_a, child_a):
    login(nurse_a).get(reverse("children"), {"q": child_a.national_id[:6]})
    assert listed(nurse_a, child_a) == 1


def test_the_nurse_s_clerk_s_and_leader_s_work_lists_log_their_children(login, station_a, nurse_a, clerk_a, leader_a):
    at_clerk = not_brought_case(ChildFactory(station=station_a, given_name="Klara"), nurse_a)
    at_nurse = not_brought_case(ChildFactory(station=station_a, given_name="Nils"), nurse_a)
    case_step_skip(step=at_nurse.current_step, user=clerk_a, reason="Foresatte ringte")
    special = not_brought_case(ChildFactory(station=station_a, given_name="Sara", special_attention=True), nurse_a)
    login(clerk_a).get(reverse("followup:clerk_worklist"))
    login(nurse_a).get(reverse("followup:nurse_worklist"))
    login(leader_a).get(reverse("followup:leader_queue"))
    assert listed(clerk_a, at_clerk.child) == 1 and listed(clerk_a, at_nurse.child) == 0
    assert listed(nurse_a, at_nurse.child) == 1 and listed(nurse_a, at_clerk.child) == 0
    assert listed(leader_a, special.child) == 1 and listed(leader_a, at_clerk.child) == 0


def _due_consultation(station):
    child = ChildFactory(station=station, birth_date=timezone.localdate() - timedelta(days=200))
    child_plan(child=child)
    return Consultation.objects.filter(child=child, state=ConsultationState.DUE).first()


def test_the_booking_row_redrawn_after_booking_is_logged(login, station_a, clerk_a, nurse_a):
    consultation = _due_consultation(station_a)
    prefix = f"c{consultation.pk}"
    data = {
        f"{prefix}-date": (timezone.localdate() + timedelta(days=3)).isoformat(), f"{prefix}-time": "10:30",
        f"{prefix}-duration_minutes": "30", f"{prefix}-place": "station", f"{prefix}-professional": str(nurse_a.pk),
    }
    response = login(clerk_a).post(
        reverse("attendance:book", args=[consultation.pk]), data,
        HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"konsultasjon-{consultation.pk}",
    )
    assert consultation.child.list_name in response.content.decode()
    assert listed(clerk_a, consultation.child) == 1


def test_the_day_row_redrawn_after_recording_an_outcome_is_logged(login, station_a, nurse_a):
    consultation = _due_consultation(station_a)
    appointment = appointment_book(
        consultation=consultation, starts_at=timezone.make_aware(datetime.combine(timezone.localdate(), time(10))),
        duration_minutes=30, place="station", professional=nurse_a, booked_by=nurse_a,
    )
    response = login(nurse_a).post(
        reverse("attendance:record_outcome", args=[appointment.pk]), {"outcome": "attended"},
        HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"time-{appointment.pk}",
    )
    assert consultation.child.given_name in response.content.decode()
    assert listed(nurse_a, consultation.child) == 1
