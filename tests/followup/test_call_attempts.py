"""The phone step as a nurse runs it: several attempts, an agreed time that pauses the ladder,
a pause with an end date, and the leader's decision ending in a clear state."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from attendance.services import appointment_record_outcome
from followup import services
from followup.letters.models import Letter
from followup.letters.services import letters_create_due
from followup.models import (CallResult, Case, CaseStatus, CaseStep, CloseReason, Decision, LadderSettings, PauseReason,
                             StepKind, StepStatus)
from followup.services import Booking, followup_sweep
from followup.workdays import add_working_days
from helsestasjon.models import Relation
from tests.factories import AppointmentFactory, ChildFactory, GuardianFactory, GuardianshipFactory
from tests.followup.conftest import local


def _case_at(child, outcome, when=None):
    when = when or timezone.now()
    outcome(child, "not_brought", at=when - timedelta(hours=3))
    followup_sweep(now=when)
    return Case.objects.get(child=child)


def _at_call_step(child, outcome, clerk):
    case = _case_at(child, outcome)
    return services.case_step_skip(step=case.current_step, user=clerk, reason="Familien ringte selv")


def _working_days(n):
    """The next ``n`` working days from today, at 10 o'clock."""
    days, day = [], timezone.localdate()
    for _ in range(n):
        day = add_working_days(day, 1)
        days.append(local(day, 10))
    return days


def _step(case_or_child):
    case = Case.objects.get(child=case_or_child) if not isinstance(case_or_child, Case) else Case.objects.get(pk=case_or_child.pk)
    return case, case.current_step


@pytest.mark.django_db
class TestUnansweredCalls:
    def test_unanswered_call_keeps_the_step_open_until_the_third_attempt(self, child_a, outcome, clerk_a, nurse_a):
        step = _at_call_step(child_a, outcome, clerk_a)
        first, second = _working_days(2)
        services.case_call_log(step=step, user=nurse_a, result=CallResult.NO_ANSWER, now=first)
        case, current = _step(child_a)
        assert current.pk == step.pk and current.status == StepStatus.ACTIVE
        progress = services.call_progress_for(case=case, today=first.date())
        # One call today: the next attempt is proposed for the next working day.
        assert (progress.calls, progress.days) == (1, 1) and progress.next_attempt == add_working_days(first.date(), 1)
        services.case_call_log(step=step, user=nurse_a, result=CallResult.NO_ANSWER, note="Telefonsvarer", now=second)
        case, current = _step(child_a)
        assert current.pk == step.pk and current.status == StepStatus.ACTIVE
        services.case_call_log(step=step, user=nurse_a, result=CallResult.NO_ANSWER, now=second + timedelta(hours=4))
        case, current = _step(child_a)
        assert current.kind == StepKind.ADDRESS_CHECK
        step.refresh_from_db()
        assert step.status == StepStatus.DONE and step.evidence == "3 ubesvarte anrop på 2 virkedager"
        assert step.calls.count() == 3

    def test_three_unanswered_calls_on_one_day_do_not_escalate(self, child_a, outcome, clerk_a, nurse_a):
        step = _at_call_step(child_a, outcome, clerk_a)
        (day,) = _working_days(1)
        for hour in range(3):
            services.case_call_log(step=step, user=nurse_a, result=CallResult.NO_ANSWER, now=day + timedelta(hours=hour))
        case, current = _step(child_a)
        assert current.pk == step.pk and current.is_active
        progress = services.call_progress_for(case=case, today=day.date())
        assert (progress.calls, progress.days, progress.escalates) == (3, 1, False)
        assert progress.next_attempt == add_working_days(day.date(), 1)

    def test_the_municipality_sets_how_many_calls_on_how_many_days(self, child_a, outcome, clerk_a, nurse_a, municipality):
        LadderSettings.objects.update_or_create(municipality=municipality, defaults={"unanswered_calls": 1, "unanswered_days": 1})
        step = _at_call_step(child_a, outcome, clerk_a)
        services.case_call_log(step=step, user=nurse_a, result=CallResult.NO_ANSWER, now=_working_days(1)[0])
        assert Case.objects.get(child=child_a).current_step.kind == StepKind.ADDRESS_CHECK

    def test_the_deadline_still_moves_an_unanswered_step_on(self, child_a, outcome, clerk_a, nurse_a):
        step = _at_call_step(child_a, outcome, clerk_a)
        services.case_call_log(step=step, user=nurse_a, result=CallResult.NO_ANSWER)
        followup_sweep(now=timezone.now() + timedelta(days=30))
        step.refresh_from_db()
        assert step.status == StepStatus.PASSED

    def test_call_again_puts_the_case_on_the_list_on_that_day(self, child_a, outcome, clerk_a, nurse_a):
        step = _at_call_step(child_a, outcome, clerk_a)
        later = add_working_days(timezone.localdate(), 3)
        services.case_call_log(step=step, user=nurse_a, result=CallResult.CALL_AGAIN, call_again_on=later)
        step.refresh_from_db()
        assert step.is_active and step.follow_up_on == later
        with pytest.raises(ValidationError, match="ett år"):
            services.case_call_log(step=step, user=nurse_a, result=CallResult.CALL_AGAIN,
                                   call_again_on=timezone.localdate() + timedelta(days=4000))


