from __future__ import annotations

import pytest
from django.urls import reverse

from followup.models import Case, StepKind
from followup.services import followup_sweep

pytestmark = pytest.mark.django_db


def test_clerk_sees_new_case_on_her_list(login, clerk_a, child_a, outcome):
    outcome(child_a, "not_brought", reason="illness")
    followup_sweep()
    response = login(clerk_a).get(reverse("followup:clerk_worklist"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Nordmann, Ola" in body
    assert "Ny time og SMS-påminnelse" in body
    assert "Sykdom" not in body


def test_pages_render(login, nurse_a, leader_a, clerk_a, child_a, outcome):
    outcome(child_a, "not_brought")
    followup_sweep()
    case = Case.objects.get()
    for user, name in ((nurse_a, "followup:nurse_worklist"), (leader_a, "followup:leader_queue")):
        assert login(user).get(reverse(name)).status_code == 200
    for user in (nurse_a, leader_a, clerk_a):
        assert login(user).get(reverse("followup:case", args=[case.id])).status_code == 200
    pdf = login(leader_a).get(reverse("followup:chronology_pdf", args=[case.id]))
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
