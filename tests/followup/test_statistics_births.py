"""SSB's "births in the year" (the denominator of the newborn measures): children born in the year
who lived in the municipality as newborns, counted at the station they belonged to then, whatever
happened later in the year. Hand-counted below."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from followup.statistics import figures, kostra
from followup.statistics.scope import Scope
from helsestasjon.models import Child, ChildStatus, Role
from helsestasjon.services import child_update_from_register
from tests.factories import UserFactory
from tests.followup.statistics_population import at, register


@pytest.fixture
def leader(station_a, station_b):
    return UserFactory(role=Role.LEADER, stations=[station_a, station_b])


@pytest.fixture
def births_2025(station_a, station_b):
    """Who was born where in 2025. The comment on each child says where SSB counts it."""
    register(station_a, "Bodde", born=date(2025, 3, 1))  # born at A, stays: A
    moved_station = register(station_a, "Byttet", born=date(2025, 2, 1))  # born at A, to B in September: A
    moved_out = register(station_a, "Utflyttet", born=date(2025, 4, 1))  # born at A, left the municipality: A
    died = register(station_a, "Dod", born=date(2025, 5, 1))  # born at A, died in June: A
    # Born in January elsewhere, moved to A at four months (its home visit "arrived after the window"):
    # born in another municipality, counted there.
    register(station_a, "Innflyttet", born=date(2025, 1, 10), arrived=date(2025, 5, 10))
    register(station_a, "Ifjor", born=date(2024, 12, 20))  # born in 2024: not 2025's births
    register(station_b, "Bfodt", born=date(2025, 7, 1))  # born at B: B
    child_update_from_register(child=moved_station, station=station_b)
    Child.objects.filter(pk=moved_out.pk).update(status=ChildStatus.MOVED, status_changed_at=at(date(2025, 10, 1)))
    Child.objects.filter(pk=died.pk).update(status=ChildStatus.DECEASED, status_changed_at=at(date(2025, 6, 1)))


def born_at(leader, *stations, year: int = 2025) -> set[str]:
    scope = Scope(station_ids=tuple(s.pk for s in stations), start=date(year, 1, 1), end=date(year, 12, 31), today=date(2026, 1, 15))
    request = figures.FigureRequest(category="denominator", detail="home_visit_14")
    return {c.given_name for c in figures.figure_children(leader, scope, "kostra", request)}


def test_births_count_at_the_station_the_child_belonged_to_as_a_newborn(births_2025, station_a, station_b, leader):
    assert born_at(leader, station_a) == {"Bodde", "Byttet", "Utflyttet", "Dod"}
    assert born_at(leader, station_b) == {"Bfodt"}
    assert born_at(leader, station_a, station_b) == {"Bodde", "Byttet", "Utflyttet", "Dod", "Bfodt"}
    counts = kostra.ssb_counts([station_a.pk, station_b.pk], 2025)
    for measure in ("home_visit_14", "home_visit_10", "week_8"):
        assert counts[station_a.pk][measure]["denominator"] == 4
        assert counts[station_b.pk][measure]["denominator"] == 1


def test_a_newborn_whose_journal_moves_in_its_first_days_was_born_at_the_new_station(station_a, station_b, leader):
    # The journal was opened at the wrong station and corrected while the child is a newborn.
    today = timezone.localdate()
    child = register(station_a, "Rettet", born=today - timedelta(days=3))
    child_update_from_register(child=child, station=station_b)
    assert born_at(leader, station_b, year=today.year) == {"Rettet"}
    assert born_at(leader, station_a, year=today.year) == set()