@pytest.mark.django_db
class TestOtherResults:
    def test_needs_interpreter_sets_the_guardian_and_keeps_the_step(self, child_a, outcome, clerk_a, nurse_a):
        mother = GuardianFactory(mobile="41234567")
        GuardianshipFactory(child=child_a, guardian=mother, relation=Relation.MOTHER)
        step = _at_call_step(child_a, outcome, clerk_a)
        with pytest.raises(ValidationError, match="språket"):
            services.case_call_log(step=step, user=nurse_a, result=CallResult.NEEDS_INTERPRETER, guardian_id=mother.pk, language="nb")
        services.case_call_log(step=step, user=nurse_a, result=CallResult.NEEDS_INTERPRETER, guardian_id=mother.pk, language="ar")
        mother.refresh_from_db()
        assert mother.interpreter_needed and mother.preferred_language == "ar"
        assert Case.objects.get(child=child_a).current_step.pk == step.pk

    def test_another_family_s_guardian_cannot_be_marked(self, child_a, outcome, clerk_a, nurse_a, station_a):
        stranger = GuardianFactory()
        GuardianshipFactory(child=ChildFactory(station=station_a), guardian=stranger)
        step = _at_call_step(child_a, outcome, clerk_a)
        with pytest.raises(ValidationError):
            services.case_call_log(step=step, user=nurse_a, result=CallResult.NEEDS_INTERPRETER, guardian_id=stranger.pk, language="ar")
        stranger.refresh_from_db()
        assert not stranger.interpreter_needed

    def test_declining_goes_to_the_leader_with_the_reason(self, child_a, outcome, clerk_a, nurse_a):
        step = _at_call_step(child_a, outcome, clerk_a)
        with pytest.raises(ValidationError, match="takker nei"):
            services.case_call_log(step=step, user=nurse_a, result=CallResult.DECLINES)
        services.case_call_log(step=step, user=nurse_a, result=CallResult.DECLINES, note="Ønsker ikke helsestasjon")
        case = Case.objects.get(child=child_a)
        assert case.current_step.kind == StepKind.LEADER_DECISION
        step.refresh_from_db()
        assert step.evidence == "Takker nei: Ønsker ikke helsestasjon"

    def test_wrong_number_with_nothing_in_the_register_goes_to_the_address_check(self, child_a, outcome, clerk_a, nurse_a):
        # No guardian with a register id: nothing to ask the register for.
        step = _at_call_step(child_a, outcome, clerk_a)
        call = services.case_call_log(step=step, user=nurse_a, result=CallResult.WRONG_NUMBER)
        assert call.register_number == ""
        assert Case.objects.get(child=child_a).current_step.kind == StepKind.ADDRESS_CHECK


def _book(nurse, days=3):
    return Booking(starts_at=timezone.now() + timedelta(days=days), professional=nurse, duration_minutes=30)


