"""Follow-up figures on the leader's statistics: cases opened and closed, reasons, time to close,
steps reached and reports of concern, each with the children behind it."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.urls import reverse

from followup.models import (
    Case,
    CaseStatus,
    CaseStep,
    CloseReason,
    Decision,
    LeaderDecision,
    StepKind,
)
from followup.closing import case_close
from followup.statistics import cases as case_figures
from followup.statistics import figures
from followup.statistics.scope import FigureError
from helsestasjon.models import Role
from tests.factories import UserFactory
from tests.followup.statistics_population import at, build, scope_for

LADDER = [StepKind.SMS_REBOOK, StepKind.PHONE_CALL, StepKind.ADDRESS_CHECK]


def make_case(child, *, opened: date, steps: int, closed: date | None = None, reason: str = "") -> Case:
    case = Case.objects.create(
        child=child, station=child.station, opened_at=at(opened), triggered_at=at(opened), status=CaseStatus.OPEN,
    )
    for seq, kind in enumerate(LADDER[:steps], start=1):
        CaseStep.objects.create(
            case=case, cycle=1, seq=seq, order=seq, kind=kind, name=StepKind(kind).label, owner_role=Role.CLERK,
            started_at=at(opened + timedelta(days=seq)), deadline=opened + timedelta(days=seq + 2),
            status="active" if (seq == steps and not closed) else "done",
        )
    if closed:
        # Through the service, which writes the closing into the history the figures count.
        case_close(case=case, reason=reason, closed_by=None, now=at(closed))
    return case


def report_concern(case: Case, on: date, leader) -> None:
    LeaderDecision.objects.create(
        case=case, step=case.steps.last(), decision=Decision.CONCERN_REPORT, concern_report_date=on,
        concern_report_reference="BV-1", note="Meldt etter drøfting.", decided_by=leader,
    )


@pytest.fixture
def cases(station_a, station_b, nurse_a, nurse_b, leader_a):
    children = build(station_a, station_b, nurse_a, nurse_b)
    never_seen = make_case(children["never_seen"], opened=date(2025, 3, 11), steps=3)
    report_concern(never_seen, date(2025, 6, 1), leader_a)
    make_case(children["corrected_away"], opened=date(2025, 3, 9), steps=1, closed=date(2025, 3, 19), reason=CloseReason.ATTENDED)
    make_case(children["died_after_window"], opened=date(2025, 3, 16), steps=1, closed=date(2025, 3, 20), reason=CloseReason.DECEASED)
    make_case(children["corrected_away"], opened=date(2025, 5, 1), steps=2, closed=date(2025, 5, 31), reason=CloseReason.GP_CONFIRMED)
    earlier = make_case(children["late"], opened=date(2024, 12, 1), steps=1, closed=date(2025, 1, 10), reason=CloseReason.ATTENDED)
    report_concern(earlier, date(2024, 12, 15), leader_a)
    make_case(children["other_station"], opened=date(2025, 3, 10), steps=3)
    return children


def test_followup_figures(cases, station_a):
    figures = case_figures.followup(scope_for(station_a))
    assert figures.opened == 3  # a child with two cases counts once
    assert figures.closed == 3
    assert figures.median_days_to_close == 20.0  # cases of 4, 10, 30 and 40 days
    assert figures.closed_by_reason == [
        (CloseReason.ATTENDED, "Barnet møtte til konsultasjon", 2),
        (CloseReason.DECEASED, "Død", 1),
        (CloseReason.GP_CONFIRMED, "Oppfølging hos fastlege bekreftet", 1),
    ]
    assert [(kind, n) for kind, _label, n in figures.steps_reached] == [
        (StepKind.SMS_REBOOK, 3), (StepKind.PHONE_CALL, 2), (StepKind.ADDRESS_CHECK, 1),
    ]
    assert figures.concern_reports_by_year == [(2025, 1)]


def test_no_cases_gives_no_median(station_a, db):
    figures = case_figures.followup(scope_for(station_a))
    assert (figures.opened, figures.closed, figures.median_days_to_close) == (0, 0, None)


def test_followup_children(cases, station_a, leader_a):
    scope = scope_for(station_a)

    def names(category, detail=""):
        return {c.given_name for c in figures.figure_children(leader_a, scope, "followup", figures.FigureRequest(category=category, detail=detail))}

    assert names("opened") == {"Aldri", "Rettet", "Dodetter"}
    assert names("closed", CloseReason.ATTENDED) == {"Rettet", "Forsent"}
    assert names("step", StepKind.ADDRESS_CHECK) == {"Aldri"}
    assert names("concern", "2025") == {"Aldri"}
    with pytest.raises(FigureError):
        names("step", "nonsense")


def test_every_followup_number_on_the_page_lists_that_many_children(cases, login, leader_a):
    client = login(leader_a)
    html = client.get(reverse("followup:statistics:page"), {"fra": "2025-01-01", "til": "2025-12-31"}).content.decode()
    section = html[html.index('id="oppfolging"'):]
    links = re.findall(r'<a href="(/oppfolging/statistikk/barn/\?[^"]+)">(\d+)</a>', section)
    assert len(links) == 9
    assert "20,0" in section
    for href, number in links:
        listed = client.get(href.replace("&amp;", "&")).content.decode()
        assert listed.count('<tr class="child-row">') == int(number), href


def test_admin_sees_concern_report_counts_but_not_the_children(cases, login):
    admin = UserFactory(username="admin", role=Role.ADMIN)
    client = login(admin)
    html = client.get(reverse("followup:statistics:page"), {"fra": "2025-01-01", "til": "2025-12-31"}).content.decode()
    assert "kategori=concern" not in html
    response = client.get(
        reverse("followup:statistics:children"),
        {"fra": "2025-01-01", "til": "2025-12-31", "tall": "followup", "kategori": "concern", "detalj": "2025"},
    )
    assert response.status_code == 400
