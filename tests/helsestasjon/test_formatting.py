"""National ids, phone numbers, dates and names written one way everywhere (helsestasjon.formatting)."""

from __future__ import annotations

import io
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.template import Context, Template
from django.urls import reverse

from helsestasjon.formatting import date_display, heading_name, list_name, national_id_display, phone_display
from tests.test_demo_every_url import demo  # noqa: F401  (the demo fixture, as bin/demo makes the data)


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


# Every page that lists children, with the demo user who works from it.
LIST_PAGES = [
    ("sykepleier_a", "attendance:day"), ("sykepleier_a", "followup:nurse_worklist"),
    ("merkantil_a", "attendance:booking_worklist"), ("merkantil_a", "children"), ("merkantil_a", "followup:clerk_worklist"),
    ("merkantil_a", "followup:letters"), ("merkantil_a", "followup:svarut_letters"), ("merkantil_a", "registry_sync:worklist"),
    ("leder_a", "followup:leader_queue"), ("leder_a", "registry_sync:alerts"),
]


# Lists the small demo may leave empty (no letters made, no new register alert, no case at the clerk's or the
# leader's step); the clerk's and the leader's lists name children through followup/_child_cell.html, as the
# nurse's does. They are still checked for names written given name first.
EMPTY_IN_SMALL_DEMO = {"followup:letters", "followup:svarut_letters", "registry_sync:alerts", "followup:clerk_worklist",
                       "followup:leader_queue"}


def _names_on(page: str, children) -> tuple[list[str], list[str]]:
    """The children a page names family name first, and those it names given name first.

    Staff are named given name first (the header, the day's colleague picker) and may share a
    child's name, so their names are taken out first."""
    from helsestasjon.models import User

    for staff in User.objects.exclude(first_name=""):
        page = page.replace(f">{staff.get_full_name()}<", "><").replace(f" {staff.get_full_name()}<", " <")
    listed = [c.list_name for c in children if c.list_name in page]
    given_first = [c.full_name for c in children if f">{c.full_name}<" in page or f" {c.full_name}<" in page]
    return listed, given_first


def _busy_day(username: str) -> str:
    """The day query of the nurse's latest day with appointments in the demo."""
    from django.utils import timezone

    from attendance.models import Appointment

    latest = Appointment.objects.filter(professional__username=username).latest("starts_at").starts_at
    return f"?dato={timezone.localdate(latest):%Y-%m-%d}"


@pytest.mark.django_db
@pytest.mark.usefixtures("demo")
def test_every_list_page_of_the_demo_names_children_family_name_first():
    from django.test import Client

    from helsestasjon.demo import DEMO_PASSWORD
    from helsestasjon.models import Child

    # The follow-up sweep opens the demo's cases from its missed appointments, so the work lists have rows.
    call_command("run_followup_sweep", stdout=io.StringIO())
    children = list(Child.objects.all())
    clients, pages = {}, {}
    for username, name in LIST_PAGES:
        if username not in clients:
            clients[username] = Client()
            assert clients[username].post(reverse("login"), {"username": username, "password": DEMO_PASSWORD}).status_code == 302
        response = clients[username].get(reverse(name) + (_busy_day(username) if name == "attendance:day" else ""))
        assert response.status_code == 200, (name, response.status_code)
        pages[name] = response.content.decode()
    # The statistics' lists of children behind a figure, reached from the statistics page as a leader would.
    statistics = pages["followup:statistics:page"] = clients["leder_a"].get(reverse("followup:statistics:page")).content.decode()
    link = statistics.split(f'href="{reverse("followup:statistics:children")}?', 1)[1].split('"', 1)[0]
    pages["followup:statistics:children"] = clients["leder_a"].get(
        f'{reverse("followup:statistics:children")}?{link.replace("&amp;", "&")}').content.decode()
    del pages["followup:statistics:page"]
    for name, page in pages.items():
        listed, given_first = _names_on(page, children)
        assert not given_first, f"{name} names {given_first[:3]} given name first"
        if name not in EMPTY_IN_SMALL_DEMO:
            assert listed, f"{name} names no child of the demo"
