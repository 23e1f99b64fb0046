"""The sweep: each trigger, joining, closing by attendance, reopening, and idempotency."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from attendance.models import ConsultationState
from followup import sweep as sweep_module
from followup.models import Case, CaseStatus, CaseStep, CaseTrigger, CloseReason, StepKind, StepStatus, SweepCursor, TriggerKind
from followup.sweep import followup_sweep
from helsestasjon.models import ChildStatus
from tests.concurrency import at_once
from tests.factories import ChildFactory, ConsultationFactory, OutcomeEventFactory


def _state():
    """Everything the sweep decides, in a comparable form."""
    cases = sorted(Case.objects.values_list("child_id", "status", "cycle", "close_reason"))
    steps = sorted(CaseStep.objects.values_list("case__child_id", "cycle", "seq", "kind", "status"))
    triggers = sorted(CaseTrigger.objects.values_list("source_key", "kind", "case__child_id"))
    return cases, steps, triggers


@pytest.mark.django_db
class TestTriggers:
    def test_not_brought_opens_a_case_at_the_first_step(self, child_a, outcome):
        outcome(child_a, "not_brought")
        report = followup_sweep()
        case = Case.objects.get(child=child_a)
        assert case.status == CaseStatus.OPEN
        assert case.current_step.kind == StepKind.SMS_REBOOK
        assert case.current_step.owner_role == "clerk"
        assert report.cases_opened == 1
        assert case.triggers.get().kind == TriggerKind.NOT_BROUGHT

    def test_no_one_home_at_a_home_visit_opens_a_case(self, child_a, outcome):
        outcome(child_a, "no_access")
        followup_sweep()
        assert Case.objects.get(child=child_a).triggers.get().kind == TriggerKind.NO_ACCESS

    def test_attended_and_service_cancellations_open_nothing(self, child_a, outcome):
        outcome(child_a, "attended")
        outcome(child_a, "cancelled_by_service")
        followup_sweep()
        assert not Case.objects.exists()

    def test_same_consultation_rebooked_three_times_opens_a_case(self, child_a, outcome):
        consultation = ConsultationFactory(child=child_a)
        start = timezone.now() - timedelta(days=30)
        outcome(child_a, "cancelled_by_guardian", at=start, consultation=consultation)
        outcome(child_a, "rescheduled", at=start + timedelta(days=7), consultation=consultation)
        followup_sweep()
        assert not Case.objects.exists(), "two re-bookings are below the threshold"
        outcome(child_a, "cancelled_by_guardian", at=start + timedelta(days=14), consultation=consultation)
        followup_sweep()
        assert Case.objects.get(child=child_a).triggers.get().kind == TriggerKind.REPEATED_REBOOKING

    def test_four_guardian_cancellations_within_six_months_open_a_case(self, child_a, outcome):
        start = timezone.now() - timedelta(days=150)
        for n in range(3):
            outcome(child_a, "cancelled_by_guardian", at=start + timedelta(days=40 * n))
        followup_sweep()
        assert not Case.objects.exists(), "three cancellations are below the threshold"
        outcome(child_a, "cancelled_by_guardian", at=start + timedelta(days=145))
        followup_sweep()
        assert Case.objects.get(child=child_a).triggers.get().kind == TriggerKind.REPEATED_CANCELLING

    def test_four_cancellations_spread_over_more_than_six_months_open_nothing(self, child_a, outcome):
        start = timezone.now() - timedelta(days=400)
        for n in range(4):
            outcome(child_a, "cancelled_by_guardian", at=start + timedelta(days=70 * n))
        followup_sweep()
        assert not Case.objects.exists()

    def test_thresholds_are_configurable(self, settings, child_a, outcome):
        settings.FOLLOWUP_GUARDIAN_CANCELLATIONS = 2
        start = timezone.now() - timedelta(days=20)
        outcome(child_a, "cancelled_by_guardian", at=start)
        outcome(child_a, "cancelled_by_guardian", at=start + timedelta(days=5))
        followup_sweep()
        assert Case.objects.filter(child=child_a).exists()

    def test_expired_consultation_opens_a_case(self, child_a):
        ConsultationFactory(child=child_a, state=ConsultationState.EXPIRED, expired_at=timezone.now() - timedelta(days=1))
        followup_sweep()
        assert Case.objects.get(child=child_a).triggers.get().kind == TriggerKind.CONSULTATION_EXPIRED

    def test_special_attention_goes_straight_to_the_leader(self, station_a, outcome):
        child = ChildFactory(station=station_a, special_attention=True)
        outcome(child, "not_brought")
        followup_sweep()
        case = Case.objects.get(child=child)
        assert case.current_step.kind == StepKind.LEADER_DECISION
        assert case.current_step.owner_role == "leader"
        assert case.special_attention

    def test_a_new_trigger_joins_the_open_case(self, child_a, outcome):
        outcome(child_a, "not_brought", at=timezone.now() - timedelta(days=10))
        followup_sweep()
        outcome(child_a, "not_brought", at=timezone.now() - timedelta(days=2))
        ConsultationFactory(child=child_a, state=ConsultationState.EXPIRED, expired_at=timezone.now())
        followup_sweep()
        case = Case.objects.get(child=child_a)
        assert case.triggers.count() == 3
        assert CaseStep.objects.filter(case=case).count() == 1

    def test_children_no_longer_active_get_no_case(self, station_a, outcome):
        child = ChildFactory(station=station_a, status=ChildStatus.MOVED)
        outcome(child, "not_brought")
        followup_sweep()
        assert not Case.objects.exists()

    def test_a_miss_followed_by_attendance_opens_nothing(self, child_a, outcome):
        outcome(child_a, "not_brought", at=timezone.now() - timedelta(days=10))
        outcome(child_a, "attended", at=timezone.now() - timedelta(days=3))
        followup_sweep()
        assert not Case.objects.exists()


@pytest.mark.django_db
class TestClosingAndReopening:
    def test_attending_any_consultation_closes_the_case(self, child_a, outcome):
        outcome(child_a, "not_brought", at=timezone.now() - timedelta(days=10))
        followup_sweep()
        outcome(child_a, "attended", at=timezone.now() - timedelta(hours=1))
        report = followup_sweep()
        case = Case.objects.get(child=child_a)
        assert case.status == CaseStatus.CLOSED
        assert case.close_reason == CloseReason.ATTENDED
        assert case.closed_by is None and case.closed_at
        assert case.steps.get().status == StepStatus.CLOSED
        assert report.cases_closed == 1

    def test_an_attendance_before_the_miss_does_not_close(self, child_a, outcome):
        outcome(child_a, "not_brought", at=timezone.now() - timedelta(days=1))
        followup_sweep()
        # Recorded late, but the appointment was before the miss.
        outcome(child_a, "attended", at=timezone.now() - timedelta(days=5), recorded_at=timezone.now())
        followup_sweep()
        assert Case.objects.get(child=child_a).status == CaseStatus.OPEN

    def test_a_new_trigger_reopens_a_closed_case(self, child_a, outcome):
        outcome(child_a, "not_brought", at=timezone.now() - timedelta(days=20))
        followup_sweep()
        outcome(child_a, "attended", at=timezone.now() - timedelta(days=10))
        followup_sweep()
        outcome(child_a, "not_brought", at=timezone.now() - timedelta(days=1))
        report = followup_sweep()
        case = Case.objects.get(child=child_a)
        assert case.status == CaseStatus.OPEN
        assert case.cycle == 2
        assert case.current_step.kind == StepKind.SMS_REBOOK and case.current_step.cycle == 2
        assert report.cases_reopened == 1
        assert [e.kind for e in case.log.all()] == ["opened", "closed", "reopened"]

    def test_a_corrected_miss_closes_the_case_it_opened(self, child_a, outcome, nurse_a):
        event = outcome(child_a, "not_brought")
        followup_sweep()
        OutcomeEventFactory(appointment=event.appointment, outcome="cancelled_by_service", replaces=event, recorded_by=nurse_a)
        followup_sweep()
        case = Case.objects.get(child=child_a)
        assert case.status == CaseStatus.CLOSED
        assert case.close_reason == CloseReason.OUTCOME_CORRECTED
        assert case.triggers.get().withdrawn_at is not None


@pytest.mark.django_db
class TestIdempotency:
    def _facts(self, station_a, outcome, n=12):
        for i in range(n):
            child = ChildFactory(station=station_a)
            outcome(child, "not_brought", at=timezone.now() - timedelta(days=5, hours=i))
            if i % 3 == 0:
                outcome(child, "no_access", at=timezone.now() - timedelta(days=2, hours=i))
            if i % 4 == 0:
                ConsultationFactory(child=child, state=ConsultationState.EXPIRED, expired_at=timezone.now() - timedelta(days=1))

    def test_a_sweep_run_twice_changes_nothing_the_second_time(self, station_a, outcome):
        self._facts(station_a, outcome)
        followup_sweep()
        first = _state()
        report = followup_sweep()
        assert _state() == first
        assert (report.cases_opened, report.triggers_added, report.cases_closed) == (0, 0, 0)
        assert len(first[0]) == 12

    def test_a_sweep_killed_halfway_and_run_again_gives_the_same_cases(self, station_a, outcome, monkeypatch):
        self._facts(station_a, outcome)
        monkeypatch.setattr(sweep_module, "CHUNK", 5)
        triggers_written = {"n": 0}

        def dies_on_the_second_chunk(execute, sql, params, many, context):
            # The worker is killed while the second chunk writes its triggers (fault injection
            # at the database connection): that chunk's transaction never commits.
            if sql.startswith('INSERT INTO "followup_casetrigger"'):
                triggers_written["n"] += 1
                if triggers_written["n"] == 2:
                    raise SystemExit("worker killed")
            return execute(sql, params, many, context)

        with connection.execute_wrapper(dies_on_the_second_chunk), pytest.raises(SystemExit):
            followup_sweep()
        assert 0 < Case.objects.count() < 12
        followup_sweep()
        after_crash = _state()
        # The same facts swept cleanly from scratch.
        Case.objects.all().delete()
        SweepCursor.objects.all().delete()
        followup_sweep()
        assert _state() == after_crash
        assert len(after_crash[0]) == 12


@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_leave_exactly_one_case_and_step_each(station_a, outcome):
    for i in range(30):
        child = ChildFactory(station=station_a)
        outcome(child, "not_brought", at=timezone.now() - timedelta(days=3, minutes=i))
        if i % 2:
            outcome(child, "cancelled_by_guardian", at=timezone.now() - timedelta(days=2, minutes=i))
    at_once(followup_sweep, followup_sweep)
    assert Case.objects.count() == 30
    assert CaseStep.objects.count() == 30
    assert CaseTrigger.objects.count() == 30
    assert Case.objects.filter(current_step__isnull=True).count() == 0
