"""Issue 21: KOSTRA as SSB counts it, figures that count what their labels say, a reported year
kept as reported. Every dataset is built through the services; every expectation is a hand count."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from attendance.forms import OutcomeForm
from attendance.models import (
    Appointment,
    AppointmentStatus,
    Consultation,
    Outcome,
    OutcomeEvent,
    Place,
    Reason,
)
from attendance.booking import appointment_book
from attendance.outcomes import appointment_record_outcome
from followup.models import Case, CaseStatus, CloseReason, KostraReport
from followup.closing import case_close
from followup.sweep import followup_sweep
from followup.statistics import cases, figures, kostra
from followup.closing import case_close
from followup.sweep import followup_sweep
from followup.statistics import appointments, cases, figures, kostra
from followup.statistics.scope import Scope
from helsestasjon.models import AccessLog, Child, ChildStatus, Role
from registry_sync.effects import effect_stop
from tests.factories import UserFactory
from tests.followup.statistics_population import at, register

PAGE = "followup:statistics:page"
CSV = "followup:statistics:kostra_csv"
YEAR_2025 = {"fra": "2025-01-01", "til": "2025-12-31"}

HV14 = "Andel nyfødte med hjemmebesøk av helsesykepleier innen 14 dager etter hjemkomst"
HV10 = "Andel nyfødte med hjemmebesøk av helsesykepleier innen 10 dager etter hjemkomst"
WEEK8 = "Andel spedbarn med fullført helseundersøkelse innen utgangen av 8. leveuke"
YEAR2 = "Andel barn med fullført helseundersøkelse ved 2-årsalder"
YEAR4 = "Andel barn med fullført helseundersøkelse ved 4-årsalder"


def attend(child, code: str, day: date, by, *, place: str = Place.STATION, outcome: str = Outcome.ATTENDED, reason: str = ""):
    consultation = Consultation.objects.get(child=child, step__code=code)
    appointment = appointment_book(
        consultation=consultation, starts_at=at(day), duration_minutes=30, place=place, professional=by, booked_by=by
    )
    return appointment_record_outcome(appointment=appointment, outcome=outcome, reason=reason, recorded_by=by)


def leave(child, status: str, day: date) -> None:
    Child.objects.filter(pk=child.pk).update(status=status, status_changed_at=at(day, 12))


@pytest.fixture
def ssb_population(station_a, nurse_a, leader_a):
    """Station A's 2025 as SSB counts it. The comment on each child says what it adds."""
    home = Place.HOME
    a = register(station_a, "Anna", born=date(2025, 3, 1))  # born 2025
    attend(a, "HV", date(2025, 3, 9), nurse_a, place=home)  # day 8 at home by a nurse: 14 and 10 days
    attend(a, "W6", date(2025, 4, 10), nurse_a)  # day 40: by the end of week 8
    b = register(station_a, "Bror", born=date(2025, 3, 1))  # born 2025
    attend(b, "HV", date(2025, 3, 13), nurse_a, place=home)  # day 12: 14 days, not 10
    attend(b, "W6", date(2025, 5, 1), nurse_a)  # day 61: after week 8
    c = register(station_a, "Cecilie", born=date(2025, 3, 1))  # born 2025
    attend(c, "HV", date(2025, 3, 5), nurse_a)  # at the station: not a home visit
    c2 = register(station_a, "Cato", born=date(2025, 3, 1))  # born 2025
    attend(c2, "HV", date(2025, 3, 7), leader_a, place=home)  # at home, but not by a nurse
    d = register(station_a, "David", born=date(2024, 12, 25))  # born 2024: not in 2025's births
    attend(d, "HV", date(2025, 1, 3), nurse_a, place=home)  # day 9, done in 2025: counts (so a share may pass 100 %)
    register(station_a, "Emma", born=date(2025, 12, 28))  # born 2025, visited only in 2026
    f = register(station_a, "Frida", born=date(2023, 6, 1))  # aged 2
    attend(f, "Y2", date(2025, 6, 10), nurse_a)
    g = register(station_a, "Georg", born=date(2022, 11, 1))  # aged 3: not in the 2-year population
    attend(g, "Y2", date(2025, 2, 1), nurse_a)  # the 2-year examination, late, done in 2025: counts
    g2 = register(station_a, "Gro", born=date(2022, 12, 1))  # aged 3
    attend(g2, "Y2", date(2025, 1, 20), nurse_a)  # done in 2025: counts
    register(station_a, "Henrik", born=date(2023, 3, 1))  # aged 2, not examined
    i = register(station_a, "Ida", born=date(2023, 5, 1))  # aged 2, moved away in 2025: not resident at the end
    j = register(station_a, "Jonas", born=date(2021, 4, 1))  # aged 4
    attend(j, "Y4", date(2025, 4, 15), nurse_a)
    k = register(station_a, "Kari", born=date(2021, 9, 1))  # aged 4, died in 2026: resident at the end of 2025
    leave(i, ChildStatus.MOVED, date(2025, 8, 1))
    leave(k, ChildStatus.DECEASED, date(2026, 2, 1))
    return {"a": a, "b": b, "d": d, "f": f, "g": g, "g2": g2, "j": j}


