""""Feil nummer" asks the register (a fake speaking its HTTP protocol on loopback), and the
home-visit step: booked at home with SMS and letter, consent recorded, "Ingen hjemme" moves on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from attendance.errors import OutcomeError
from attendance.models import Appointment
from attendance.outcomes import appointment_record_outcome
from followup.calls import case_call_log
from followup.home_visit import case_home_visit_book, case_home_visit_consent
from followup.steps import case_step_skip
from followup.waiting import case_pause, case_pause_end
from attendance.outcomes import appointment_record_outcome, outcome_correct
from followup.letters.models import Letter
from followup.models import CallResult, Case, CaseStatus, SmsMessage, StepKind, StepStatus
from followup.steps import Booking
from followup.sweep import followup_sweep
from helsestasjon.models import Relation
from tests.factories import GuardianFactory, GuardianshipFactory, UserFactory
from tests.followup.test_call_attempts import _at_call_step, _case_at
from tests.registry_sync.conftest import register  # noqa: F401 (fixture)


@pytest.mark.django_db
def test_wrong_number_shows_the_number_from_the_contact_register(register, child_a, outcome, clerk_a, nurse_a):  # noqa: F811
    mother = GuardianFactory(mobile="41111111")
    GuardianshipFactory(child=child_a, guardian=mother, relation=Relation.MOTHER)
    person_id = register.add_person(nin=mother.national_id, given_name=mother.given_name, family_name=mother.family_name,
                                    birth_date="1990-05-05", municipality="4601", phone="+4799887766")
    mother.register_person_id = person_id
    mother.save(update_fields=["register_person_id"])
    step = _at_call_step(child_a, outcome, clerk_a)
    call = case_call_log(step=step, user=nurse_a, result=CallResult.WRONG_NUMBER)
    assert call.register_number == "99887766"
    case = Case.objects.get(child=child_a)
    assert case.current_step.pk == step.pk and case.current_step.is_active


@pytest.mark.django_db
def test_wrong_number_when_the_register_is_down_is_a_message_and_nothing_is_lost(settings, child_a, outcome, clerk_a, nurse_a):
    from django.core.exceptions import ValidationError

    settings.REGISTER_BASE_URL = "http://127.0.0.1:9/api"  # nothing listens there
    settings.REGISTER_TIMEOUT_SECONDS = 1
    mother = GuardianFactory(mobile="41111111", register_person_id="p-1")
    GuardianshipFactory(child=child_a, guardian=mother, relation=Relation.MOTHER)
    step = _at_call_step(child_a, outcome, clerk_a)
    with pytest.raises(ValidationError, match="Kontaktregisteret"):
        case_call_log(step=step, user=nurse_a, result=CallResult.WRONG_NUMBER)
    assert not step.calls.exists()


def _at_home_visit(child, outcome, clerk, nurse):
    step = _at_call_step(child, outcome, clerk)
    for user in (nurse, clerk, clerk, clerk):
        step = case_step_skip(step=step, user=user, reason="Gjort utenfor systemet")
    assert step.kind == StepKind.HOME_VISIT
    return step


@pytest.mark.django_db
def test_home_visit_is_booked_at_home_with_sms_letter_and_a_second_professional(
    child_a, outcome, clerk_a, nurse_a, station_a, sms_outbox
):
    mother = GuardianFactory(mobile="41234567")
    GuardianshipFactory(child=child_a, guardian=mother, relation=Relation.MOTHER)
    colleague = UserFactory(role="nurse")
    colleague.stations.add(station_a)
    step = _at_home_visit(child_a, outcome, clerk_a, nurse_a)
    case_home_visit_consent(step=step, user=nurse_a, note="Mor samtykket på telefon")
    visit = case_home_visit_book(
        step=step, user=nurse_a,
        booking=Booking(starts_at=timezone.now() + timedelta(days=10), professional=nurse_a, duration_minutes=60,
                        second_professional=colleague),
    )
    assert visit.place == "home" and visit.second_professional == colleague
    assert SmsMessage.objects.filter(case_step=step, guardian=mother).exists()
    assert Letter.objects.filter(appointment=visit, kind="invitation", recipient=mother).exists()
    case = Case.objects.get(child=child_a)
    assert case.waiting_for == visit
    step.refresh_from_db()
    assert step.consent_note == "Mor samtykket på telefon" and step.consent_by == nurse_a
    # Both professionals have it on their day list.
    day = timezone.localdate(visit.starts_at)
    for professional in (nurse_a, colleague):
        assert visit in Appointment.objects.for_professional_day(professional_id=professional.pk, day=day)


@pytest.mark.django_db
def test_nobody_home_continues_the_ladder(child_a, outcome, clerk_a, nurse_a):
    step = _at_home_visit(child_a, outcome, clerk_a, nurse_a)
    visit = case_home_visit_book(step=step, user=nurse_a,
                                          booking=Booking(starts_at=timezone.now() + timedelta(days=3), professional=nurse_a))
    appointment_record_outcome(appointment=visit, outcome="no_access", recorded_by=nurse_a)
    followup_sweep()
    case = Case.objects.get(child=child_a)
    assert case.status == CaseStatus.OPEN and case.waiting_for is None and case.current_step.kind == StepKind.DISCUSSION
    step.refresh_from_db()
    assert step.status == StepStatus.DONE and "Ingen hjemme" in step.evidence


def _home_visit_booked(child, outcome, clerk, nurse):
    step = _at_home_visit(child, outcome, clerk, nurse)
    visit = case_home_visit_book(step=step, user=nurse,
                                          booking=Booking(starts_at=timezone.now() + timedelta(hours=2), professional=nurse))
    return step, visit


@pytest.mark.django_db
def test_home_visit_needs_consent_before_attended(login, child_a, outcome, clerk_a, nurse_a):
    step, visit = _home_visit_booked(child_a, outcome, clerk_a, nurse_a)
    body = login(nurse_a).post(
        reverse("attendance:record_outcome", args=[visit.pk]), {"outcome": "attended"},
        HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"time-{visit.pk}",
    ).content.decode()
    assert "Familiens samtykke til hjemmebesøket er ikke registrert." in body
    visit.refresh_from_db()
    assert visit.status == "booked" and not visit.events.exists()
    with pytest.raises(OutcomeError, match="samtykke"):
        appointment_record_outcome(appointment=visit, outcome="attended", recorded_by=nurse_a)
    case_home_visit_consent(step=step, user=nurse_a, note="Far samtykket på telefon")
    appointment_record_outcome(appointment=visit, outcome="attended", recorded_by=nurse_a)
    visit.refresh_from_db()
    assert visit.status == "attended"


@pytest.mark.django_db
def test_not_brought_at_a_home_visit_needs_no_consent_but_a_correction_to_attended_does(child_a, outcome, clerk_a, nurse_a):
    _step, visit = _home_visit_booked(child_a, outcome, clerk_a, nurse_a)
    event = appointment_record_outcome(appointment=visit, outcome="not_brought", recorded_by=nurse_a)
    with pytest.raises(OutcomeError, match="samtykke"):
        outcome_correct(event=event, outcome="attended", recorded_by=nurse_a)
    visit.refresh_from_db()
    assert visit.status == "not_brought"


@pytest.mark.django_db
def test_the_second_professional_must_be_another_colleague_of_the_station(login, child_a, outcome, clerk_a, nurse_a, nurse_b):
    step = _at_home_visit(child_a, outcome, clerk_a, nurse_a)
    when = timezone.localtime() + timedelta(days=8)
    body = login(nurse_a).post(
        reverse("followup:step_home_visit", args=[step.pk]),
        {"starts_at": when.strftime("%Y-%m-%dT%H:%M"), "professional": nurse_a.pk, "second_professional": nurse_b.pk},
        HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"sak-{step.case_id}",
    ).content.decode()
    assert "Fagperson nr. 2 må være en annen fagperson ved barnets helsestasjon." in body
    assert not Appointment.objects.filter(place="home").exists()


@pytest.mark.django_db
def test_the_case_page_keeps_its_query_count_with_calls_logged(login, child_a, outcome, clerk_a, nurse_a, django_assert_max_num_queries):
    step = _at_call_step(child_a, outcome, clerk_a)
    client = login(nurse_a)
    client.get(reverse("followup:case", args=[step.case_id]))
    with django_assert_max_num_queries(40) as first:
        client.get(reverse("followup:case", args=[step.case_id]))
    for minutes in range(5):
        case_call_log(step=step, user=nurse_a, result=CallResult.NO_ANSWER, note="Ikke svar",
                               now=timezone.now() - timedelta(minutes=10 - minutes))
    assert step.calls.count() == 5
    with django_assert_max_num_queries(len(first.captured_queries)):
        client.get(reverse("followup:case", args=[step.case_id]))


@pytest.mark.django_db
def test_a_double_clicked_unanswered_call_counts_once(child_a, outcome, clerk_a, nurse_a):
    step = _at_call_step(child_a, outcome, clerk_a)
    now = timezone.now()
    first = case_call_log(step=step, user=nurse_a, result=CallResult.NO_ANSWER, now=now)
    again = case_call_log(step=step, user=nurse_a, result=CallResult.NO_ANSWER, now=now + timedelta(seconds=2))
    assert again.pk == first.pk and step.calls.count() == 1


@pytest.mark.django_db
def test_a_paused_child_gets_no_appointment_reminder(child_a, outcome, nurse_a, station_a, sms_outbox):
    from followup.models import PauseReason
    from followup.sms.services import sms_reminders_send
    from tests.factories import AppointmentFactory, ConsultationFactory

    GuardianshipFactory(child=child_a, guardian=GuardianFactory(mobile="41234567"), relation=Relation.MOTHER)
    station_a.sms_reminder_days_before = 3
    station_a.save(update_fields=["sms_reminder_days_before"])
    case = _case_at(child_a, outcome)
    AppointmentFactory(consultation=ConsultationFactory(child=child_a), starts_at=timezone.now() + timedelta(days=1), professional=nurse_a)
    case_pause(case=case, user=nurse_a, reason=PauseReason.ABROAD, until=timezone.localdate() + timedelta(days=20))
    assert sms_reminders_send() == 0
    case_pause_end(case=case, user=nurse_a)
    assert sms_reminders_send() == 1
