"""The statistics page, its child lists and the KOSTRA export, as a leader uses them."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.urls import reverse

from helsestasjon.models import AccessAction, AccessLog, Role
from tests.factories import StationFactory, UserFactory
from tests.followup.statistics_population import build

PAGE = "followup:statistics:page"
PERIOD = {"fra": "2025-01-01", "til": "2025-12-31"}


@pytest.fixture
def population(station_a, station_b, nurse_a, nurse_b):
    return build(station_a, station_b, nurse_a, nurse_b)


def links_in(html: str) -> list[tuple[str, str]]:
    """(href, number) of every figure link on the page."""
    return [
        (href.replace("&amp;", "&"), number)
        for href, number in re.findall(r'<a href="(/oppfolging/statistikk/barn/\?[^"]+)">(\d+)</a>', html)
    ]


def test_leader_sees_the_statistics_page(population, login, leader_a):
    response = login(leader_a).get(reverse(PAGE), PERIOD)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Dekning per konsultasjon" in html
    assert "Andel nyfødte med hjemmebesøk av helsesykepleier innen 14 dager etter hjemkomst" in html
    assert "KOSTRA skjema 1" in html
    assert "<svg" in html and "style=" not in html


@pytest.mark.parametrize("user", ["nurse_a", "clerk_a"])
def test_nurses_and_clerks_may_not_open_statistics(user, request, login, station_a):
    response = login(request.getfixturevalue(user)).get(reverse(PAGE))
    assert response.status_code == 403


def test_admin_sees_every_station(population, login, station_a):
    admin = UserFactory(username="admin", role=Role.ADMIN)
    response = login(admin).get(reverse(PAGE), PERIOD)
    assert response.status_code == 200
    assert "Hele kommunen" in response.content.decode()


def test_the_period_defaults_to_this_year_and_bad_input_is_explained(login, leader_a):
    response = login(leader_a).get(reverse(PAGE), {"fra": "2025-12-31", "til": "2025-01-01"})
    assert response.status_code == 200
    assert "Til-datoen må være etter fra-datoen." in response.content.decode()
    response = login(leader_a).get(reverse(PAGE), {"fra": "i går"})
    assert response.status_code == 200
    assert "Skriv datoen som dd.mm.åååå." in response.content.decode()


def test_a_leader_cannot_pick_another_stations_figures(population, login, leader_a, station_b):
    response = login(leader_a).get(reverse(PAGE), {**PERIOD, "stasjon": station_b.pk})
    assert "Velg en helsestasjon du har tilgang til." in response.content.decode()
    response = login(leader_a).get(reverse("followup:statistics:children"), {**PERIOD, "stasjon": station_b.pk, "tall": "coverage",
                                                                             "kategori": "due", "konsultasjon": "HV"})
    assert response.status_code == 400


def test_every_number_on_the_page_lists_that_many_children(population, login, leader_a):
    client = login(leader_a)
    html = client.get(reverse(PAGE), PERIOD).content.decode()
    links = links_in(html)
    assert len(links) > 20
    for href, number in links:
        listed = client.get(href).content.decode()
        assert f"{number} barn" in listed, href
        assert listed.count('<tr class="child-row">') == int(number), href


def test_the_child_list_writes_one_access_log_row_per_child(population, login, leader_a):
    response = login(leader_a).get(
        reverse("followup:statistics:children"), {**PERIOD, "tall": "coverage", "kategori": "expired", "konsultasjon": "HV"}
    )
    assert response.status_code == 200
    rows = AccessLog.objects.filter(user=leader_a, action=AccessAction.VIEW_LIST)
    # Seen today every 2025 window has closed, so the December baby has expired too.
    assert sorted(row.child.given_name for row in rows) == ["Aldri", "Desember", "Dodetter", "Rettet"]
    assert all(row.what.startswith("Statistikk: Konsultasjoner – Hjemmebesøk – Utløpt") for row in rows)


def test_bad_figure_parameters_get_a_message_not_an_error(population, login, leader_a):
    url = reverse("followup:statistics:children")
    for params in [{"tall": "x"}, {"tall": "coverage", "kategori": "due", "konsultasjon": "ZZ"}, {"tall": "trend", "kategori": "not_brought", "maaned": "x"}]:
        response = login(leader_a).get(url, {**PERIOD, **params})
        assert response.status_code == 400
        assert 'role="alert"' in response.content.decode()


def test_the_page_runs_a_constant_number_of_queries(population, login, leader_a, station_a, nurse_a, django_assert_max_num_queries):
    from tests.followup.statistics_population import register, visit

    client = login(leader_a)
    client.get(reverse(PAGE), PERIOD)  # warm the session
    with django_assert_max_num_queries(24) as before:
        client.get(reverse(PAGE), PERIOD)
    for index in range(10):
        child = register(station_a, f"Ekstra{index}")
        visit(child, "HV", child.birth_date.replace(day=8), nurse_a)
    with django_assert_max_num_queries(len(before)):
        client.get(reverse(PAGE), PERIOD)


def test_kostra_csv_opens_in_norwegian_excel(population, login, leader_a, station_a):
    response = login(leader_a).get(reverse("followup:statistics:kostra_csv"), PERIOD)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    body = response.content.decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))
    assert rows[0][:3] == ["Kommunenummer", "Kommune", "Helsestasjon"]
    home_visit = next(row for row in rows if row[5] == "Andel nyfødte med hjemmebesøk av helsesykepleier innen 14 dager etter hjemkomst")
    assert home_visit[2] == station_a.name
    assert home_visit[3] == "2025" and home_visit[4].startswith("KOSTRA skjema 1")
    # Itide and Flyttetetter visited at home by a nurse within 14 days, of the nine born here in 2025
    # (Innflyttet came after her newborn window: born elsewhere, counted there).
    assert home_visit[6:] == ["2", "9", "22,2", "Foreløpig"]


def test_kostra_csv_adds_a_total_for_several_stations(population, login, station_a, station_b):
    admin = UserFactory(username="admin", role=Role.ADMIN)
    StationFactory(municipality=station_a.municipality, name="Tom stasjon")
    body = login(admin).get(reverse("followup:statistics:kostra_csv"), PERIOD).content.decode("utf-8")
    rows = list(csv.reader(io.StringIO(body.lstrip("\ufeff")), delimiter=";"))
    total = next(row for row in rows if row[2] == "Alle valgte helsestasjoner" and "innen 14 dager" in row[5])
    assert total[6:8] == ["3", "10"]


def test_the_default_period_is_this_year_and_shown_in_the_form(login, leader_a):
    from django.utils import timezone

    year = timezone.localdate().year
    html = login(leader_a).get(reverse(PAGE)).content.decode()
    assert f'value="{year}-01-01"' in html and f'value="{year}-12-31"' in html
    assert f"Periode 01.01.{year}–31.12.{year}" in html
