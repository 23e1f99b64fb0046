"""The demo hook: every demo child is planned, with history and a filled day for the demo nurses."""

from __future__ import annotations

import pytest
from django.urls import reverse

from attendance.models import Appointment, Consultation, OutcomeEvent
from helsestasjon.demo import seed_demo
from helsestasjon.models import Child, User

pytestmark = pytest.mark.django_db


def test_the_demo_plans_every_child_and_fills_the_nurses_day(settings, login):
    settings.DEMO_SEEDERS = ["attendance.demo.seed"]
    seed_demo(children=120, seed=5)
    assert Consultation.objects.count() == 14 * Child.objects.count()
    assert OutcomeEvent.objects.count() == Appointment.objects.exclude(status="booked").count() > 0
    assert Appointment.objects.filter(status="not_brought").exists()
    page = login(User.objects.get(username="sykepleier_a")).get(reverse("attendance:day")).content.decode()
    assert page.count('<tr id="time-') >= 5
    worklist = login(User.objects.get(username="merkantil_a")).get(reverse("attendance:booking_worklist")).content.decode()
    assert '<tr id="konsultasjon-' in worklist


def test_seeding_the_demo_again_books_the_nurses_around_their_booked_times(settings):
    # A second run adds children and books them into the same nurses' days; the exclusion
    # constraint would refuse the run if any two booked times of one nurse overlapped.
    settings.DEMO_SEEDERS = ["attendance.demo.seed"]
    seed_demo(children=120, seed=5)
    first = Appointment.objects.filter(status="booked").count()
    seed_demo(children=120, seed=6)
    assert Appointment.objects.filter(status="booked").count() > first
