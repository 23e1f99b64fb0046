"""Letters with postal sense (issue 17): an invitation only when the post can bring it in time,
and never an invitation beside a ladder letter about the same appointment."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from followup.letters.making import letters_create_due, letters_due_count
from followup.letters.models import Letter, LetterState
from tests.factories import AppointmentFactory, ChildFactory, ConsultationFactory
from tests.followup.letters_support import _media, case_at_step, parent  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture
def inviting_station(station_a):
    station_a.send_invitation_letters = True
    station_a.save(update_fields=["send_invitation_letters"])
    return station_a


def _booked(child, nurse, days: int, hour: int = 9):
    starts = timezone.localtime(timezone.now() + timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)
    return AppointmentFactory(consultation=ConsultationFactory(child=child), starts_at=starts, professional=nurse)


def test_no_invitation_letter_for_an_appointment_two_days_away(inviting_station, nurse_a):
    child = ChildFactory(station=inviting_station)
    parent(child)
    _booked(child, nurse_a, 2)
    assert letters_due_count(station=inviting_station)["invitations"] == 0
    letters_create_due(station=inviting_station)
    assert not Letter.objects.exists()


def test_an_invitation_letter_for_an_appointment_eight_days_away(inviting_station, nurse_a):
    child = ChildFactory(station=inviting_station)
    g = parent(child)
    near = _booked(child, nurse_a, 2)
    far = _booked(child, nurse_a, 8, hour=10)
    assert letters_due_count(station=inviting_station)["invitations"] == 1
    letters_create_due(station=inviting_station)
    letter = Letter.objects.get()
    assert (letter.kind, letter.appointment_id, letter.recipient_id) == ("invitation", far.id, g.id)
    assert not Letter.objects.filter(appointment=near).exists()


def test_the_station_chooses_how_many_days_the_post_needs(inviting_station, nurse_a):
    child = ChildFactory(station=inviting_station)
    parent(child)
    appointment = _booked(child, nurse_a, 4)
    assert letters_due_count(station=inviting_station)["invitations"] == 0
    inviting_station.invitation_letter_min_days = 3
    inviting_station.save(update_fields=["invitation_letter_min_days"])
    letters_create_due(station=inviting_station)
    assert Letter.objects.get().appointment == appointment


def test_the_limit_counts_calendar_days_from_today_not_hours(inviting_station, nurse_a):
    # Seven days from now at 08:00 is on the seventh day, however late in the day the batch runs.
    child = ChildFactory(station=inviting_station)
    parent(child)
    late_evening = timezone.localtime(timezone.now()).replace(hour=23, minute=30)
    starts = (late_evening + timedelta(days=7)).replace(hour=8, minute=0)
    AppointmentFactory(consultation=ConsultationFactory(child=child), starts_at=starts, professional=nurse_a)
    assert letters_due_count(station=inviting_station, now=late_evening)["invitations"] == 1
    assert letters_due_count(station=inviting_station, now=late_evening + timedelta(days=1))["invitations"] == 0


def test_a_ladder_letter_and_an_invitation_for_one_appointment_are_never_both_made(inviting_station, nurse_a, clerk_a, login, django_capture_on_commit_callbacks):
    # Booked before the case opened: the invitation is made and waits for the next batch.
    child = ChildFactory(station=inviting_station)
    g = parent(child)
    appointment = _booked(child, nurse_a, 14)
    letters_create_due(station=inviting_station)
    invitation = Letter.objects.get(kind="invitation")
    # The child misses another time; the case reaches the letter step, which names the same time.
    case_at_step(child)
    letters_create_due(station=inviting_station)
    letters_create_due(station=inviting_station)  # twice changes nothing
    invitation.refresh_from_db()
    assert invitation.state == LetterState.CANCELLED
    live = Letter.objects.exclude(state=LetterState.CANCELLED)
    assert [(l.kind, l.appointment_id, l.recipient_id) for l in live] == [("new_invitation", appointment.id, g.id)]

    # The database refuses a second letter about the appointment to that guardian, whichever way it comes.
    ladder = live.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        Letter.objects.create(
            kind="invitation", child=child, station=inviting_station, appointment=appointment, recipient=g, recipient_name="X"
        )
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO followup_letter (kind, child_id, station_id, appointment_id, recipient_id, recipient_name, addressee_ids,"
            " address_lines, manual_handling, base_language, translation_language, translation_reviewed, details, state, attempts,"
            " error, pdf, page_count, created_at)"
            " VALUES ('invitation', %s, %s, %s, %s, 'X', '{}', '[]', false, 'nb', '', false, '{}', 'pending', 0, '', '', 0, now())",
            [child.id, inviting_station.id, appointment.id, g.id],
        )
    # A stopped invitation does not count, and the clerk's batch runs without an error.
    # The start answers at once; the batch is prepared by a task once the request's work is committed.
    with django_capture_on_commit_callbacks(execute=True):
        response = login(clerk_a).post(reverse("followup:letter_batch_start"))
    assert response.status_code in (200, 302)
    assert Letter.objects.exclude(state=LetterState.CANCELLED).count() == 1
    assert Letter.objects.get(pk=ladder.pk).batch_id


def test_an_invitation_already_sent_keeps_the_ladder_letter_from_naming_the_time_again(inviting_station, nurse_a, clerk_a):
    child = ChildFactory(station=inviting_station)
    g = parent(child)
    appointment = _booked(child, nurse_a, 14)
    letters_create_due(station=inviting_station)
    Letter.objects.filter(kind="invitation").update(state=LetterState.SENT, sent_at=timezone.now(), sent_by=clerk_a)
    _, step = case_at_step(child)
    letters_create_due(station=inviting_station)
    ladder = Letter.objects.get(case_step=step)
    assert ladder.recipient_id == g.id and ladder.appointment_id is None
    assert Letter.objects.get(kind="invitation").appointment_id == appointment.id


def test_no_invitation_while_the_child_has_an_open_case(inviting_station, nurse_a):
    # A time booked in a case is the ladder's to tell about (its SMS and letters), even in the same batch.
    child = ChildFactory(station=inviting_station)
    g = parent(child)
    case_at_step(child)
    appointment = _booked(child, nurse_a, 10)
    assert letters_due_count(station=inviting_station)["invitations"] == 0
    letters_create_due(station=inviting_station)
    assert [(l.kind, l.appointment_id, l.recipient_id) for l in Letter.objects.all()] == [("new_invitation", appointment.id, g.id)]


def test_two_ladder_letters_of_different_steps_may_name_the_same_time(station_a, nurse_a):
    child = ChildFactory(station=station_a)
    g = parent(child)
    appointment = _booked(child, nurse_a, 14)
    case, _ = case_at_step(child)
    letters_create_due(station=station_a)
    # The duty reminder of the next step names the same new time.
    Letter.objects.create(
        kind="duty_reminder", child=child, station=station_a, case=case, appointment=appointment, recipient=g, recipient_name="X"
    )
    assert list(Letter.objects.filter(appointment=appointment).values_list("kind", flat=True)) == ["new_invitation", "duty_reminder"]
