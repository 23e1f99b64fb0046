"""National ids, phone numbers, dates and names written one way everywhere (helsestasjon.formatting)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.urls import reverse

from helsestasjon.formatting import date_display, heading_name, list_name, national_id_display, phone_display


@pytest.mark.parametrize("value, shown", [
    ("11082561715", "110825 61715"), ("110825 61715", "110825 61715"), ("", ""), (None, ""),
    ("1108256171", "1108256171"),  # not eleven digits: shown as stored, never hidden
    ("<script>", "<script>"),
])
def test_national_ids_are_grouped_birth_date_then_the_rest(value, shown):
    assert national_id_display(value) == shown


@pytest.mark.parametrize("value, shown", [
    ("93510030", "935 10 030"), ("935 10 030", "935 10 030"), ("+4793510030", "+47 935 10 030"),
    ("0047 935 10 030", "+47 935 10 030"), ("+46701234567", "+46701234567"), ("12345", "12345"), ("", ""),
])
def test_phone_numbers_are_grouped_three_two_three(value, shown):
    assert phone_display(value) == shown


def test_dates_are_day_month_year_with_dots_and_moments_in_local_time():
    assert date_display(date(2026, 3, 7)) == "07.03.2026"
    assert date_display(datetime(2026, 3, 7, 23, 30, tzinfo=ZoneInfo("UTC"))) == "08.03.2026"  # Oslo, next day
    assert date_display(None) == ""


def test_names_family_first_in_lists_given_first_in_headings():
    assert list_name("Kari", "Nordmann") == "Nordmann, Kari"
    assert list_name("", "Nordmann") == "Nordmann"
    assert heading_name("Kari", "Nordmann") == "Kari Nordmann"
    assert heading_name(" Kari ", "") == "Kari"


def test_the_template_filters_and_the_default_date_format():
    class Person:
        given_name, family_name = "Ola", "Nordmann"

    html = Template(
        "{% load formatting %}{{ id|national_id }}|{{ m|phone }}|{{ p|list_name }}|{{ p|heading_name }}|{{ d|dato }}|{{ d }}"
    ).render(Context({"id": "11082561715", "m": "93510030", "p": Person(), "d": date(2025, 8, 11)}))
    assert html == "110825 61715|935 10 030|Nordmann, Ola|Ola Nordmann|11.08.2025|11.08.2025"


@pytest.mark.django_db
def test_the_childs_page_shows_the_national_id_and_mobile_grouped(login, nurse_a, child_a):
    from tests.factories import GuardianFactory, GuardianshipFactory

    GuardianshipFactory(child=child_a, guardian=GuardianFactory(mobile="93510030"))
    page = login(nurse_a).get(reverse("attendance:child", args=[child_a.pk])).content.decode()
    assert f"{child_a.national_id[:6]} {child_a.national_id[6:]}" in page
    assert "935 10 030" in page
