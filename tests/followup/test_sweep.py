from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from followup.models import Case, CaseStatus, CaseStep, CaseTrigger, StepKind, StepStatus, TriggerKind
from followup.services import followup_sweep
from tests.factories import ChildFactory, ConsultationFactory

pytestmark = pytest.mark.django_db


def test_not_brought_opens_a_case_at_the_first_step(child_a, outcome):
    outcome(child_a, "not_brought")
    report = followup_sweep()
    case = Case.objects.get(child=child_a)
    assert case.status == CaseStatus.OPEN
    assert case.current_step.kind == StepKind.SMS_REBOOK
    assert case.current_step.owner_role == "clerk"
    assert report.cases_opened == 1
    assert case.triggers.get().kind == TriggerKind.NOT_BROUGHT