# SSB's measures for station A in 2025, counted by hand from the population above:
# births in 2025: Anna, Bror, Cecilie, Cato, Emma = 5; aged 2 resident: Frida, Henrik = 2;
# aged 4 resident: Jonas, Kari = 2.
HAND_COUNT = {
    HV14: ("3", "5", "60,0"),  # Anna, Bror, David
    HV10: ("2", "5", "40,0"),  # Anna, David
    WEEK8: ("1", "5", "20,0"),  # Anna
    YEAR2: ("3", "2", "150,0"),  # Frida, Georg, Gro: done in the year, whatever the age group
    YEAR4: ("1", "2", "50,0"),  # Jonas
}


def csv_rows(client, params) -> list[list[str]]:
    body = client.get(reverse(CSV), params).content.decode("utf-8")
    return list(csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))


def test_kostra_csv_equals_the_hand_count_measure_by_measure(ssb_population, login, leader_a, station_a):
    rows = csv_rows(login(leader_a), YEAR_2025)
    header, body = rows[0], rows[1:]
    assert header[3:6] == ["År", "Skjema og definisjoner", "Indikator (SSB)"]
    found = {row[5]: tuple(row[6:9]) for row in body if row[2] == station_a.name}
    assert found == HAND_COUNT
    assert {row[3] for row in body} == {"2025"}
    assert all(row[4] == kostra.DEFINITIONS and row[9] == "Foreløpig" for row in body)


def test_each_kostra_count_drills_down_to_its_children(ssb_population, login, leader_a, station_a):
    scope = Scope(station_ids=(station_a.pk,), start=date(2025, 1, 1), end=date(2025, 12, 31), today=date(2026, 1, 15))

    def names(category, measure):
        request = figures.FigureRequest(category=category, detail=measure)
        return {c.given_name for c in figures.figure_children(leader_a, scope, "kostra", request)}

    assert names("numerator", "home_visit_14") == {"Anna", "Bror", "David"}
    assert names("numerator", "home_visit_10") == {"Anna", "David"}
    assert names("denominator", "home_visit_14") == {"Anna", "Bror", "Cecilie", "Cato", "Emma"}
    assert names("numerator", "year_2") == {"Frida", "Georg", "Gro"}
    assert names("denominator", "year_2") == {"Frida", "Henrik"}
    assert names("denominator", "year_4") == {"Jonas", "Kari"}
    # Through the page: every KOSTRA number links to a list of exactly that many children, access-logged.
    client = login(leader_a)
    html = client.get(reverse(PAGE), YEAR_2025).content.decode()
    section = html[html.index('id="kostra"'):html.index('id="ikke-mott"')]
    links = re.findall(r'<a href="([^"]+tall=kostra[^"]*)">(\d+)</a>', section)
    assert len(links) == 10
    for url, count in links:
        listed = client.get(url.replace("&amp;", "&")).content.decode()
        assert listed.count('class="child-row"') == int(count), url
    assert AccessLog.objects.filter(user=leader_a).exists()


def test_the_page_names_both_views_and_which_form_it_follows(ssb_population, login, leader_a):
    html = login(leader_a).get(reverse(PAGE), YEAR_2025).content.decode()
    assert "Dekning per konsultasjon (kohort)" in html
    assert "i det året vinduet for konsultasjonen lukker seg" in html
    assert "KOSTRA 2025 slik SSB teller" in html
    assert kostra.DEFINITIONS in html
    assert "150,0 %" in html or "150.0 %" in html  # SSB's share may pass 100 %


