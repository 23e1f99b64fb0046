"""The clerk's digital post page and actions."""

from __future__ import annotations

import pytest
from django.urls import reverse

from followup.letters.models import Letter
from followup.letters.svarut import services
from followup.letters.svarut.choices import LetterChannel, SendState
from helsestasjon.models import AccessLog
from tests.factories import ChildFactory
from tests.followup.letters_support import case_at_step
from tests.followup.svarut.conftest import guardian

pytestmark = pytest.mark.django_db


def _letter(station, svarut, **kwargs):
    child = ChildFactory(station=station, given_name="Kari", family_name="Nordmann")
    guardian(child, svarut, **kwargs)
    case_at_step(child)
    from followup.letters.making import letters_create_due

    letters_create_due(station=station)
    return Letter.objects.get(child=child)


def test_clerk_sees_counts_and_statuses_and_the_page_is_logged(login, clerk_a, station_a, svarut):
    letter = _letter(station_a, svarut)
    services.svarut_dispatch(station_id=station_a.id)
    client = login(clerk_a)
    page = client.get(reverse("followup:svarut_letters") + f"?stasjon={station_a.id}")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Nordmann, Kari" in text and "Mottatt" in text and "Sendt digitalt" in text
    assert AccessLog.objects.filter(user=clerk_a, child=letter.child).exists()
    letters_page = client.get(reverse("followup:letters") + f"?stasjon={station_a.id}")
    assert "Digital post og papir" in letters_page.content.decode()


def test_clerk_overrides_a_channel_with_a_reason_and_a_missing_reason_is_a_message(login, clerk_a, station_a, svarut):
    letter = _letter(station_a, svarut)
    client = login(clerk_a)
    url = reverse("followup:letter_channel", args=[letter.pk])
    response = client.post(url, {"kanal": "local_print", "grunn": ""}, follow=True)
    assert response.status_code == 200 and "Skriv hvorfor" in response.content.decode()
    response = client.post(url, {"kanal": "<script>", "grunn": "x"}, follow=True)
    assert response.status_code == 200 and "Ukjent kanal" in response.content.decode()
    client.post(url, {"kanal": "local_print", "grunn": "Ønsker papir <script>alert(1)</script>"})
    letter.refresh_from_db()
    assert letter.channel == LetterChannel.LOCAL_PRINT and letter.channel_set_by == clerk_a


def test_another_stations_letter_is_not_found(login, nurse_b, station_a, svarut, clerk_a):
    letter = _letter(station_a, svarut)
    from tests.factories import UserFactory

    other = UserFactory(role="clerk")
    other.stations.set([nurse_b.stations.first()])
    client = login(other)
    assert client.post(reverse("followup:letter_channel", args=[letter.pk]), {"kanal": "local_print", "grunn": "x"}).status_code == 404
    assert client.post(reverse("followup:letter_svarut_resolve", args=[999999]), {}).status_code == 404


def test_resolving_a_letter_that_is_not_uncertain_is_a_message(login, clerk_a, station_a, svarut):
    letter = _letter(station_a, svarut)
    client = login(clerk_a)
    response = client.post(reverse("followup:letter_svarut_resolve", args=[letter.pk]), {"forsendelse": ""}, follow=True)
    assert "ikke på listen" in response.content.decode()
    assert Letter.objects.get(pk=letter.pk).send_state == SendState.NOT_SENT


def test_delivery_statuses_with_times_are_in_the_chronology_and_on_the_childs_letters(login, clerk_a, station_a, svarut):
    from datetime import timedelta

    from followup.chronology import case_chronology

    letter = _letter(station_a, svarut)
    services.svarut_dispatch(station_id=station_a.id)
    svarut.advance(timedelta(hours=3))
    services.svarut_poll()
    letter.refresh_from_db()
    texts = [entry.text for entry in case_chronology(case=letter.case)]
    assert any("lest (SvarUt)" in text for text in texts)
    client = login(clerk_a)
    page = client.get(reverse("followup:child_letters", args=[letter.child_id])).content.decode()
    assert "Digitalt: Lest" in page and f"{timezone_local(letter.delivery_status_at):%d.%m.%Y %H:%M}" in page


def timezone_local(value):
    from django.utils import timezone

    return timezone.localtime(value)


def test_the_digital_post_page_queries_do_not_grow_with_letters(login, clerk_a, station_a, svarut, django_assert_max_num_queries):
    for _ in range(6):
        _letter(station_a, svarut)
    services.svarut_dispatch(station_id=station_a.id)
    client = login(clerk_a)
    url = reverse("followup:svarut_letters") + f"?stasjon={station_a.id}"
    client.get(url)
    with django_assert_max_num_queries(20):
        assert client.get(url).status_code == 200
