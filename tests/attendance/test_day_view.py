"""The nurse's day at /dag/: rows, one-click outcomes (htmx and plain), conflicts, isolation, queries."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from attendance.models import Appointment, AppointmentStatus, Outcome, OutcomeEvent
from attendance.outcomes import appointment_record_outcome
from helsestasjon.models import AccessLog
from tests.attendance.conftest import local

pytestmark = pytest.mark.django_db
DAY = reverse("attendance:day")


def record_url(appointment):
    return reverse("attendance:record_outcome", args=[appointment.pk])


def test_the_day_shows_the_nurses_appointments_with_what_she_needs(login, station_a, nurse_a, planned_child, booked):
    child = planned_child(station_a, given_name="Selma", special_attention=True)
    past = booked(child, nurse_a, starts_at=local(timezone.localdate() - timedelta(days=60)))
    appointment_record_outcome(appointment=past, outcome=Outcome.NOT_BROUGHT, recorded_by=nurse_a)
    booked(child, nurse_a, starts_at=local(timezone.localdate(), 9, 30))
    page = login(nurse_a).get(DAY).content.decode()
    assert "09:30" in page and "Selma" in page
    assert "Særlig oppfølging" in page
    assert "Hansen, Mona" in page and "العربية" in page and "Tolk" in page
    assert '<span class="tag bad">1</span>' in page  # one missed appointment in the last 12 months
    # One access-log row per row shown, written with the rows.
    logged = AccessLog.objects.filter(child=child, action="view_list")
    assert logged.count() == 1
    assert logged.get().what == f"Dagsliste {timezone.localdate():%d.%m.%Y}" and logged.get().user == nurse_a
    assert logged.get().station_id == station_a.pk and logged.get().path == DAY


def test_the_day_query_count_does_not_grow_with_rows(login, station_a, nurse_a, planned_child, booked, django_assert_max_num_queries):
    client = login(nurse_a)
    for hour in range(8, 11):
        booked(planned_child(station_a), nurse_a, starts_at=local(timezone.localdate(), hour))
    # Session, user and stations, the rows with their access log and (in the same round trip) the
    # colleagues and the menu's count of unseen register alerts; the first request also renews the
    # session (BEGIN, UPDATE, COMMIT). Later requests read the user with the session (test_day_sessions.py).
    with django_assert_max_num_queries(6) as few:
        client.get(DAY)
    for minute in range(0, 60, 3):
        appointment = booked(planned_child(station_a), nurse_a, starts_at=local(timezone.localdate(), 14, minute))
        appointment_record_outcome(appointment=appointment, outcome=Outcome.NOT_BROUGHT, reason="illness", recorded_by=nurse_a)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(DAY)
    assert response.content.decode().count('<tr id="time-') == 23


def test_another_day_and_a_colleagues_day_can_be_chosen(login, station_a, nurse_a, leader_a, planned_child, booked):
    tomorrow = timezone.localdate() + timedelta(days=1)
    booked(planned_child(station_a, given_name="Iben"), leader_a, starts_at=local(tomorrow, 11))
    page = login(nurse_a).get(DAY, {"dato": tomorrow.isoformat(), "fagperson": leader_a.pk}).content.decode()
    assert "Iben" in page
    assert "Iben" not in login(nurse_a).get(DAY, {"dato": tomorrow.isoformat()}).content.decode()


def test_her_own_day_offers_the_colleagues_read_with_the_rows(login, station_a, nurse_a, leader_a, nurse_b, planned_child, booked):
    booked(planned_child(station_a, given_name="Iben"), nurse_a, starts_at=local(timezone.localdate(), 11))
    page = login(nurse_a).get(DAY).content.decode()
    picker = re.search(r'<select id="fagperson".*?</select>', page, re.DOTALL).group(0)
    assert f'<option value="{nurse_a.pk}" selected>' in picker and f'<option value="{leader_a.pk}">' in picker
    assert f'value="{nurse_b.pk}"' not in picker  # another station's nurse
    assert "Iben" in page and "Fant ikke fagpersonen" not in page


def test_bad_day_parameters_give_a_message_not_an_error(login, nurse_a):
    response = login(nurse_a).get(DAY, {"dato": "2026-13-45", "fagperson": "x"})
    assert response.status_code == 200
    assert "Ugyldig dato" in response.content.decode()


def test_a_colleague_at_another_station_cannot_be_chosen(login, station_a, nurse_a, nurse_b, station_b, planned_child, booked):
    booked(planned_child(station_b, given_name="Bjarne"), nurse_b)
    page = login(nurse_a).get(DAY, {"fagperson": nurse_b.pk}).content.decode()
    assert "Bjarne" not in page and "Fant ikke fagpersonen" in page


def test_clerks_do_not_see_the_nurses_day(login, clerk_a):
    assert login(clerk_a).get(DAY).status_code == 403


def test_one_click_records_the_outcome_and_returns_only_the_row(login, station_a, nurse_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    response = login(nurse_a).post(record_url(appointment), {"outcome": "not_brought", "reason": "forgot"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert body.strip().startswith(f'<tr id="time-{appointment.pk}"')
    assert "Ikke møtt" in body and "Glemt timen" in body and "<html" not in body
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.NOT_BROUGHT


def test_without_javascript_the_form_posts_and_redirects_back_to_the_day(login, station_a, nurse_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    client = login(nurse_a)
    response = client.post(record_url(appointment), {"outcome": "attended"})
    assert response.status_code == 302 and f"#time-{appointment.pk}" in response["Location"]
    page = client.get(response["Location"]).content.decode()
    assert "Utfallet er registrert" in page and "Møtt" in page


def test_a_double_click_records_one_outcome_and_shows_no_error(login, station_a, nurse_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    client = login(nurse_a)
    client.post(record_url(appointment), {"outcome": "attended"}, HTTP_HX_REQUEST="true")
    second = client.post(record_url(appointment), {"outcome": "attended"}, HTTP_HX_REQUEST="true").content.decode()
    assert OutcomeEvent.objects.filter(appointment=appointment).count() == 1
    assert 'role="alert"' not in second


def test_a_nurse_who_loses_the_race_is_told_and_sees_the_current_state(login, station_a, nurse_a, leader_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    appointment_record_outcome(appointment=appointment, outcome=Outcome.ATTENDED, recorded_by=leader_a)
    body = login(nurse_a).post(record_url(appointment), {"outcome": "not_brought"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'role="alert"' in body and "Lise Lund registrerte «Møtt»" in body
    assert OutcomeEvent.objects.get(appointment=appointment).outcome == Outcome.ATTENDED


def test_a_recorded_outcome_can_be_corrected_from_the_row(login, station_a, nurse_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    first = appointment_record_outcome(appointment=appointment, outcome=Outcome.ATTENDED, recorded_by=nurse_a)
    body = login(nurse_a).post(
        record_url(appointment), {"outcome": "cancelled_by_guardian", "reason": "illness", "replaces": first.pk}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Avbestilt av foresatte" in body and "(rettet)" in body and "Historikk" in body
    assert OutcomeEvent.objects.get(replaces=first).outcome == Outcome.CANCELLED_BY_GUARDIAN


def _move(client, appointment, new_day, new_time: str) -> str:
    """The row's "Flytt" with a new date and time, as htmx posts it; the answer's body."""
    data = {"outcome": "rescheduled", "new_date": new_day.isoformat(), "new_time": new_time}
    return client.post(record_url(appointment), data, HTTP_HX_REQUEST="true").content.decode()


def test_moving_an_appointment_from_the_row(login, station_a, nurse_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    new_day = timezone.localdate() + timedelta(days=14)
    body = _move(login(nurse_a), appointment, new_day, "13:15")
    assert "Flyttet" in body and f"{new_day:%d.%m.%Y} 13:15" in body


def test_moving_without_a_new_time_is_explained(login, station_a, nurse_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    body = login(nurse_a).post(record_url(appointment), {"outcome": "rescheduled"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Velg ny dato og tid" in body


def test_a_nurse_at_another_station_cannot_record_or_see_the_row(login, station_a, nurse_a, nurse_b, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    assert login(nurse_b).post(record_url(appointment), {"outcome": "attended"}).status_code == 404
    assert not OutcomeEvent.objects.filter(appointment=appointment).exists()


@pytest.mark.parametrize("day", [date(2026, 3, 29), date(2026, 10, 25)])  # Oslo: spring forward, fall back
def test_daylight_saving_days_hold_exactly_their_own_appointments(login, station_a, nurse_a, planned_child, booked, day):
    child = planned_child(station_a, birth_date=day - timedelta(days=200), today=day)
    first = booked(child, nurse_a, starts_at=local(day, 0, 15))
    child_late = planned_child(station_a, birth_date=day - timedelta(days=200), today=day)
    late = booked(child_late, nurse_a, starts_at=local(day, 23, 45))
    child_next = planned_child(station_a, birth_date=day - timedelta(days=200), today=day)
    # 00:15 the next day: just after midnight, and not overlapping the 23:45 appointment (30 minutes).
    booked(child_next, nurse_a, starts_at=local(day + timedelta(days=1), 0, 15))
    rows = list(Appointment.objects.for_professional_day(nurse_a.pk, day))
    assert rows == [first, late]
    assert (rows[1].starts_at - rows[0].starts_at) == timedelta(hours=23, minutes=30) + (
        timedelta(hours=-1) if day.month == 3 else timedelta(hours=1)
    )


def test_guardians_with_markup_in_their_names_are_shown_literally(login, station_a, nurse_a, planned_child, booked):
    from tests.factories import GuardianFactory, GuardianshipFactory

    child = planned_child(station_a, given_name="<b>Ola</b>")
    GuardianshipFactory(child=child, guardian=GuardianFactory(given_name="<script>alert(1)</script>", family_name="& Co"))
    lonely = planned_child(station_a, given_name="Uten")
    lonely.guardianships.all().delete()
    booked(child, nurse_a, starts_at=local(timezone.localdate(), 9))
    booked(lonely, nurse_a, starts_at=local(timezone.localdate(), 10))
    page = login(nurse_a).get(DAY).content.decode()
    assert "<script>alert(1)</script>" not in page and "&amp; Co, &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;Ola&lt;/b&gt;" in page
    assert '<span class="tag">العربية</span> <span class="tag warn">Tolk</span>' in page
    assert "Ingen registrert" in page


def test_the_busiest_lists_read_no_undefined_template_names(monkeypatch, login, station_a, nurse_a, planned_child, booked):
    """An undefined name costs the template engine an exception per row (benchmarks/day_view.py)."""
    from django.template import base

    missing = []
    resolve = base.Variable._resolve_lookup

    def recording(self, context):
        try:
            return resolve(self, context)
        except base.VariableDoesNotExist:
            missing.append(self.var)
            raise

    monkeypatch.setattr(base.Variable, "_resolve_lookup", recording)
    child = planned_child(station_a)
    booked(child, nurse_a, starts_at=local(timezone.localdate(), 9))
    planned_child(station_a, birth_date=timezone.localdate() - timedelta(days=400))
    client = login(nurse_a)
    for url in (DAY, reverse("attendance:booking_worklist")):
        assert client.get(url).status_code == 200
    assert missing == []


def test_the_hand_written_colleagues_agree_with_the_queryset(station_a, station_b, nurse_a, leader_a):
    from attendance.views.day import _colleagues
    from helsestasjon.models import Role, User
    from tests.factories import StationFactory, UserFactory

    UserFactory(role=Role.CLERK, stations=[station_a])  # Clerks hold no consultations.
    UserFactory(role=Role.NURSE, stations=[station_a], is_active=False)
    other = UserFactory(role=Role.NURSE, stations=[StationFactory()])  # Another station.
    both = UserFactory(role=Role.NURSE, first_name="Anne", stations=[station_a, station_b])
    nurse_a.stations.add(station_b)
    nurse_a.__dict__.pop("_station_ids", None)
    expected = list(
        User.objects.filter(is_active=True, stations__in=nurse_a.station_ids()).exclude(role=Role.CLERK)
        .distinct().order_by("first_name", "last_name", "id")
    )
    assert [u.pk for u in _colleagues(nurse_a)] == [u.pk for u in expected]
    assert both in expected and leader_a in expected and other not in expected


def _outcome_forms(page: str) -> list[str]:
    return re.findall(r'<form method="post" action="[^"]*" class="outcome-form[^"]*".*?</form>', page, re.DOTALL)


def test_a_reason_is_only_asked_for_a_missed_or_cancelled_time(login, station_a, nurse_a, planned_child, booked):
    booked(planned_child(station_a), nurse_a)
    page = login(nurse_a).get(DAY).content.decode()
    with_reason = [form for form in _outcome_forms(page) if 'name="reason"' in form]
    without_reason = [form for form in _outcome_forms(page) if 'name="reason"' not in form]
    assert len(with_reason) == 1
    assert 'value="not_brought"' in with_reason[0] and 'value="cancelled_by_guardian"' in with_reason[0]
    assert 'value="attended"' not in with_reason[0] and 'value="cancelled_by_service"' not in with_reason[0]
    assert any('value="attended"' in form for form in without_reason)


def test_a_home_visit_asks_for_a_reason_with_nobody_home(login, station_a, nurse_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    Appointment.objects.filter(pk=appointment.pk).update(place="home")
    page = login(nurse_a).get(DAY).content.decode()
    (with_reason,) = [form for form in _outcome_forms(page) if 'name="reason"' in form]
    assert 'value="no_access"' in with_reason


def test_a_reason_sent_with_attended_is_refused_at_the_row(login, station_a, nurse_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    body = login(nurse_a).post(record_url(appointment), {"outcome": "attended", "reason": "illness"}, HTTP_HX_REQUEST="true").content.decode()
    assert 'role="alert"' in body and "Årsak oppgis bare ved «Ikke møtt»" in body
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED


def test_the_row_marks_an_emigrated_a_deceased_and_a_protected_child_and_an_open_case(login, station_a, nurse_a, planned_child, booked):
    from followup.models import Case
    from helsestasjon.models import AddressProtection, Child, ChildStatus

    today = timezone.localdate()
    gone = planned_child(station_a, given_name="Utvandra")
    died = planned_child(station_a, given_name="Borte")
    hidden = planned_child(station_a, given_name="Skjult")
    followed = planned_child(station_a, given_name="Fulgt")
    plain = planned_child(station_a, given_name="Vanlig")
    rows = {}
    for hour, child in enumerate((gone, died, hidden, followed, plain), start=8):
        rows[child.given_name] = booked(child, nurse_a, starts_at=local(today, hour))
    # The register's news after the booking: the time is still on the list, with the mark.
    Child.objects.filter(pk=gone.pk).update(status=ChildStatus.EMIGRATED)
    Child.objects.filter(pk=died.pk).update(status=ChildStatus.DECEASED)
    Child.objects.filter(pk=hidden.pk).update(address_protection=AddressProtection.STRICTLY_CONFIDENTIAL)
    Case.objects.create(child=followed, station=station_a, triggered_at=timezone.now())
    page = login(nurse_a).get(DAY).content.decode()

    def row_of(name):
        return re.search(rf'<tr id="time-{rows[name].pk}".*?</tr>', page, re.DOTALL).group(0)

    assert "Utvandret" in row_of("Utvandra")
    assert "Død" in row_of("Borte")
    assert "Strengt fortrolig adresse" in row_of("Skjult")
    assert "Åpen oppfølgingssak" in row_of("Fulgt")
    plain_row = row_of("Vanlig")
    assert not any(mark in plain_row for mark in ("Utvandret", "Død", "fortrolig adresse", "Åpen oppfølgingssak"))


def test_the_day_lists_names_family_name_first_and_documents_its_keys(login, station_a, nurse_a, planned_child, booked):
    child = planned_child(station_a, given_name="Selma")
    booked(child, nurse_a, starts_at=local(timezone.localdate(), 9))
    page = login(nurse_a).get(DAY).content.decode()
    assert f"{child.family_name}, Selma" in page
    assert 'id="day-keys"' in page and "trykk M for «Møtt» eller I for «Ikke møtt»" in page
    assert 'data-key="m" aria-keyshortcuts="M"' in page and 'data-key="i" aria-keyshortcuts="I"' in page
    assert 'aria-describedby="day-keys"' in page


def test_the_swapped_row_announces_what_was_recorded(login, station_a, nurse_a, planned_child, booked):
    child = planned_child(station_a, given_name="Selma")
    appointment = booked(child, nurse_a)
    body = login(nurse_a).post(record_url(appointment), {"outcome": "attended"}, HTTP_HX_REQUEST="true").content.decode()
    assert f'data-announce="{child.family_name}, Selma: Møtt er registrert."' in body
    assert "data-focus" in body


def test_a_failed_move_keeps_what_was_typed_and_stands_at_the_fields(login, station_a, nurse_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    new_day = timezone.localdate() + timedelta(days=9)
    body = _move(login(nurse_a), appointment, new_day, "")
    assert "Velg ny dato og tid" in body
    assert '<details class="popup row-menu" open>' in body
    assert f'name="new_date" value="{new_day.isoformat()}" aria-invalid="true" aria-describedby="move-error-{appointment.pk}"' in body
    assert f'id="move-error-{appointment.pk}"' in body
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.BOOKED


def test_a_refused_reason_keeps_the_chosen_reason_and_the_panel_open(login, station_a, nurse_a, leader_a, planned_child, booked):
    appointment = booked(planned_child(station_a), nurse_a)
    appointment_record_outcome(appointment=appointment, outcome=Outcome.ATTENDED, recorded_by=leader_a)
    first = OutcomeEvent.objects.get(appointment=appointment)
    # A correction to the same outcome is refused; the panel comes back as it was sent.
    body = login(nurse_a).post(
        record_url(appointment), {"outcome": "not_brought", "reason": "illness", "replaces": first.pk + 1000}, HTTP_HX_REQUEST="true"
    )
    assert body.status_code == 404
    body = login(nurse_a).post(
        record_url(appointment), {"outcome": "not_brought", "reason": "illness"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert 'role="alert"' in body
    assert '<option value="illness" selected>' in body