def test_home_visit_counts_only_visits_at_home_by_a_nurse(ssb_population, station_a):
    counts = kostra.ssb_counts([station_a.pk], 2025)[station_a.pk]
    # Cecilie (at the station) and Cato (at home by the leader) are not counted.
    assert counts["home_visit_14"] == {"numerator": 3, "denominator": 5}


def test_a_reopened_case_counts_as_closed_in_the_year_it_closed(station_a, child_a, outcome):
    child = child_a
    outcome(child, "not_brought", at=at(date(2025, 10, 30)))
    followup_sweep(now=at(date(2025, 11, 1)))
    case = Case.objects.get(child=child)
    case_close(case=case, reason=CloseReason.ATTENDED, closed_by=None, now=at(date(2026, 1, 15)))
    outcome(child, "not_brought", at=at(date(2026, 2, 1)))
    followup_sweep(now=at(date(2026, 2, 2)))
    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN and case.cycle == 2 and case.closed_at is None  # the reopen cleared the row
    scope = Scope(station_ids=(station_a.pk,), start=date(2026, 1, 1), end=date(2026, 12, 31), today=date(2026, 3, 1))
    figures_2026 = cases.followup(scope)
    assert figures_2026.closed == 1
    assert figures_2026.closed_by_reason[0][0] == CloseReason.ATTENDED
    # From this round's opening (1 November, 06:00 local is when the sweep ran at 10:00) to its closing.
    opened = case.opened_at
    assert figures_2026.median_days_to_close == round((at(date(2026, 1, 15)) - opened).total_seconds() / 86400, 1)
    request = figures.FigureRequest(category="closed")
    assert list(figures.figure_child_ids(scope, "followup", request).values_list("child_id", flat=True)) == [child.pk]


def test_a_second_round_counts_from_its_reopening(station_a, child_a, outcome):
    child = child_a
    outcome(child, "not_brought", at=at(date(2025, 3, 1)))
    followup_sweep(now=at(date(2025, 3, 2)))
    case = Case.objects.get(child=child)
    case_close(case=case, reason=CloseReason.ATTENDED, closed_by=None, now=at(date(2025, 3, 12)))
    outcome(child, "not_brought", at=at(date(2025, 6, 1)))
    followup_sweep(now=at(date(2025, 6, 2)))
    case_close(case=Case.objects.get(pk=case.pk), reason=CloseReason.GP_CONFIRMED, closed_by=None, now=at(date(2025, 6, 22)))
    scope = Scope(station_ids=(station_a.pk,), start=date(2025, 1, 1), end=date(2025, 12, 31), today=date(2025, 12, 31))
    result = cases.followup(scope)
    assert result.closed == 1  # one child
    assert {reason: n for reason, _label, n in result.closed_by_reason} == {"attended": 1, "gp_confirmed": 1}
    assert result.median_days_to_close == 15.0  # 10 days and 20 days


def test_register_cancellations_stand_apart_from_the_stations_own(station_a, nurse_a, leader_a):
    child = register(station_a, "Dod", born=timezone.localdate() - timedelta(days=200))
    other = register(station_a, "Avlyst", born=timezone.localdate() - timedelta(days=200))
    soon = timezone.now() + timedelta(days=5)
    for kid in (child, other):
        consultation = Consultation.objects.filter(child=kid, state__in=["planned", "due"]).order_by("window_opens").first()
        appointment_book(consultation=consultation, starts_at=soon.replace(hour=10 if kid is child else 11, minute=0),
                         duration_minutes=30, place=Place.STATION, professional=nurse_a, booked_by=nurse_a)
    appointment_record_outcome(appointment=Appointment.objects.get(child=other), outcome=Outcome.CANCELLED_BY_SERVICE, recorded_by=nurse_a)
    effect_stop(child, "deceased")  # what the register sync runs when the register reports a death
    event = OutcomeEvent.objects.get(appointment__child=child)
    assert event.outcome == Outcome.CANCELLED_BY_SERVICE and event.reason == Reason.REGISTER_DECEASED
    assert str(Reason(event.reason).label) == "Avlyst: død"
    today = timezone.localdate()
    scope = Scope(station_ids=(station_a.pk,), start=date(today.year, 1, 1), end=date(today.year + 1, 12, 31), today=today)
    total = appointments.appointment_figures(scope, []).total.counts
    assert total["cancelled_by_register"] == 1
    assert total["cancelled_by_service"] == 1  # only the station's own
    assert total["with_outcome"] == 1  # the register's cancellation is not a registered time of the family

    def names(category):
        return {c.given_name for c in figures.figure_children(leader_a, scope, "appointments", figures.FigureRequest(category=category))}

    assert names("cancelled_by_register") == {"Dod"}
    assert names("cancelled_by_service") == {"Avlyst"}
    assert names("with_outcome") == {"Avlyst"}