@pytest.mark.django_db
class TestAgreedTime:
    def _agreed(self, child, outcome, clerk, nurse):
        step = _at_call_step(child, outcome, clerk)
        call = services.case_call_log(step=step, user=nurse, result=CallResult.REACHED_REBOOKED, booking=_book(nurse), note="Mor ringte tilbake")
        return step, call

    def test_agreed_time_pauses_the_ladder_until_the_appointment(self, child_a, outcome, clerk_a, nurse_a):
        step, call = self._agreed(child_a, outcome, clerk_a, nurse_a)
        case = Case.objects.get(child=child_a)
        assert call.appointment is not None and call.appointment.status == "booked"
        assert case.waiting_for_id == call.appointment.pk and case.current_step.pk == step.pk
        # Its deadline passes while it waits: nothing moves.
        followup_sweep(now=timezone.now() + timedelta(days=2, hours=12))
        case.refresh_from_db()
        assert case.current_step.pk == step.pk and case.current_step.is_active and not case.overdue_since
        # Another call cannot be logged while the time is ahead.
        with pytest.raises(ValidationError, match="avtalt time"):
            services.case_call_log(step=step, user=nurse_a, result=CallResult.NO_ANSWER)

    def test_attended_agreed_time_closes_the_case(self, child_a, outcome, clerk_a, nurse_a):
        _, call = self._agreed(child_a, outcome, clerk_a, nurse_a)
        appointment_record_outcome(appointment=call.appointment, outcome="attended", recorded_by=nurse_a)
        followup_sweep()
        case = Case.objects.get(child=child_a)
        assert case.status == CaseStatus.CLOSED and case.close_reason == CloseReason.ATTENDED and case.waiting_for_id is None

    def test_agreed_time_not_brought_continues_at_the_next_step(self, child_a, outcome, clerk_a, nurse_a):
        step, call = self._agreed(child_a, outcome, clerk_a, nurse_a)
        appointment_record_outcome(appointment=call.appointment, outcome="not_brought", recorded_by=nurse_a)
        followup_sweep()
        case = Case.objects.get(child=child_a)
        assert case.is_open and case.waiting_for_id is None and case.current_step.kind == StepKind.ADDRESS_CHECK
        step.refresh_from_db()
        assert step.status == StepStatus.DONE and "Ikke møtt" in step.evidence

    def test_agreed_time_cancelled_by_the_station_keeps_the_step(self, child_a, outcome, clerk_a, nurse_a):
        step, call = self._agreed(child_a, outcome, clerk_a, nurse_a)
        appointment_record_outcome(appointment=call.appointment, outcome="cancelled_by_service", recorded_by=nurse_a)
        followup_sweep()
        case = Case.objects.get(child=child_a)
        assert case.waiting_for_id is None and case.current_step.pk == step.pk and case.current_step.is_active

    def test_no_ladder_letter_while_waiting_for_an_agreed_time(self, child_a, outcome, clerk_a, nurse_a, station_a):
        GuardianshipFactory(child=child_a, guardian=GuardianFactory(), relation=Relation.MOTHER)
        case = _case_at(child_a, outcome)
        # The case is at the new-invitation letter step when the family books a time for the missed consultation.
        letter_step = services.case_step_skip(step=case.current_step, user=clerk_a, reason="Ringt")
        letter_step = services.case_step_skip(step=letter_step, user=nurse_a, reason="Ringt")
        letter_step = services.case_step_skip(step=letter_step, user=clerk_a, reason="Adresse sjekket")
        assert letter_step.kind == StepKind.LETTER_NEW_INVITATION
        consultation = services.consultation_to_book(case=case)
        AppointmentFactory(consultation=consultation, starts_at=timezone.now() + timedelta(days=5), professional=nurse_a)
        letters_create_due(station=station_a)
        assert not Letter.objects.filter(case=case).exists()
        case.refresh_from_db()
        assert case.waiting_for is not None


