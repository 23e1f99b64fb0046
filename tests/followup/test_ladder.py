"""The ladder: configuration, working-day deadlines, evidence, skipping, calls, SMS, decisions."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from followup.calls import case_call_log
from followup.closing import case_close_for_child, case_follow_child_station, case_gp_confirmed
from followup.decisions import case_leader_decide
from followup.ladder import ladder_for_municipality
from followup.sms.rebook import case_sms_rebook
from followup.sms.sending import sms_send
from followup.steps import case_step_complete, case_step_skip
from followup.models import (
    CallResult,
    Case,
    CaseStatus,
    CaseStep,
    CloseReason,
    Decision,
    LadderStep,
    SmsMessage,
    StepKind,
    StepStatus,
)
from followup.sweep import followup_sweep
from followup.views import leader_queue_cases
from followup.workdays import add_working_days, is_working_day
from helsestasjon.models import Relation
from tests.factories import (
    AppointmentFactory,
    ChildFactory,
    ConsultationFactory,
    GuardianFactory,
    GuardianshipFactory,
    MunicipalityFactory,
    StationFactory,
)
from tests.followup.conftest import local


class TestWorkingDays:
    def test_a_weekend_is_skipped(self):
        # Friday 6 March 2026 + 2 working days = Tuesday 10 March.
        assert add_working_days(date(2026, 3, 6), 2) == date(2026, 3, 10)

    def test_17_may_is_not_a_working_day(self):
        # Monday 17 May 2027 is Constitution Day (and Whit Monday): Friday + 2 = Wednesday 19 May.
        assert not is_working_day(date(2027, 5, 17))
        assert add_working_days(date(2027, 5, 14), 2) == date(2027, 5, 19)

    def test_easter_is_skipped(self):
        # Wednesday 1 April 2026: Maundy Thursday, Good Friday, the weekend and Easter Monday are off.
        assert add_working_days(date(2026, 4, 1), 2) == date(2026, 4, 8)

    def test_christmas_and_new_year(self):
        assert add_working_days(date(2026, 12, 23), 3) == date(2026, 12, 29)
        assert not is_working_day(date(2027, 1, 1))


def _case_at(child, outcome, when):
    """A case opened by a sweep at ``when`` (the clock is moved, not the database)."""
    outcome(child, "not_brought", at=when - timedelta(hours=3))
    followup_sweep(now=when)
    return Case.objects.get(child=child)


@pytest.mark.django_db
class TestLadderConfiguration:
    def test_the_default_ladder_has_the_spec_s_eight_steps(self, municipality):
        steps = ladder_for_municipality(municipality_id=municipality.id)
        assert [(s.order, s.kind, s.owner_role, s.deadline_working_days) for s in steps] == [
            (1, "sms_rebook", "clerk", 2), (2, "phone_call", "nurse", 5), (3, "address_check", "clerk", 2),
            (4, "letter_new_invitation", "clerk", 3), (5, "letter_duty_reminder", "clerk", 10),
            (6, "home_visit", "nurse", 10), (7, "discussion", "nurse", 5), (8, "leader_decision", "leader", 5),
        ]

    def test_a_municipality_s_own_ladder_is_used(self, municipality, child_a, outcome):
        ladder_for_municipality(municipality_id=municipality.id)
        # This municipality calls first and has a longer deadline for it.
        LadderStep.objects.filter(municipality=municipality, kind=StepKind.SMS_REBOOK).update(order=20)
        LadderStep.objects.filter(municipality=municipality, kind=StepKind.PHONE_CALL).update(order=1, deadline_working_days=7)
        case = _case_at(child_a, outcome, local(date(2026, 3, 2), 12))
        assert case.current_step.kind == StepKind.PHONE_CALL
        assert case.current_step.deadline == date(2026, 3, 11)


    @pytest.mark.parametrize("how", ["completed", "deadline passed"])
    def test_a_case_that_moves_municipality_carries_on_after_the_same_kind_of_step(self, child_a, outcome, clerk_a, nurse_a, how):
        case = _case_at(child_a, outcome, local(date(2026, 3, 2), 12))
        case_step_complete(step=case.current_step, user=clerk_a, evidence="SMS sendt",
                                    now=local(date(2026, 3, 2), 13))
        case.refresh_from_db()
        assert (case.current_step.kind, case.current_step.order) == (StepKind.PHONE_CALL, 2)
        # The neighbouring municipality writes letters before it calls:
        # sms 1, new invitation 2, address check 3, phone call 4, duty reminder 5, ...
        other = StationFactory(municipality=MunicipalityFactory(number="4624", name="Bjørnafjorden"))
        ladder_for_municipality(municipality_id=other.municipality_id)
        for kind, order in ((StepKind.PHONE_CALL, 40), (StepKind.LETTER_NEW_INVITATION, 2), (StepKind.PHONE_CALL, 4)):
            LadderStep.objects.filter(municipality_id=other.municipality_id, kind=kind).update(order=order)
        child_a.station = other
        child_a.save(update_fields=["station"])
        assert case_follow_child_station(child=child_a) == 1
        if how == "completed":
            case_step_complete(step=case.current_step, user=nurse_a, evidence="Snakket med mor",
                                        now=local(date(2026, 3, 3), 10))
        else:
            followup_sweep(now=local(date(2026, 3, 20), 8))
        case.refresh_from_db()
        # By number (after 2) it would be the address check; the call was made, so the
        # new ladder goes on with what follows its phone call.
        assert case.current_step.kind == StepKind.LETTER_DUTY_REMINDER
        assert case.station_id == other.pk


    def test_a_moved_case_whose_step_the_new_ladder_lacks_goes_by_number(self, child_a, outcome, clerk_a, nurse_a):
        case = _case_at(child_a, outcome, local(date(2026, 3, 2), 12))
        case_step_complete(step=case.current_step, user=clerk_a, evidence="SMS sendt", now=local(date(2026, 3, 2), 13))
        other = StationFactory(municipality=MunicipalityFactory(number="4624", name="Bjørnafjorden"))
        ladder_for_municipality(municipality_id=other.municipality_id)
        LadderStep.objects.filter(municipality_id=other.municipality_id, kind=StepKind.PHONE_CALL).delete()  # It never calls.
        child_a.station = other
        child_a.save(update_fields=["station"])
        case_follow_child_station(child=child_a)
        case.refresh_from_db()
        case_step_complete(step=case.current_step, user=nurse_a, evidence="Snakket med mor", now=local(date(2026, 3, 3), 10))
        case.refresh_from_db()
        assert case.current_step.kind == StepKind.ADDRESS_CHECK  # After step 2 by number.


@pytest.mark.django_db
class TestDeadlines:
    def test_deadline_counts_working_days_across_a_weekend(self, child_a, outcome):
        case = _case_at(child_a, outcome, local(date(2026, 3, 6), 12))  # Friday
        assert case.current_step.deadline == date(2026, 3, 10)

    def test_a_step_past_its_deadline_moves_on_and_shows_overdue(self, child_a, outcome, login, leader_a):
        case = _case_at(child_a, outcome, local(date(2027, 5, 14), 12))  # Friday before 17 May
        first = case.current_step
        assert first.deadline == date(2027, 5, 19)
        followup_sweep(now=local(date(2027, 5, 19), 16))
        first.refresh_from_db()
        assert first.status == StepStatus.ACTIVE, "not overdue on the deadline day itself"
        report = followup_sweep(now=local(date(2027, 5, 20), 8))
        first.refresh_from_db()
        case.refresh_from_db()
        assert report.steps_passed == 1
        assert first.status == StepStatus.PASSED and first.overdue
        assert case.current_step.kind == StepKind.PHONE_CALL
        assert case.current_step.deadline == date(2027, 5, 27)
        assert case.overdue_since is not None
        assert case in leader_queue_cases(leader_a), "an overdue case is in the leader's queue"

    def test_easter_moves_the_deadline(self, child_a, outcome):
        case = _case_at(child_a, outcome, local(date(2026, 4, 1), 12))
        assert case.current_step.deadline == date(2026, 4, 8)
        followup_sweep(now=local(date(2026, 4, 7), 12))
        case.refresh_from_db()
        assert case.current_step.kind == StepKind.SMS_REBOOK

    def test_the_last_step_stays_and_is_marked_overdue(self, station_a, outcome):
        child = ChildFactory(station=station_a, special_attention=True)
        case = _case_at(child, outcome, local(date(2026, 3, 2), 12))
        followup_sweep(now=local(date(2026, 3, 20), 12))
        followup_sweep(now=local(date(2026, 3, 21), 12))
        case.refresh_from_db()
        step = case.current_step
        assert step.kind == StepKind.LEADER_DECISION and step.status == StepStatus.ACTIVE and step.overdue
        assert CaseStep.objects.filter(case=case).count() == 1

    def test_a_late_sweep_moves_one_step_per_pass_without_duplicates(self, child_a, outcome):
        case = _case_at(child_a, outcome, local(date(2026, 3, 2), 12))
        for _ in range(2):
            followup_sweep(now=local(date(2026, 3, 5), 12))
        assert CaseStep.objects.filter(case=case).count() == 2


@pytest.mark.django_db
class TestStepActions:
    def test_skipping_a_step_needs_a_written_reason(self, child_a, outcome, clerk_a):
        case = _case_at(child_a, outcome, timezone.now())
        with pytest.raises(ValidationError):
            case_step_skip(step=case.current_step, user=clerk_a, reason="  ")
        nxt = case_step_skip(step=case.current_step, user=clerk_a, reason="Familien har selv bestilt ny time")
        assert nxt.kind == StepKind.PHONE_CALL
        skipped = CaseStep.objects.get(case=case, seq=1)
        assert skipped.status == StepStatus.SKIPPED and skipped.skip_reason and skipped.ended_by == clerk_a

    def test_the_database_refuses_a_skip_without_reason(self, child_a, outcome):
        case = _case_at(child_a, outcome, timezone.now())
        with pytest.raises(IntegrityError), transaction.atomic():
            CaseStep.objects.filter(id=case.current_step_id).update(status=StepStatus.SKIPPED)

    def test_a_step_already_moved_on_cannot_be_done_again(self, child_a, outcome, clerk_a):
        case = _case_at(child_a, outcome, timezone.now())
        step = case.current_step
        case_step_skip(step=step, user=clerk_a, reason="Ny time avtalt på telefon")
        with pytest.raises(ValidationError):
            case_step_skip(step=step, user=clerk_a, reason="Dobbeltklikk")
        assert CaseStep.objects.filter(case=case).count() == 2

    def _at_call_step(self, child, outcome, clerk):
        case = _case_at(child, outcome, timezone.now())
        return case_step_skip(step=case.current_step, user=clerk, reason="Ringt inn selv")

    def test_call_again_keeps_the_step_and_moves_its_deadline(self, child_a, outcome, clerk_a, nurse_a):
        step = self._at_call_step(child_a, outcome, clerk_a)
        later = timezone.localdate() + timedelta(days=30)
        with pytest.raises(ValidationError):
            case_call_log(step=step, user=nurse_a, result=CallResult.CALL_AGAIN)
        case_call_log(step=step, user=nurse_a, result=CallResult.CALL_AGAIN, call_again_on=later, note="Mor på jobb")
        step.refresh_from_db()
        assert step.status == StepStatus.ACTIVE and step.follow_up_on == later and step.deadline == later

    def test_evidence_is_required_to_complete_a_step(self, child_a, outcome, clerk_a):
        case = _case_at(child_a, outcome, timezone.now())
        with pytest.raises(ValidationError):
            case_step_complete(step=case.current_step, user=clerk_a, evidence="")


@pytest.mark.django_db
class TestSms:
    def _guardians(self, child):
        mother = GuardianFactory(mobile="41234567")
        GuardianshipFactory(child=child, guardian=mother, relation=Relation.MOTHER)
        reserved = GuardianFactory(mobile="42345678", sms_reserved=True)
        GuardianshipFactory(child=child, guardian=reserved, relation=Relation.FATHER)
        no_responsibility = GuardianFactory(mobile="43456789")
        GuardianshipFactory(child=child, guardian=no_responsibility, relation=Relation.OTHER, parental_responsibility=False)
        return mother

    def test_step_one_needs_a_new_appointment(self, child_a, outcome, clerk_a, sms_outbox):
        case = _case_at(child_a, outcome, timezone.now())
        with pytest.raises(ValidationError, match="ny time"):
            case_sms_rebook(step=case.current_step, user=clerk_a)

    def test_sms_goes_once_to_each_guardian_with_responsibility_and_no_reservation(
        self, child_a, outcome, clerk_a, nurse_a, sms_outbox, django_capture_on_commit_callbacks
    ):
        mother = self._guardians(child_a)
        case = _case_at(child_a, outcome, timezone.now())
        AppointmentFactory(
            consultation=ConsultationFactory(child=child_a), starts_at=timezone.now() + timedelta(days=3), professional=nurse_a
        )
        with django_capture_on_commit_callbacks(execute=True):
            case_sms_rebook(step=case.current_step, user=clerk_a)
        assert [m["to"] for m in sms_outbox] == [mother.mobile]
        text = sms_outbox[0]["text"]
        assert "Helsestasjon A" in text and "kl." in text
        for word in ("ikke møtt", "uteblitt", "Ikke møtt"):
            assert word not in text
        message = SmsMessage.objects.get()
        assert message.status == "sent" and message.guardian == mother
        case.refresh_from_db()
        assert case.current_step.kind == StepKind.PHONE_CALL
        # Sending the same step again is impossible.
        assert sms_send(sms_id=message.id) is None
        assert len(sms_outbox) == 1

    def test_step_one_sms_is_norwegian_first_then_the_guardians_language(
        self, child_a, outcome, clerk_a, nurse_a, sms_outbox, django_capture_on_commit_callbacks
    ):
        polish = GuardianFactory(mobile="41234567", preferred_language="pl")
        GuardianshipFactory(child=child_a, guardian=polish, parental_responsibility=True)
        case = _case_at(child_a, outcome, timezone.now())
        AppointmentFactory(
            consultation=ConsultationFactory(child=child_a), starts_at=timezone.now() + timedelta(days=3), professional=nurse_a
        )
        with django_capture_on_commit_callbacks(execute=True):
            case_sms_rebook(step=case.current_step, user=clerk_a)
        norwegian, translated = sms_outbox[0]["text"].split("\n")
        assert norwegian.startswith("Dere har fått ny time") and translated.startswith("Nowy termin wizyty")

    def test_no_mobile_number_still_completes_the_step(self, child_a, outcome, clerk_a, nurse_a, sms_outbox):
        case = _case_at(child_a, outcome, timezone.now())
        AppointmentFactory(
            consultation=ConsultationFactory(child=child_a), starts_at=timezone.now() + timedelta(days=3), professional=nurse_a
        )
        assert case_sms_rebook(step=case.current_step, user=clerk_a) == []
        step = CaseStep.objects.get(case=case, seq=1)
        assert "Ingen mobilnummer" in step.evidence


@pytest.mark.django_db
class TestLeaderAndClosing:
    def _leader_case(self, station_a, outcome):
        child = ChildFactory(station=station_a, special_attention=True)
        return _case_at(child, outcome, timezone.now())

    def test_a_concern_report_needs_date_and_reference(self, station_a, outcome, leader_a):
        case = self._leader_case(station_a, outcome)
        with pytest.raises(ValidationError):
            case_leader_decide(case=case, user=leader_a, decision=Decision.CONCERN_REPORT, note="Bekymring")
        case_leader_decide(
            case=case, user=leader_a, decision=Decision.CONCERN_REPORT, note="Bekymring for omsorgssituasjonen",
            concern_report_date=timezone.localdate(), concern_report_reference="BV-2026-17",
        )
        case.refresh_from_db()
        assert case.concern_reported_on == timezone.localdate()
        assert case.status == CaseStatus.OPEN
        # The case waits for child welfare's answer at the step it was on: no silent new round.
        assert case.awaiting_child_welfare and case.cycle == 1 and case.current_step.kind == StepKind.LEADER_DECISION

    def test_home_visit_decision_moves_the_case_to_the_home_visit_step(self, station_a, outcome, leader_a):
        case = self._leader_case(station_a, outcome)
        case_leader_decide(case=case, user=leader_a, decision=Decision.HOME_VISIT, note="Vi drar hjem til familien")
        case.refresh_from_db()
        assert case.current_step.kind == StepKind.HOME_VISIT and case.current_step.owner_role == "nurse"

    def test_leader_closes_with_a_reason(self, station_a, outcome, leader_a):
        case = self._leader_case(station_a, outcome)
        case_leader_decide(case=case, user=leader_a, decision=Decision.CLOSE, note="Familien har flyttet til Sverige")
        case.refresh_from_db()
        assert case.status == CaseStatus.CLOSED and case.close_reason == CloseReason.LEADER_CLOSED
        assert case.closed_by == leader_a and case.close_note

    def test_gp_confirmation_closes_the_case(self, child_a, outcome, nurse_a):
        case = _case_at(child_a, outcome, timezone.now())
        case_gp_confirmed(case=case, user=nurse_a, note="Fastlegen bekreftet 2-årskontrollen")
        case.refresh_from_db()
        assert (case.status, case.close_reason, case.closed_by) == (CaseStatus.CLOSED, CloseReason.GP_CONFIRMED, nurse_a)

    @pytest.mark.parametrize("reason", [CloseReason.MOVED_OUT, CloseReason.EMIGRATED, CloseReason.DECEASED])
    def test_the_register_closes_the_case(self, child_a, outcome, reason):
        case = _case_at(child_a, outcome, timezone.now())
        assert case_close_for_child(child=child_a, reason=reason) == case
        case.refresh_from_db()
        assert case.status == CaseStatus.CLOSED and case.close_reason == reason and case.closed_by is None
        assert case.current_step.status == StepStatus.CLOSED
        # Twice is harmless.
        case_close_for_child(child=child_a, reason=reason)
        assert case.log.filter(kind="closed").count() == 1

    def test_a_child_without_a_case_is_nothing_to_close(self, child_a):
        assert case_close_for_child(child=child_a, reason=CloseReason.DECEASED) is None