def test_a_person_cannot_choose_the_registers_reasons():
    offered = {value for value, _label in OutcomeForm.base_fields["reason"].choices}
    assert Reason.REGISTER_MOVED not in offered and Reason.REGISTER_DECEASED not in offered


def test_a_move_reported_by_the_register_cancels_with_its_own_reason(station_a, nurse_a):
    child = register(station_a, "Flytter", born=timezone.localdate() - timedelta(days=200))
    consultation = Consultation.objects.filter(child=child, state__in=["planned", "due"]).order_by("window_opens").first()
    appointment_book(consultation=consultation, starts_at=(timezone.now() + timedelta(days=3)).replace(hour=9, minute=0),
                     duration_minutes=30, place=Place.STATION, professional=nurse_a, booked_by=nurse_a)
    effect_stop(child, "moved_out")
    appointment = Appointment.objects.get(child=child)
    assert appointment.status == AppointmentStatus.CANCELLED_BY_SERVICE
    assert appointment.events.get().reason == Reason.REGISTER_MOVED


def test_marking_a_year_as_reported_keeps_the_figures_as_sent(ssb_population, login, leader_a, station_a, nurse_a):
    client = login(leader_a)
    response = client.post(reverse("followup:statistics:mark_reported"), {**YEAR_2025, "aar": "2025"})
    assert response.status_code == 302
    client.post(reverse("followup:statistics:mark_reported"), {**YEAR_2025, "aar": "2025"})  # a double click
    report = KostraReport.objects.get()
    assert report.station == station_a and report.year == 2025 and report.reported_by == leader_a
    assert report.figures["year_2"] == {"numerator": 3, "denominator": 2}
    # Later a 2-year examination held in 2025 is entered: the count drifts, the report does not.
    henrik = Child.objects.get(given_name="Henrik")
    attend(henrik, "Y2", date(2025, 11, 3), nurse_a)
    html = client.get(reverse(PAGE), YEAR_2025).content.decode()
    section = html[html.index('id="kostra"'):html.index('id="ikke-mott"')]
    assert "rapportert" in section and (leader_a.get_full_name() or leader_a.username) in section
    assert "Tallene har endret seg etter rapporteringen" in section
    row = section[section.index(YEAR2):]
    row = row[:row.index("</tr>")]
    assert re.search(r'<td class="num">3</td>', row)  # as reported, not a link to today's list
    assert re.search(r">4</a> / <a [^>]*>2</a>", row)  # today's count beside it, linked
    assert "Marker 2025 som rapportert" not in html
    rows = csv_rows(client, YEAR_2025)
    year2 = next(r for r in rows if r[5] == YEAR2)
    assert year2[6:9] == ["3", "2", "150,0"] and year2[9].startswith("Rapportert")


@pytest.mark.parametrize("role", [Role.ADMIN, Role.NURSE])
def test_only_a_leader_marks_a_year_as_reported(role, ssb_population, login, station_a):
    user = UserFactory(username=f"u_{role}", role=role)
    user.stations.add(station_a)
    response = login(user).post(reverse("followup:statistics:mark_reported"), {**YEAR_2025, "aar": "2025"})
    assert response.status_code in (302, 403)
    assert not KostraReport.objects.exists()


def test_a_year_not_ended_cannot_be_reported_and_bad_years_get_a_message(login, leader_a):
    client = login(leader_a)
    this_year = timezone.localdate().year
    for year, message in [(str(this_year), "Året er ikke slutt ennå"), ("20x5", "Ugyldig år"), ("99999", "Ugyldig år"),
                          ("<script>", "Ugyldig år")]:
        response = client.post(reverse("followup:statistics:mark_reported"), {"aar": year}, follow=True)
        assert response.status_code == 200
        assert 'class="message error"' in response.content.decode() and message in response.content.decode()
    assert not KostraReport.objects.exists()
