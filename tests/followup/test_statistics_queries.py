"""Every figure of the leader's statistics against a small population with known answers."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from attendance.models import Outcome, ProgrammeStep, Reason
from followup.statistics import appointments, figures
from followup.statistics import coverage as cohort
from followup.statistics.scope import FigureError, Scope
from helsestasjon.models import ChildStatus
from tests.followup.statistics_population import (
    EXPECTED_HV,
    TODAY,
    build,
    leave,
    register,
    scope_for,
    visit,
)


@pytest.fixture
def population(station_a, station_b, nurse_a, nurse_b):
    return build(station_a, station_b, nurse_a, nurse_b)


@pytest.fixture
def steps(db):
    return list(ProgrammeStep.objects.order_by("order"))


def children_of(user, scope, figure: str, **request):
    return figures.figure_children(user, scope, figure, figures.FigureRequest(**request))


def names(user, scope, figure: str, **request) -> set[str]:
    return {child.given_name for child in children_of(user, scope, figure, **request)}


def test_home_visit_coverage_counts_every_category(population, station_a, steps):
    coverage = cohort.coverage(scope_for(station_a), steps)
    assert coverage.row_for("HV").counts == EXPECTED_HV


def test_the_four_outcomes_split_the_denominator_exactly(population, station_a, steps):
    coverage = cohort.coverage(scope_for(station_a), steps)
    for row in [*coverage.rows, coverage.total]:
        c = row.counts
        assert c["in_window"] + c["late"] + c["expired"] + c["open"] == c["due"]


def test_each_coverage_figure_lists_exactly_its_children(population, station_a, leader_a, steps):
    scope = scope_for(station_a)
    hv = ProgrammeStep.objects.get(code="HV")
    expected = {
        "due": {"Itide", "Forsent", "Aldri", "Dodetter", "Rettet", "Flyttetetter", "Desember"},
        "in_window": {"Itide", "Flyttetetter"},
        "late": {"Forsent"},
        "expired": {"Aldri", "Dodetter", "Rettet"},
        "open": {"Desember"},
        "not_applicable": {"Innflyttet"},
        "left": {"Flyttetfor"},
    }
    for category, children in expected.items():
        assert names(leader_a, scope, "coverage", category=category, step=hv) == children, category
    coverage = cohort.coverage(scope, steps)
    for row in coverage.rows:
        for category in cohort.COVERAGE_LABELS:
            listed = children_of(leader_a, scope, "coverage", category=category, step=row.step).count()
            assert listed == row.counts[category], (row.step.code, category)


def test_a_child_arriving_mid_window_counts_for_the_open_consultation_only(population, station_a, leader_a):
    scope = scope_for(station_a)
    w4 = ProgrammeStep.objects.get(code="W4")
    hv = ProgrammeStep.objects.get(code="HV")
    assert "Innflyttet" in names(leader_a, scope, "coverage", category="due", step=w4)
    assert "Innflyttet" not in names(leader_a, scope, "coverage", category="due", step=hv)


def test_a_period_that_has_ended_has_nothing_open(population, station_a, steps):
    coverage = cohort.coverage(scope_for(station_a, today=date(2026, 6, 1)), steps)
    hv = coverage.row_for("HV").counts
    assert hv["open"] == 0
    assert hv["expired"] == EXPECTED_HV["expired"] + 1  # the December baby was never visited


def test_another_station_only_sees_its_own_children(population, station_b, steps):
    hv = cohort.coverage(scope_for(station_b), steps).row_for("HV").counts
    assert hv["due"] == 1 and hv["in_window"] == 1


def test_not_brought_and_cancelled_per_consultation(population, station_a, steps):
    rows, total = _rows_and_total(appointments.appointment_figures(scope_for(station_a), steps))
    by_code = {row.step.code: row.counts for row in rows}
    none = {"cancelled_by_service": 0, "cancelled_by_register": 0}
    assert by_code["HV"] == {"with_outcome": 5, "attended": 3, "not_brought": 2, "cancelled_by_guardian": 1, **none}
    assert by_code["W4"] == {"with_outcome": 1, "attended": 0, "not_brought": 1, "cancelled_by_guardian": 0, **none}
    assert total.counts == {"with_outcome": 5, "attended": 3, "not_brought": 2, "cancelled_by_guardian": 1, **none}
    assert total.share("not_brought") == pytest.approx(40.0)


def test_appointment_figures_list_their_children(population, station_a, leader_a):
    scope = scope_for(station_a)
    hv = ProgrammeStep.objects.get(code="HV")
    assert names(leader_a, scope, "appointments", category="not_brought", step=hv) == {"Aldri", "Rettet"}
    assert names(leader_a, scope, "appointments", category="cancelled_by_guardian", step=hv) == {"Forsent"}
    assert len(names(leader_a, scope, "appointments", category="with_outcome")) == 5


def test_reasons_follow_the_corrected_outcome(population, station_a, leader_a):
    rows = {row.reason: row.counts for row in appointments.appointment_figures(scope_for(station_a), []).reasons}
    assert rows == {
        Reason.ILLNESS: {"not_brought": 1, "cancelled_by_guardian": 1},
        Reason.FORGOT: {"not_brought": 1, "cancelled_by_guardian": 0},
        Reason.LANGUAGE: {"not_brought": 1, "cancelled_by_guardian": 0},
    }
    scope = scope_for(station_a)
    assert names(leader_a, scope, "reasons", category="not_brought", reason=Reason.LANGUAGE) == {"Rettet"}
    assert names(leader_a, scope, "reasons", category="cancelled_by_guardian", reason=Reason.ILLNESS) == {"Forsent"}


def test_recurring_children_are_counted_by_how_often_they_were_not_brought(population, station_a, leader_a):
    scope = scope_for(station_a)
    assert appointments.appointment_figures(scope, []).recurrence == {"once": 1, "twice": 1, "three_or_more": 0}
    assert names(leader_a, scope, "recurrence", category="twice") == {"Aldri"}
    assert names(leader_a, scope, "recurrence", category="once") == {"Rettet"}


def test_trend_per_month(population, station_a, leader_a):
    scope = scope_for(station_a)
    months = {row.month: row.counts for row in appointments.appointment_figures(scope, []).months}
    assert len(months) == 12
    assert months[date(2025, 3, 1)] == {"with_outcome": 5, "not_brought": 2, "cancelled_by_guardian": 1}
    assert months[date(2025, 4, 1)] == {"with_outcome": 1, "not_brought": 1, "cancelled_by_guardian": 0}
    assert months[date(2025, 5, 1)] == {"with_outcome": 0, "not_brought": 0, "cancelled_by_guardian": 0}
    assert names(leader_a, scope, "trend", category="not_brought", month="2025-04") == {"Aldri"}


def test_unknown_figures_are_refused(population, station_a, leader_a):
    scope = scope_for(station_a)
    for name, request in [
        ("coverage", {"category": "nonsense", "step": ProgrammeStep.objects.first()}),
        ("coverage", {"category": "due"}),
        ("bogus", {"category": "due"}),
        ("reasons", {"category": "not_brought", "reason": "nope"}),
        ("trend", {"category": "not_brought", "month": "2031-13"}),
        ("trend", {"category": "not_brought", "month": "2030-01"}),
        ("kostra", {"category": "numerator", "detail": "nope"}),
        ("kostra", {"category": "nonsense", "detail": "year_2"}),
    ]:
        with pytest.raises(FigureError):
            figures.figure_child_ids(scope, name, figures.FigureRequest(**request))


def test_the_station_rule_applies_to_child_lists(population, station_a, station_b, nurse_b):
    # A user of station B asking for station A's figure sees none of A's children.
    scope = scope_for(station_a)
    hv = ProgrammeStep.objects.get(code="HV")
    assert names(nurse_b, scope, "coverage", category="due", step=hv) == set()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_share_exceeds_100_percent_in_a_random_population(seed, station_a, nurse_a, leader_a, steps):
    """Random arrivals, moves, deaths, visits in and after the window, and corrections."""
    rng = random.Random(seed)
    start = date(2024, 1, 1)
    for index in range(14):
        born = start + timedelta(days=rng.randrange(0, 700))
        arrived = born + timedelta(days=rng.choice([0, 0, 0, 10, 40, 120, 400]))
        if arrived > date(2026, 6, 1):
            arrived = born
        child = register(station_a, f"R{index}", born=born, arrived=arrived)
        for code in rng.sample(["HV", "W4", "W6", "M3", "M6", "M12", "Y2"], 3):
            consultation = child.consultations.get(step__code=code)
            if consultation.state == "not_applicable":
                continue
            day = consultation.window_opens + timedelta(days=rng.randrange(-5, 60))
            outcome = rng.choice([Outcome.ATTENDED, Outcome.ATTENDED, Outcome.NOT_BROUGHT, Outcome.CANCELLED_BY_GUARDIAN])
            event = visit(child, code, day, nurse_a, outcome=outcome)
            if outcome == Outcome.ATTENDED and rng.random() < 0.2:
                from attendance.outcomes import outcome_correct

                outcome_correct(event=event, outcome=Outcome.NOT_BROUGHT, recorded_by=nurse_a)
        if rng.random() < 0.3:
            leave(child, rng.choice([ChildStatus.MOVED, ChildStatus.DECEASED, ChildStatus.EMIGRATED]),
                  born + timedelta(days=rng.randrange(0, 500)))
    for year in (2024, 2025):
        scope = Scope(station_ids=(station_a.pk,), start=date(year, 1, 1), end=date(year, 12, 31), today=TODAY)
        coverage = cohort.coverage(scope, steps)
        for row in [*coverage.rows, coverage.total]:
            c = row.counts
            assert c["in_window"] + c["late"] + c["expired"] + c["open"] == c["due"]
            assert c["in_window_closed"] <= c["closed"] <= c["due"]
            for key in ("in_window", "late", "expired", "open"):
                assert row.share(key) is None or 0 <= row.share(key) <= 100
        for row in coverage.rows:
            for category in ("due", "in_window", "late", "expired", "left"):
                listed = children_of(leader_a, scope, "coverage", category=category, step=row.step).count()
                assert listed == row.counts[category]
        rows, total = _rows_and_total(appointments.appointment_figures(scope, steps))
        for row in [*rows, total]:
            for key in ("attended", "not_brought", "cancelled_by_guardian", "cancelled_by_service"):
                assert row.counts[key] <= row.counts["with_outcome"]
        for row in rows:
            listed = children_of(leader_a, scope, "appointments", category="not_brought", step=row.step).count()
            assert listed == row.counts["not_brought"]


def _rows_and_total(result):
    return result.rows, result.total
