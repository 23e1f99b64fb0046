"""Helpers for attendance tests: children with a plan, and booked appointments."""

from __future__ import annotations

import importlib
from datetime import date, datetime, time, timedelta

import pytest
from django.utils import timezone

from attendance.models import Consultation, Place
from attendance.booking import appointment_book
from attendance.plan import child_plan
from helsestasjon.models import Language, Relation
from tests.factories import ChildFactory, GuardianFactory, GuardianshipFactory, next_national_id


def local(day: date, hour: int = 9, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def registration(station, **changes) -> dict:
    """The form for registering a newborn by hand at `station`, with `changes`."""
    born = timezone.localdate() - timedelta(days=5)
    data = {
        "arrival": "birth", "national_id": next_national_id(), "given_name": "Tiril", "family_name": "Dahl",
        "birth_date": born.strftime("%d.%m.%Y"), "sex": "female", "station": str(station.pk),
        "street_address": "Fjordgata 2", "postal_code": "5003", "city": "Bergen",
        "guardian_national_id": "", "guardian_given_name": "Kari", "guardian_family_name": "Dahl",
        "guardian_relation": "mother", "guardian_mobile": "91234567", "guardian_language": "nb",
    }
    data.update(changes)
    return data


def ensure_programme() -> None:
    """Load the default programme if it is missing.

    It comes from a data migration, and a transactional test (the concurrency and
    browser tests, in any app) empties every table when it ends.
    """
    from django.apps import apps

    from attendance.models import ProgrammeStep

    if not ProgrammeStep.objects.exists():
        migration = importlib.import_module("attendance.migrations.0003_default_programme")
        migration.load(apps, None)


@pytest.fixture(autouse=True)
def programme(request):
    if request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames):
        request.getfixturevalue("db")  # Follows the test's marker: transactional or not.
        ensure_programme()


@pytest.fixture
def planned_child(programme):
    """planned_child(station, birth_date=..., today=...) -> a child with guardians and a plan."""

    def make(station, *, birth_date=None, today=None, **fields):
        today = today or timezone.localdate()
        child = ChildFactory(station=station, birth_date=birth_date or today - timedelta(days=200), **fields)
        GuardianshipFactory(child=child, guardian=GuardianFactory(given_name="Mona"), relation=Relation.MOTHER)
        GuardianshipFactory(
            child=child,
            guardian=GuardianFactory(given_name="Ali", preferred_language=Language.AR, interpreter_needed=True),
            relation=Relation.FATHER,
        )
        child_plan(child=child, today=today)
        return child

    return make


@pytest.fixture
def booked():
    """booked(child, professional, starts_at=..., step_code=None) -> an appointment for an open consultation."""

    def make(child, professional, *, starts_at=None, step_code=None, place=Place.STATION, booked_by=None):
        qs = Consultation.objects.filter(child=child, state__in=["due", "planned", "expired"]).order_by("step__order")
        consultation = qs.filter(step__code=step_code).get() if step_code else qs.first()
        return appointment_book(
            consultation=consultation, starts_at=starts_at or local(timezone.localdate(), 10), duration_minutes=30,
            place=place, room="Rom 1", professional=professional, booked_by=booked_by or professional,
        )

    return make


# The fake register over real HTTP (tests/registry_sync): registering a child asks it.
from tests.registry_sync.conftest import register  # noqa: E402, F401