@pytest.mark.django_db
class TestPause:
    def test_pause_until_a_date_resumes_on_the_day(self, child_a, outcome, nurse_a):
        case = _case_at(child_a, outcome)
        until = timezone.localdate() + timedelta(days=40)
        services.case_pause(case=case, user=nurse_a, reason=PauseReason.ABROAD, until=until, note="I Pakistan")
        followup_sweep(now=local(until - timedelta(days=1), 12))
        case.refresh_from_db()
        assert case.paused_until == until and case.current_step.is_active and case.current_step.seq == 1
        followup_sweep(now=local(until, 6))
        case.refresh_from_db()
        assert case.paused_until is None and case.current_step.is_active
        # The step's deadline starts again from the day the pause ended.
        assert case.current_step.deadline == add_working_days(until, 2)

    def test_a_new_appointment_ends_the_pause_early(self, child_a, outcome, nurse_a):
        case = _case_at(child_a, outcome)
        services.case_pause(case=case, user=nurse_a, reason=PauseReason.SPECIALIST_CARE, until=timezone.localdate() + timedelta(days=90))
        AppointmentFactory(consultation=services.consultation_to_book(case=case), starts_at=timezone.now() + timedelta(days=4), professional=nurse_a)
        followup_sweep()
        case.refresh_from_db()
        assert case.paused_until is None

    @pytest.mark.parametrize("days", [0, -3, 5000])
    def test_absurd_pause_dates_are_refused(self, child_a, outcome, nurse_a, days):
        case = _case_at(child_a, outcome)
        with pytest.raises(ValidationError):
            services.case_pause(case=case, user=nurse_a, reason=PauseReason.GP_FOLLOWUP, until=timezone.localdate() + timedelta(days=days))


@pytest.mark.django_db
class TestLeaderDecisionEndState:
    def _leader_case(self, station_a, outcome):
        return _case_at(ChildFactory(station=station_a, special_attention=True), outcome)

    def test_leader_decision_to_continue_names_the_step_and_reason(self, station_a, outcome, leader_a):
        case = self._leader_case(station_a, outcome)
        with pytest.raises(ValidationError, match="trinnet"):
            services.case_leader_decide(case=case, user=leader_a, decision=Decision.CONTINUE, note="Prøv igjen")
        services.case_leader_decide(case=case, user=leader_a, decision=Decision.CONTINUE, note="Ring mor på nytt",
                                    continue_step=StepKind.PHONE_CALL)
        case.refresh_from_db()
        assert case.cycle == 1 and case.current_step.kind == StepKind.PHONE_CALL and case.current_step.is_active
        decision = services.latest_decision(case=case)
        assert decision.continue_step_name == "Telefon til foresatte" and decision.note == "Ring mor på nytt"
        assert CaseStep.objects.filter(case=case, kind=StepKind.LEADER_DECISION, status=StepStatus.DONE).count() == 1

    def test_report_of_concern_waits_for_child_welfare(self, station_a, outcome, leader_a):
        case = self._leader_case(station_a, outcome)
        services.case_leader_decide(case=case, user=leader_a, decision=Decision.CONCERN_REPORT, note="Bekymring",
                                    concern_report_date=timezone.localdate(), concern_report_reference="BV-1")
        followup_sweep(now=timezone.now() + timedelta(days=60))
        case.refresh_from_db()
        assert case.awaiting_child_welfare and case.current_step.kind == StepKind.LEADER_DECISION and not case.current_step.overdue
        services.case_leader_decide(case=case, user=leader_a, decision=Decision.CLOSE, note="Barnevernet følger opp")
        case.refresh_from_db()
        assert case.status == CaseStatus.CLOSED and not case.awaiting_child_welfare


@pytest.mark.django_db
def test_the_demo_has_a_phone_step_with_two_unanswered_calls_a_waiting_and_a_paused_case(station_a, outcome, nurse_a, clerk_a):
    from helsestasjon.management.commands.seed_demo import seed_followup_calls

    for _ in range(4):
        _case_at(ChildFactory(station=station_a), outcome)
    assert seed_followup_calls() == {"unanswered": 1, "waiting": 1, "paused": 1}
    open_cases = Case.objects.filter(status=CaseStatus.OPEN)
    assert open_cases.filter(paused_until__isnull=False).count() == 1
    assert open_cases.filter(waiting_for__isnull=False).count() == 1
    two = [c for c in open_cases.filter(current_step__kind=StepKind.PHONE_CALL, waiting_for__isnull=True)
           if c.current_step.calls.filter(result=CallResult.NO_ANSWER).count() == 2]
    assert len(two) == 1 and two[0].current_step.is_active
