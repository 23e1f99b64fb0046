"""Who sees which child: the fixed cast at station A and B, and the access log."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from helsestasjon.models import AccessAction, AccessLog, AddressProtection
from tests.factories import ChildFactory, GuardianFactory, GuardianshipFactory

pytestmark = pytest.mark.django_db


def child_url(child):
    return reverse("attendance:child", args=[child.id])


@pytest.mark.parametrize("user_fixture", ["nurse_a", "clerk_a", "leader_a"])
def test_staff_at_the_station_see_its_child_and_each_view_writes_one_log_row(request, login, child_a, user_fixture):
    user = request.getfixturevalue(user_fixture)
    response = login(user).get(child_url(child_a))
    assert response.status_code == 200
    assert "Ola Nordmann" in response.content.decode()
    rows = list(AccessLog.objects.filter(child=child_a))
    assert len(rows) == 1
    row = rows[0]
    assert (row.user, row.role, row.station, row.action) == (user, user.role, child_a.station, AccessAction.VIEW_RECORD)
    assert row.path == child_url(child_a)


def test_nurse_at_another_station_gets_404_and_no_log_row(login, nurse_b, child_a):
    response = login(nurse_b).get(child_url(child_a))
    assert response.status_code == 404
    assert "Ola" not in response.content.decode()
    assert not AccessLog.objects.exists()


def test_an_unknown_child_id_looks_the_same_as_another_stations_child(login, nurse_b, child_a):
    other = login(nurse_b).get(child_url(child_a))
    unknown = login(nurse_b).get(reverse("attendance:child", args=[999999]))
    assert other.status_code == unknown.status_code == 404


def test_anonymous_users_are_sent_to_the_login_page(client, child_a):
    response = client.get(child_url(child_a))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_children_search_lists_only_the_users_own_station(login, nurse_a, nurse_b, child_a, child_b):
    page_a = login(nurse_a).get(reverse("children")).content.decode()
    page_b = login(nurse_b).get(reverse("children")).content.decode()
    assert "Ola" in page_a and "Per" not in page_a
    assert "Per" in page_b and "Ola" not in page_b


def test_children_search_finds_by_name_and_number(login, nurse_a, child_a, station_a):
    ChildFactory(station=station_a, given_name="Kari", family_name="Kvist")
    by_name = login(nurse_a).get(reverse("children"), {"q": "nordm"}).content.decode()
    assert "Ola" in by_name and "Kari" not in by_name
    by_number = login(nurse_a).get(reverse("children"), {"q": child_a.national_id[:6]}).content.decode()
    assert "Ola" in by_number


def test_names_with_markup_are_shown_literally(login, nurse_a, station_a):
    child = ChildFactory(station=station_a, given_name="<script>alert(1)</script>", family_name='<b>Ola</b> & "Kari"')
    body = login(nurse_a).get(child_url(child)).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&lt;b&gt;Ola&lt;/b&gt; &amp; &quot;Kari&quot;" in body


def test_leader_can_see_who_looked_at_a_childs_record(login, nurse_a, leader_a, child_a):
    login(nurse_a).get(child_url(child_a))
    response = login(leader_a).get(reverse("child_access_log", args=[child_a.id]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "sykepleier_a" in body
    # Opening the access log is itself a look at the record.
    assert AccessLog.objects.filter(child=child_a, user=leader_a).count() == 1


@pytest.mark.parametrize("user_fixture,status", [("nurse_a", 403), ("clerk_a", 403), ("nurse_b", 403)])
def test_only_a_leader_opens_the_access_log(request, login, child_a, user_fixture, status):
    user = request.getfixturevalue(user_fixture)
    assert login(user).get(reverse("child_access_log", args=[child_a.id])).status_code == status


def test_a_leader_at_another_station_cannot_open_the_access_log(login, child_b, leader_a):
    assert login(leader_a).get(reverse("child_access_log", args=[child_b.id])).status_code == 404


def test_the_access_log_cannot_be_updated_or_deleted(login, nurse_a, child_a):
    login(nurse_a).get(child_url(child_a))
    row = AccessLog.objects.get()
    with pytest.raises(DatabaseError), transaction.atomic():
        AccessLog.objects.filter(pk=row.pk).update(username="someone-else")
    with pytest.raises(DatabaseError), transaction.atomic():
        AccessLog.objects.filter(pk=row.pk).delete()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM helsestasjon_accesslog")
    row.refresh_from_db()
    assert row.username == "sykepleier_a"


def test_pages_with_personal_data_are_not_cached_and_have_a_strict_csp(login, nurse_a, child_a):
    response = login(nurse_a).get(child_url(child_a))
    assert response["Cache-Control"] == "no-store"
    csp = response["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "script-src 'self'" in csp


def test_a_disabled_account_loses_its_session_at_once(login, nurse_a, child_a):
    client = login(nurse_a)
    assert client.get(child_url(child_a)).status_code == 200
    nurse_a.is_active = False
    nurse_a.save()
    response = client.get(child_url(child_a))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_idle_sessions_expire_after_thirty_minutes(settings, login, nurse_a, child_a):
    assert settings.SESSION_COOKIE_AGE == 30 * 60
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    client = login(nurse_a)
    # Using the application renews the expiry to thirty minutes from now.
    Session.objects.update(expire_date=timezone.now() + timezone.timedelta(minutes=5))
    session = client.session
    session["_touched_at"] = 0
    session.save()
    assert client.get(child_url(child_a)).status_code == 200
    remaining = Session.objects.get().expire_date - timezone.now()
    assert timezone.timedelta(minutes=29) < remaining <= timezone.timedelta(minutes=30)
    # Thirty idle minutes later the session is gone.
    Session.objects.update(expire_date=timezone.now() - timezone.timedelta(seconds=1))
    response = client.get(child_url(child_a))
    assert response.status_code == 302


def test_sessions_end_after_the_absolute_limit(login, nurse_a, child_a):
    import time

    client = login(nurse_a)
    client.get(child_url(child_a))
    session = client.session
    session["_auth_started_at"] = time.time() - 13 * 3600
    session.save()
    response = client.get(child_url(child_a))
    assert response.status_code == 302
    assert "utlopt=1" in response["Location"]


def test_login_page_is_norwegian_and_logs_in(client, nurse_a, password):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert "Logg inn" in page.content.decode() and 'lang="nb"' in page.content.decode()
    response = client.post(reverse("login"), {"username": "sykepleier_a", "password": password})
    assert response.status_code == 302


def test_login_is_throttled_after_repeated_failures(client, nurse_a, password):
    for _ in range(5):
        response = client.post(reverse("login"), {"username": "sykepleier_a", "password": "feil-passord"})
    assert "For mange mislykkede innlogginger" in response.content.decode()
    # Even the right password is refused while locked.
    response = client.post(reverse("login"), {"username": "sykepleier_a", "password": password})
    assert response.status_code != 302
    assert "For mange mislykkede innlogginger" in response.content.decode()


def test_a_wrong_password_gets_a_norwegian_message(client, nurse_a):
    response = client.post(reverse("login"), {"username": "sykepleier_a", "password": "feil"})
    assert "Feil brukernavn eller passord" in response.content.decode()


def test_protected_address_visibility_rules(nurse_a, leader_a, child_a):
    confidential = GuardianFactory(address_protection=AddressProtection.CONFIDENTIAL)
    strict = GuardianFactory(address_protection=AddressProtection.STRICTLY_CONFIDENTIAL)
    GuardianshipFactory(child=child_a, guardian=confidential)
    assert not confidential.address_visible_to(nurse_a)
    assert confidential.address_visible_to(leader_a)
    assert not strict.address_visible_to(leader_a)


@pytest.mark.django_db(transaction=True)
def test_a_list_view_logs_one_row_per_child_in_a_single_statement(nurse_a, station_a):
    from django.test.utils import CaptureQueriesContext

    from helsestasjon.services import access_log_record_many

    children = [ChildFactory(station=station_a) for _ in range(3)]
    with CaptureQueriesContext(connection) as outside:
        assert access_log_record_many(user=nurse_a, children=children, action=AccessAction.VIEW_LIST, what="Dagsliste") == 3
    # Outside a transaction: one INSERT, no BEGIN/COMMIT round trips.
    assert len(outside.captured_queries) == 1 and outside.captured_queries[0]["sql"].startswith("INSERT")
    with transaction.atomic():
        access_log_record_many(user=nurse_a, children=children[:2], action=AccessAction.VIEW_LIST, what="Dagsliste")
    logged = AccessLog.objects.filter(action=AccessAction.VIEW_LIST, user=nurse_a)
    assert sorted(logged.values_list("child_id", flat=True)) == sorted([c.pk for c in children] + [c.pk for c in children[:2]])
    assert set(logged.values_list("station_id", "username", "what")) == {(station_a.pk, nurse_a.username, "Dagsliste")}
    assert access_log_record_many(user=nurse_a, children=[], action=AccessAction.VIEW_LIST, what="Tom") == 0


def test_a_change_of_stations_takes_effect_at_the_next_request(login, nurse_a, child_a, station_a, django_assert_max_num_queries):
    client = login(nurse_a)
    assert client.get(child_url(child_a)).status_code == 200
    # The user and her stations are read in one query per request.
    with django_assert_max_num_queries(2) as queries:
        client.get(reverse("home"))
    assert sum("user_stations" in q["sql"] for q in queries.captured_queries) == 1
    nurse_a.stations.remove(station_a)
    assert client.get(child_url(child_a)).status_code == 404
    nurse_a.stations.add(station_a)
    assert client.get(child_url(child_a)).status_code == 200


def test_an_unknown_or_expired_session_is_logged_out(client, login, nurse_a, child_a):
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    client.cookies["sessionid"] = "not-a-session-key-0123456789"
    assert client.get(child_url(child_a)).status_code == 302
    logged_in = login(nurse_a)
    assert logged_in.get(child_url(child_a)).status_code == 200
    Session.objects.update(expire_date=timezone.now())
    response = logged_in.get(child_url(child_a))
    assert response.status_code == 302 and "/logg-inn/" in response["Location"]
