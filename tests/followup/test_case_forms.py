"""The case page's forms never lose what was typed: on a refusal, the form the nurse, clerk or leader
sent comes back open with every choice and text, the message at its field (aria-invalid and
aria-describedby naming it), whether the form was sent with htmx or as a plain POST."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils import timezone

from followup.steps import case_step_skip
from followup.models import Case, CaseStatus, StepKind
from followup.sweep import followup_sweep
from tests.factories import ChildFactory, GuardianFactory, GuardianshipFactory

pytestmark = pytest.mark.django_db


class Page(HTMLParser):
    """The elements of an answer by id, the text of its textareas, and which radios and options are chosen."""

    def __init__(self, html: str):
        super().__init__()
        self.by_id, self.text, self.checked, self.selected, self.open_details = {}, {}, {}, {}, 0
        self._textarea = self._select = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.by_id[attrs["id"]] = attrs
        if tag == "textarea":
            self._textarea = attrs.get("id")
            self.text[self._textarea] = ""
        elif tag == "select":
            self._select = attrs.get("id")
        elif tag == "option" and "selected" in attrs:
            self.selected[self._select] = attrs.get("value")
        elif tag == "input" and attrs.get("type") == "radio" and "checked" in attrs:
            self.checked[attrs["name"]] = attrs["value"]
        elif tag == "details" and "open" in attrs:
            self.open_details += 1

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self.text[self._textarea] += data

    def error_for(self, field_id: str) -> str:
        """The message tied to a field, after checking that the field says so to assistive technology."""
        attrs = self.by_id[field_id]
        assert attrs.get("aria-invalid") == "true", attrs
        assert f"{field_id}_error" in attrs.get("aria-describedby", "").split()
        return self.error_text[f"{field_id}_error"]


def _page(response) -> Page:
    assert response.status_code == 200
    html = response.content.decode()
    page = Page(html)
    # The message paragraphs, by id (their text, found in the answer).
    page.error_text = {}
    for key in page.by_id:
        if key.endswith("_error"):
            start = html.index(f'id="{key}">') + len(f'id="{key}">')
            page.error_text[key] = html[start:html.index("</p>", start)]
    return page


def _case(child, outcome):
    outcome(child, "not_brought")
    followup_sweep()
    return Case.objects.get(child=child)


def _at_call_step(child, outcome, clerk) -> Case:
    case = _case(child, outcome)
    case_step_skip(step=case.current_step, user=clerk, reason="Foresatte ringte")
    case.refresh_from_db()
    assert case.current_step.kind == StepKind.PHONE_CALL
    return case


def _post(client, name: str, arg: int, data: dict, target: str | None):
    extra = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": target} if target else {}
    return client.post(reverse(f"followup:{name}", args=[arg]), data, **extra)


def test_call_with_missing_result_keeps_the_note_typed(login, clerk_a, nurse_a, child_a, outcome):
    case = _at_call_step(child_a, outcome, clerk_a)
    response = _post(login(nurse_a), "step_call", case.current_step_id,
                     {"note": "Mor sa hun ringer tilbake", "call_again_on": ""}, f"sak-{case.id}")
    page = _page(response)
    assert page.text[f"call-note-{case.id}"].strip() == "Mor sa hun ringer tilbake"
    # The radios are a fieldset: the message is tied to the group.
    group = page.by_id[f"call-result-{case.id}_error"]
    assert group is not None and page.error_text[f"call-result-{case.id}_error"] == "Velg resultatet av samtalen."
    assert "Ikke lagret." in response.content.decode()
    assert not case.current_step.calls.exists()


def test_call_refused_by_the_service_keeps_the_choice_and_marks_the_note(login, clerk_a, nurse_a, child_a, outcome):
    case = _at_call_step(child_a, outcome, clerk_a)
    page = _page(_post(login(nurse_a), "step_call", case.current_step_id, {"result": "declines", "note": "  "}, f"sak-{case.id}"))
    assert page.checked["result"] == "declines"
    assert page.error_for(f"call-note-{case.id}") == "Skriv hvorfor familien takker nei."


def test_agreed_time_in_the_past_keeps_the_time_and_the_professional(login, clerk_a, nurse_a, leader_a, child_a, outcome):
    mother = GuardianFactory(given_name="Mona", mobile="41234567")
    GuardianshipFactory(child=child_a, guardian=mother)
    case = _at_call_step(child_a, outcome, clerk_a)
    when = (timezone.localtime() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    page = _page(_post(login(nurse_a), "step_call", case.current_step_id, {
        "result": "reached_rebooked", "starts_at": when, "duration_minutes": "45", "professional": leader_a.pk,
        "note": "Far ringte", "guardian": mother.pk,
    }, f"sak-{case.id}"))
    assert page.error_for(f"call-starts_at-{case.id}") == "Den nye timen må være fram i tid."
    assert page.by_id[f"call-starts_at-{case.id}"]["value"] == when
    assert page.by_id[f"call-duration_minutes-{case.id}"]["value"] == "45"
    assert page.selected[f"call-professional-{case.id}"] == str(leader_a.pk)
    assert page.selected[f"call-guardian-{case.id}"] == str(mother.pk)
    assert page.checked["result"] == "reached_rebooked"


def test_a_professional_of_another_station_is_refused_at_the_field(login, clerk_a, nurse_a, nurse_b, child_a, outcome):
    case = _at_call_step(child_a, outcome, clerk_a)
    when = (timezone.localtime() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    page = _page(_post(login(nurse_a), "step_call", case.current_step_id,
                       {"result": "reached_rebooked", "starts_at": when, "professional": nurse_b.pk}, f"sak-{case.id}"))
    assert page.error_for(f"call-professional-{case.id}") == "Velg en fagperson ved barnets helsestasjon."
    assert page.by_id[f"call-starts_at-{case.id}"]["value"] == when


def test_call_on_the_nurse_list_comes_back_in_its_row(login, clerk_a, nurse_a, child_a, outcome):
    case = _at_call_step(child_a, outcome, clerk_a)
    response = _post(login(nurse_a), "step_call", case.current_step_id,
                     {"result": "call_again", "note": "Ring etter lunsj", "fra": "sykepleier"}, f"case-{case.id}")
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="case-{case.id}"')
    page = _page(response)
    assert page.error_for(f"call-call_again_on-{case.id}") == "Velg datoen du skal ringe igjen."
    assert page.text[f"call-note-{case.id}"].strip() == "Ring etter lunsj"


def test_plain_post_with_an_error_shows_the_case_page_with_the_form_filled(login, clerk_a, nurse_a, child_a, outcome):
    """Without JavaScript a redirect would lose the text: the case page answers with the form as sent."""
    case = _at_call_step(child_a, outcome, clerk_a)
    response = _post(login(nurse_a), "step_call", case.current_step_id,
                     {"result": "call_again", "note": "Ring etter lunsj", "fra": "sykepleier"}, None)
    page = _page(response)
    assert "<h1>" in response.content.decode() and page.by_id[f"sak-{case.id}"] is not None
    assert page.error_for(f"call-call_again_on-{case.id}") == "Velg datoen du skal ringe igjen."
    assert page.text[f"call-note-{case.id}"].strip() == "Ring etter lunsj"
    # Saved after the correction, the nurse is sent back to her list as before.
    assert page.by_id[f"call-result-{case.id}_0"]["name"] == "result"
    assert 'name="fra" value="sykepleier"' in response.content.decode()


def _at_home_visit(child, outcome, clerk, nurse) -> Case:
    case = _at_call_step(child, outcome, clerk)
    step = case.current_step
    for user in (nurse, clerk, clerk, clerk):
        step = case_step_skip(step=step, user=user, reason="Gjort utenfor systemet")
    assert step.kind == StepKind.HOME_VISIT
    case.refresh_from_db()
    return case


def test_home_visit_without_a_time_keeps_the_second_professional(login, clerk_a, nurse_a, leader_a, child_a, outcome):
    case = _at_home_visit(child_a, outcome, clerk_a, nurse_a)
    page = _page(_post(login(nurse_a), "step_home_visit", case.current_step_id,
                       {"professional": nurse_a.pk, "second_professional": leader_a.pk, "duration_minutes": "90"}, f"sak-{case.id}"))
    assert page.error_for(f"home_visit-starts_at-{case.id}") == "Velg tidspunktet for hjemmebesøket."
    assert page.selected[f"home_visit-second_professional-{case.id}"] == str(leader_a.pk)
    assert page.by_id[f"home_visit-duration_minutes-{case.id}"]["value"] == "90"


def test_consent_without_text_and_evidence_without_text_are_marked(login, clerk_a, nurse_a, child_a, outcome):
    case = _at_home_visit(child_a, outcome, clerk_a, nurse_a)
    client = login(nurse_a)
    page = _page(_post(client, "step_consent", case.current_step_id, {"note": ""}, f"sak-{case.id}"))
    assert page.error_for(f"consent-note-{case.id}") == "Skriv hvem som samtykket, og hvordan."
    page = _page(_post(client, "step_complete", case.current_step_id, {"evidence": ""}, f"sak-{case.id}"))
    assert page.error_for(f"complete-evidence-{case.id}") == "Skriv hva som ble gjort."


def test_pause_in_the_past_stays_open_with_the_reason_and_the_note(login, clerk_a, nurse_a, child_a, outcome):
    case = _at_call_step(child_a, outcome, clerk_a)
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    page = _page(_post(login(nurse_a), "pause", case.id,
                       {"reason": "abroad", "until": yesterday, "note": "I Polen hos besteforeldre"}, f"sak-{case.id}"))
    assert page.error_for(f"pause-until-{case.id}") == "Pausen må vare til en dato fram i tid."
    assert page.checked["reason"] == "abroad"
    assert page.by_id[f"pause-note-{case.id}"]["value"] == "I Polen hos besteforeldre"
    assert page.by_id[f"pause-until-{case.id}"]["value"] == yesterday
    assert page.open_details >= 1
    case.refresh_from_db()
    assert case.paused_until is None


def test_skip_without_reason_on_the_list_comes_back_open_in_the_row(login, clerk_a, child_a, outcome):
    case = _case(child_a, outcome)
    response = _post(login(clerk_a), "step_skip", case.current_step_id, {"reason": "", "fra": "merkantil"}, f"case-{case.id}")
    page = _page(response)
    assert page.error_for(f"skip-reason-{case.id}") == "Skriv en begrunnelse for å hoppe over trinnet."
    assert page.open_details == 1
    case.refresh_from_db()
    assert case.current_step.kind == StepKind.SMS_REBOOK


def _at_leader_decision(station, outcome) -> Case:
    case = _case(ChildFactory(station=station, special_attention=True), outcome)
    assert case.current_step.kind == StepKind.LEADER_DECISION
    return case


def test_decision_without_reason_keeps_the_choice_and_marks_the_field(login, leader_a, station_a, outcome):
    case = _at_leader_decision(station_a, outcome)
    page = _page(_post(login(leader_a), "decide", case.id,
                       {"decision": "concern_report", "concern_report_reference": "BV-9", "continue_step": "phone_call"}, f"sak-{case.id}"))
    assert page.error_for(f"decision-note-{case.id}") == "Skriv en begrunnelse for beslutningen."
    assert page.error_for(f"decision-concern_report_date-{case.id}") == "En bekymringsmelding må ha dato."
    assert page.checked["decision"] == "concern_report"
    assert page.by_id[f"decision-concern_report_reference-{case.id}"]["value"] == "BV-9"
    assert page.selected[f"decision-continue_step-{case.id}"] == "phone_call"
    # Each choice still says what follows it.
    assert page.by_id[f"decision-decision-{case.id}_0"]["aria-describedby"].startswith(f"decision-next-{case.id}-")


def test_decision_on_the_leader_queue_comes_back_open_in_its_row(login, leader_a, station_a, outcome):
    case = _at_leader_decision(station_a, outcome)
    response = _post(login(leader_a), "decide", case.id, {"decision": "continue", "note": "Prøv igjen", "fra": "leder"}, f"case-{case.id}")
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="case-{case.id}"') and "Lagre beslutning" in body
    page = _page(response)
    assert page.error_for(f"decision-continue_step-{case.id}") == "Velg trinnet saken skal fortsette på."
    assert page.text[f"decision-note-{case.id}"].strip() == "Prøv igjen"
    case.refresh_from_db()
    assert case.status == CaseStatus.OPEN and case.current_step.kind == StepKind.LEADER_DECISION


def test_a_sent_back_form_costs_no_more_queries_than_a_saved_one(login, clerk_a, nurse_a, child_a, outcome):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    case = _at_call_step(child_a, outcome, clerk_a)
    client = login(nurse_a)
    with CaptureQueriesContext(connection) as refused:
        _post(client, "step_call", case.current_step_id, {"result": "call_again", "note": "x"}, f"sak-{case.id}")
    with CaptureQueriesContext(connection) as saved:
        _post(client, "step_call", case.current_step_id, {"result": "no_answer", "note": "x"}, f"sak-{case.id}")
    assert len(refused) <= len(saved)
