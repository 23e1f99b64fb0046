"""The work lists' rows as the clerk and the nurse use them: the rarely used skip form is fetched when
"Hopp over trinnet" is opened, and each row's links are the same as ``{% url %}`` would make them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone

from followup.steps import case_step_skip
from followup.waiting import case_pause
from followup.models import Case, CaseStatus, PauseReason, StepKind, StepStatus
from followup.sweep import followup_sweep
from followup.templatetags.id_urls import id_url_for

pytestmark = pytest.mark.django_db

SKIP_FORM = re.compile(r'<form method="post" action="(/oppfolging/trinn/\d+/hopp-over/)"')


def _case(child, outcome):
    outcome(child, "not_brought")
    followup_sweep()
    return Case.objects.get(child=child)


def _row(body: str, case: Case) -> str:
    start = body.index(f'<tr id="case-{case.id}"')
    return body[start:body.index("</tr>", start)]


def test_the_clerk_opens_skip_on_a_row_and_gets_the_form_that_skips_the_step(login, clerk_a, child_a, outcome):
    case = _case(child_a, outcome)
    client = login(clerk_a)
    row = _row(client.get(reverse("followup:clerk_worklist")).content.decode(), case)
    # The row offers "Hopp over trinnet" but does not carry the form itself.
    assert "Hopp over trinnet" in row and not SKIP_FORM.search(row)
    lazy = re.search(r'hx-get="([^"]+)" hx-trigger="toggle once"', row).group(1).replace("&amp;", "&")
    assert lazy == reverse("followup:step_skip_form", args=[case.current_step_id]) + "?fra=merkantil"
    # Without script the details hold a link to the case, which has the form.
    assert f'href="{reverse("followup:case", args=[case.id])}"' in row

    fragment = client.get(lazy, HTTP_HX_REQUEST="true").content.decode()
    assert SKIP_FORM.search(fragment).group(1) == reverse("followup:step_skip", args=[case.current_step_id])
    assert 'name="fra" value="merkantil"' in fragment and f'hx-target="#case-{case.id}"' in fragment
    assert 'name="csrfmiddlewaretoken"' in fragment

    step_id = case.current_step_id
    answer = client.post(reverse("followup:step_skip", args=[step_id]), {"reason": "Familien ringte selv", "fra": "merkantil"},
                         HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"case-{case.id}")
    assert "Trinnet er hoppet over." in answer.content.decode()
    case.refresh_from_db()
    assert case.current_step_id != step_id
    assert case.steps.get(id=step_id).status == StepStatus.SKIPPED


def test_the_nurse_list_fetches_the_skip_form_too_and_the_case_page_still_carries_it(login, clerk_a, nurse_a, child_a, outcome):
    case = _case(child_a, outcome)
    case_step_skip(step=case.current_step, user=clerk_a, reason="Foresatte ringte og fikk ny time")
    case.refresh_from_db()
    assert case.current_step.kind == StepKind.PHONE_CALL
    client = login(nurse_a)
    row = _row(client.get(reverse("followup:nurse_worklist")).content.decode(), case)
    assert "Hopp over trinnet" in row and not SKIP_FORM.search(row)
    assert reverse("followup:step_skip_form", args=[case.current_step_id]) + "?fra=sykepleier" in row
    # The other forms of the row are all there.
    assert f'action="{reverse("followup:step_call", args=[case.current_step_id])}"' in row
    page = client.get(reverse("followup:case", args=[case.id])).content.decode()
    assert SKIP_FORM.search(page).group(1) == reverse("followup:step_skip", args=[case.current_step_id])


def test_another_station_s_skip_form_is_not_found(login, nurse_b, child_a, outcome):
    case = _case(child_a, outcome)
    url = reverse("followup:step_skip_form", args=[case.current_step_id])
    assert login(nurse_b).get(url, HTTP_HX_REQUEST="true").status_code == 404
    assert login(nurse_b).get(reverse("followup:step_skip_form", args=[99999999]), HTTP_HX_REQUEST="true").status_code == 404


def test_the_skip_form_opened_without_script_leads_to_the_case(login, clerk_a, child_a, outcome):
    case = _case(child_a, outcome)
    response = login(clerk_a).get(reverse("followup:step_skip_form", args=[case.current_step_id]))
    assert response.status_code == 302 and response["Location"] == reverse("followup:case", args=[case.id])


def test_a_step_that_moved_on_or_waits_gets_a_message_not_a_form(login, clerk_a, nurse_a, child_a, outcome):
    case = _case(child_a, outcome)
    old_step = case.current_step_id
    client = login(clerk_a)
    case_step_skip(step=case.current_step, user=clerk_a, reason="Ringt inn selv")
    body = client.get(reverse("followup:step_skip_form", args=[old_step]) + "?fra=<script>", HTTP_HX_REQUEST="true")
    assert body.status_code == 200
    text = body.content.decode()
    assert "Trinnet kan ikke hoppes over nå." in text and "<form" not in text
    case.refresh_from_db()
    case_pause(case=case, user=nurse_a, reason=PauseReason.ABROAD, until=timezone.localdate() + timedelta(days=30))
    text = login(nurse_a).get(reverse("followup:step_skip_form", args=[case.current_step_id]), HTTP_HX_REQUEST="true").content.decode()
    assert "Trinnet kan ikke hoppes over nå." in text and "<form" not in text
    assert Case.objects.get(pk=case.pk).status == CaseStatus.OPEN


def test_a_made_up_from_page_is_not_echoed_into_the_skip_form(login, clerk_a, child_a, outcome):
    case = _case(child_a, outcome)
    fragment = login(clerk_a).get(
        reverse("followup:step_skip_form", args=[case.current_step_id]) + '?fra="><script>x</script>', HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "<script>" not in fragment and 'name="fra" value=""' in fragment


@pytest.mark.parametrize("name, object_id", [("followup:case", 7), ("followup:step_skip", 123456), ("attendance:child", 1)])
def test_id_url_gives_what_url_gives(name, object_id):
    assert id_url_for(name, object_id) == reverse(name, args=[object_id])
    rendered = Template("{% load id_urls %}{% id_url name pk %}|{% id_url name pk as u %}{{ u }}").render(
        Context({"name": name, "pk": object_id})
    )
    assert rendered == f"{reverse(name, args=[object_id])}|{reverse(name, args=[object_id])}"


def test_id_url_refuses_what_the_route_would_not_match():
    with pytest.raises(ValueError):
        id_url_for("followup:case", "7/../../admin")
