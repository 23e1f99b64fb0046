"""A case's risk is computed where it is read: the leader queue's order and the one-case method agree."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from followup.decisions import case_leader_decide
from followup.models import Case, CaseStatus
from followup.sweep import followup_sweep
from followup.views import leader_queue_cases
from tests.factories import ChildFactory

pytestmark = pytest.mark.django_db


def _case(child, outcome):
    outcome(child, "not_brought")
    followup_sweep()
    return Case.objects.get(child=child, status=CaseStatus.OPEN)


def _risks():
    return {case.id: case.risk_now for case in Case.objects.with_risk()}


def test_the_leader_queue_puts_a_reported_concern_first_and_the_method_agrees(station_a, leader_a, outcome):
    special = _case(ChildFactory(station=station_a, given_name="Sara", special_attention=True), outcome)
    reported = _case(ChildFactory(station=station_a, given_name="Rut", special_attention=True), outcome)
    case_leader_decide(
        case=reported, user=leader_a, decision="concern_report", note="Meldt etter drøfting",
        concern_report_date=date.today(), concern_report_reference="BV-1",
    )
    overdue = _case(ChildFactory(station=station_a, given_name="Olav"), outcome)
    followup_sweep(now=timezone.now() + timedelta(days=14))  # Olav's first step passes its deadline.

    assert list(leader_queue_cases(leader_a).values_list("id", flat=True)) == [reported.id, special.id, overdue.id]
    risks = _risks()
    for case in Case.objects.select_related("child", "current_step").filter(id__in=risks):
        assert case.compute_risk() == risks[case.id]
    assert risks[reported.id] == 40 + 20 + 10  # særlig oppfølging, a reported concern, at the leader


def test_removing_the_child_s_mark_lowers_the_risk_at_once_without_a_sweep(station_a, leader_a, outcome):
    child = ChildFactory(station=station_a, special_attention=True)
    case = _case(child, outcome)
    assert _risks()[case.id] == 40 + 10  # særlig oppfølging, at the leader's decision
    child.special_attention = False
    child.save(update_fields=["special_attention"])
    assert _risks()[case.id] == 10
    assert Case.objects.select_related("child").get(pk=case.pk).special_attention is False
