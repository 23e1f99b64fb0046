"""Norwegian error pages in every mode (DEBUG included, as the demo runs) and a Norwegian admin."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from helsestasjon.models import Role

pytestmark = pytest.mark.django_db


@pytest.fixture(params=[True, False], ids=["debug", "production"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


def test_another_stations_child_shows_our_norwegian_not_found_page(debug, login, nurse_a, child_b, child_a):
    client = login(nurse_a)
    other = client.get(reverse("attendance:child", args=[child_b.pk]))
    unknown = client.get(reverse("attendance:child", args=[999_999_999]))
    for response in (other, unknown):
        body = response.content.decode()
        assert response.status_code == 404
        assert "Fant ikke siden" in body and '<html lang="nb">' in body
        assert "Page not found" not in body and "URLconf" not in body and child_b.given_name not in body
    # Another station's child looks exactly like an unknown one.
    def main(response):
        return re.search(r"<main.*?</main>", response.content.decode(), re.DOTALL).group(0)

    assert main(other) == main(unknown)


def test_an_unknown_address_shows_our_page_without_the_url_list(debug, login, nurse_a):
    response = login(nurse_a).get("/finnes-ikke/")
    body = response.content.decode()
    assert response.status_code == 404 and "Fant ikke siden" in body
    assert "Using the URLconf" not in body and "admin/" not in body


def test_a_forbidden_page_is_norwegian(debug, login, clerk_a):
    response = login(clerk_a).get(reverse("attendance:day"))
    assert response.status_code == 403 and "Ingen tilgang" in response.content.decode()


def test_an_unexpected_error_in_debug_shows_our_page_and_is_logged(settings, login, nurse_a, monkeypatch, caplog):
    settings.DEBUG = True
    import attendance.views.day

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(attendance.views.day, "day_rows", broken)
    client = login(nurse_a)
    client.raise_request_exception = False
    response = client.get(reverse("attendance:day"))
    body = response.content.decode()
    assert response.status_code == 500 and "Noe gikk galt" in body
    assert "Traceback" not in body and "boom" not in body
    assert any("boom" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


def test_a_developer_may_ask_for_djangos_technical_pages(settings, login, nurse_a):
    settings.DEBUG = True
    settings.TECHNICAL_ERROR_PAGES = True
    response = login(nurse_a).get("/finnes-ikke/")
    assert response.status_code == 404 and "Using the URLconf" in response.content.decode()


def test_the_admin_is_norwegian_with_norwegian_app_labels(login):
    from tests.factories import UserFactory

    admin = UserFactory(username="admin_x", role=Role.ADMIN, is_staff=True, is_superuser=True)
    body = login(admin).get("/admin/").content.decode()
    for label in ("Oppmøte", "Oppfølging", "Innloggingsforsøk"):
        assert label in body
    for english in (">Attendance<", ">Followup<", ">Registry_Sync<", ">Axes<", "Site administration", "Log out"):
        assert english not in body
    assert "Nettstedsadministrasjon" in body or "Administrasjon" in body
    assert "css/admin.css" in body  # the breadcrumbs' underline (link-in-text-block)
