"""The session store reads the session's user in the same round trip, and believes nothing it guessed."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from helsestasjon import backends, sessions
from helsestasjon.models import User

DAY = "/dag/"


def _reads(client, path=DAY):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200
    return [q["sql"] for q in queries.captured_queries]


def test_after_the_first_page_the_session_and_the_user_come_in_one_round_trip(login, nurse_a):
    client = login(nurse_a)
    _reads(client)
    reads = _reads(client)
    first = reads[0]
    assert "django_session" in first and "helsestasjon_user" in first
    assert not any(sql.lstrip().startswith('SELECT u."id"') for sql in reads[1:])  # the user is not read again
    assert "Nora" in client.get(DAY).content.decode()


def test_a_wrong_guess_is_not_believed(login, nurse_a, leader_a):
    client = login(nurse_a)
    _reads(client)
    key = client.cookies["sessionid"].value
    sessions._USER_OF[sessions._digest(key)] = str(leader_a.pk)  # as if the session had been the leader's
    reads = _reads(client)
    assert any(sql.lstrip().startswith('SELECT u."id"') for sql in reads[1:])  # read again, for the session's user
    page = client.get(DAY).content.decode()
    assert "Nora" in page and "Min dag" in page


def test_stations_are_still_read_fresh_on_every_request(login, nurse_a, station_b, planned_child, booked):
    client = login(nurse_a)
    _reads(client)
    nurse_a.stations.add(station_b)
    booked(planned_child(station_b, given_name="Bjarne"), User.objects.get(pk=nurse_a.pk))
    assert "Bjarne" in client.get(DAY).content.decode()
    nurse_a.stations.remove(station_b)
    assert "Bjarne" not in client.get(DAY).content.decode()


def test_an_offered_row_is_taken_once_only_for_its_user_and_only_at_once(monkeypatch):
    backends.offer_user_row("7", ("row",))
    assert backends._take_offered("8") is None
    assert backends._take_offered("7") is None  # consumed by the first get_user, whoever it was for
    backends.offer_user_row("7", ("row",))
    assert backends._take_offered(7) == ("row",)
    assert backends._take_offered("7") is None
    monkeypatch.setattr(backends, "OFFER_SECONDS", 0.0)
    backends.offer_user_row("7", ("row",))
    assert backends._take_offered("7") is None


def test_a_deactivated_user_is_logged_out_at_the_next_request(login, nurse_a):
    client = login(nurse_a)
    _reads(client)
    nurse_a.is_active = False
    nurse_a.save(update_fields=["is_active"])
    response = client.get(DAY)
    assert response.status_code == 302 and "logg-inn" in response["Location"]


def test_a_session_key_with_nul_is_a_new_session(client, nurse_a):
    sessions._USER_OF[sessions._digest("abcdefgh\x00ijkl")] = str(nurse_a.pk)
    client.cookies["sessionid"] = "abcdefgh\x00ijkl"
    response = client.get(DAY)
    assert response.status_code == 302
