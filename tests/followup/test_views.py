"""The work lists, the leader queue, the case page, the htmx actions and the chronology PDF."""

from __future__ import annotations


import pytest
from django.urls import reverse

from followup.calls import case_call_log
from followup.steps import case_step_skip
from followup.models import CallLog, Case, CaseStatus, StepKind, StepStatus
from followup.sweep import followup_sweep
from followup.views import leader_queue_cases
from helsestasjon.models import AccessAction, AccessLog, Relation
from tests.factories import ChildFactory, GuardianFactory, GuardianshipFactory

pytestmark = pytest.mark.django_db


def _case(child, outcome, *, special=False, reason=""):
    outcome(child, "not_brought", reason=reason)
    followup_sweep()
    return Case.objects.get(child=child)


def _to_call_step(case, clerk):
    case_step_skip(step=case.current_step, user=clerk, reason="Foresatte ringte og fikk ny time")
    case.refresh_from_db()
    return case


def test_clerk_sees_new_case_without_clinical_details(login, clerk_a, child_a, outcome):
    _case(child_a, outcome, reason="illness")
    response = login(clerk_a).get(reverse("followup:clerk_worklist"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Nordmann, Ola" in body
    assert "Ny time og SMS-påminnelse" in body
    assert "Bestill ny time" in body
    assert "Sykdom" not in body


def test_clerk_case_page_hides_reasons_call_notes_and_decisions(login, clerk_a, nurse_a, child_a, outcome):
    case = _to_call_step(_case(child_a, outcome, reason="illness"), clerk_a)
    case_call_log(step=case.current_step, user=nurse_a, result="no_answer", note="Mor virket bekymret")
    url = reverse("followup:case", args=[case.id])
    clerk_page = login(clerk_a).get(url).content.decode()
    nurse_page = login(nurse_a).get(url).content.decode()
    for secret in ("Sykdom", "Mor virket bekymret", "Foresatte ringte og fikk ny time"):
        assert secret in nurse_page
        assert secret not in clerk_page
    assert "kronologi.pdf" not in clerk_page


def test_nurse_list_shows_call_steps_and_logs_a_call_with_htmx(login, clerk_a, nurse_a, child_a, outcome):
    mother = GuardianFactory(given_name="Mona", mobile="41234567")
    GuardianshipFactory(child=child_a, guardian=mother, relation=Relation.MOTHER)
    case = _to_call_step(_case(child_a, outcome), clerk_a)
    client = login(nurse_a)
    page = client.get(reverse("followup:nurse_worklist")).content.decode()
    assert "Telefon til foresatte" in page and "41234567" in page
    response = client.post(
        reverse("followup:step_call", args=[case.current_step_id]),
        {"result": "no_answer", "note": ""},
        HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"case-{case.id}",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="case-{case.id}"')
    assert "Forsøket er lagret" in body
    assert CallLog.objects.get().result == "no_answer"
    # One unanswered call keeps the step open, with the attempt listed and the next one proposed.
    assert "Ubesvarte anrop: 1" in body and "Neste forsøk" in body
    case.refresh_from_db()
    assert case.current_step.kind == StepKind.PHONE_CALL


def test_call_again_without_date_gets_a_clear_message(login, clerk_a, nurse_a, child_a, outcome):
    case = _to_call_step(_case(child_a, outcome), clerk_a)
    response = login(nurse_a).post(
        reverse("followup:step_call", args=[case.current_step_id]),
        {"result": "call_again", "fra": "sykepleier"}, HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "Velg datoen du skal ringe igjen" in response.content.decode()
    assert not CallLog.objects.exists()


def test_skip_without_reason_is_refused_with_a_message(login, clerk_a, child_a, outcome):
    case = _case(child_a, outcome)
    response = login(clerk_a).post(
        reverse("followup:step_skip", args=[case.current_step_id]), {"reason": " ", "fra": "merkantil"}, HTTP_HX_REQUEST="true"
    )
    assert "begrunnelse" in response.content.decode()
    case.refresh_from_db()
    assert case.current_step.status == StepStatus.ACTIVE and case.current_step.seq == 1


def test_a_clerk_cannot_log_a_nurse_s_call(login, clerk_a, child_a, outcome):
    case = _to_call_step(_case(child_a, outcome), clerk_a)
    response = login(clerk_a).post(reverse("followup:step_call", args=[case.current_step_id]), {"result": "no_answer"})
    assert response.status_code == 403


def test_another_station_s_case_is_not_found(login, nurse_b, leader_a, child_a, outcome):
    case = _case(child_a, outcome)
    assert login(nurse_b).get(reverse("followup:case", args=[case.id])).status_code == 404
    assert login(nurse_b).post(reverse("followup:step_skip", args=[case.current_step_id]), {"reason": "x"}).status_code == 404


def test_only_leaders_decide(login, nurse_a, child_a, outcome):
    case = _case(child_a, outcome)
    response = login(nurse_a).post(reverse("followup:decide", args=[case.id]), {"decision": "close", "note": "x"})
    assert response.status_code == 403


def test_leader_queue_lists_special_attention_and_records_a_decision(login, leader_a, station_a, child_a, outcome):
    special = ChildFactory(station=station_a, given_name="Sara", family_name="Særlig", special_attention=True)
    _case(special, outcome)
    _case(child_a, outcome)  # At step 1, on time: not in the queue.
    client = login(leader_a)
    page = client.get(reverse("followup:leader_queue")).content.decode()
    assert "Særlig, Sara" in page and "Nordmann, Ola" not in page
    case = Case.objects.get(child=special)
    response = client.post(
        reverse("followup:decide", args=[case.id]),
        {"decision": "concern_report", "note": "Bekymring", "fra": "leder"}, HTTP_HX_REQUEST="true",
    )
    assert "dato" in response.content.decode()
    response = client.post(
        reverse("followup:decide", args=[case.id]),
        {"decision": "concern_report", "note": "Bekymring", "concern_report_date": "2026-03-02",
         "concern_report_reference": "BV-17", "fra": "leder"},
        HTTP_HX_REQUEST="true",
    )
    assert "Beslutningen er lagret" in response.content.decode()
    case.refresh_from_db()
    assert case.concern_reported_on.isoformat() == "2026-03-02"


def test_leader_queue_queries_do_not_grow_with_the_cases(login, leader_a, station_a, outcome, django_assert_max_num_queries):
    for _ in range(3):
        _case(ChildFactory(station=station_a, special_attention=True), outcome)
    client = login(leader_a)
    client.get(reverse("followup:leader_queue"))
    with django_assert_max_num_queries(12) as few:
        client.get(reverse("followup:leader_queue"))
    for _ in range(30):
        child = ChildFactory(station=station_a, special_attention=True)
        GuardianshipFactory(child=child, guardian=GuardianFactory(), relation=Relation.MOTHER)
        outcome(child, "not_brought")
    followup_sweep()
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("followup:leader_queue"))
    assert response.content.decode().count('<tr id="case-') == 33


def test_worklists_paginate_at_fifty(login, clerk_a, station_a, outcome):
    for _ in range(52):
        outcome(ChildFactory(station=station_a), "not_brought")
    followup_sweep()
    client = login(clerk_a)
    first = client.get(reverse("followup:clerk_worklist")).content.decode()
    assert first.count('<tr id="case-') == 50 and "Side 1 av 2" in first
    assert client.get(reverse("followup:clerk_worklist") + "?side=2").content.decode().count('<tr id="case-') == 2


def test_chronology_pdf_is_an_attachment_and_writes_the_access_log(login, leader_a, clerk_a, child_a, outcome):
    case = _case(child_a, outcome)
    response = login(leader_a).get(reverse("followup:chronology_pdf", args=[case.id]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith('attachment; filename="kronologi-sak-')
    assert response["Cache-Control"] == "no-store"
    assert response.content.startswith(b"%PDF")
    assert AccessLog.objects.filter(child=child_a, user=leader_a, action=AccessAction.VIEW_PDF).count() == 1
    assert login(clerk_a).get(reverse("followup:chronology_pdf", args=[case.id])).status_code == 403


def test_gp_confirmation_from_the_case_page_closes_it(login, nurse_a, child_a, outcome):
    case = _case(child_a, outcome)
    response = login(nurse_a).post(reverse("followup:gp_confirmed", args=[case.id]), {"note": "Bekreftet av fastlege", "fra": "sak"})
    assert response.status_code == 302
    case.refresh_from_db()
    assert case.status == CaseStatus.CLOSED and case.close_reason == "gp_confirmed" and case.closed_by == nurse_a


def test_the_queue_fetches_the_decision_form_for_one_case(login, leader_a, station_a, outcome):
    case = _case(ChildFactory(station=station_a, special_attention=True), outcome)
    client = login(leader_a)
    page = client.get(reverse("followup:leader_queue")).content.decode()
    form_url = reverse("followup:decision_form", args=[case.id])
    assert f'hx-get="{form_url}"' in page
    fragment = client.get(form_url, HTTP_HX_REQUEST="true").content.decode()
    assert "Bekymringsmelding til barnevernet" in fragment and "<html" not in fragment


def test_nurse_list_queries_do_not_grow_with_the_cases(login, clerk_a, nurse_a, station_a, outcome, django_assert_max_num_queries):
    def add_cases(n):
        for _ in range(n):
            child = ChildFactory(station=station_a)
            GuardianshipFactory(child=child, guardian=GuardianFactory(), relation=Relation.MOTHER)
            _to_call_step(_case(child, outcome), clerk_a)

    add_cases(2)
    client = login(nurse_a)
    client.get(reverse("followup:nurse_worklist"))
    # Session, user, the nurse's alerts, count, the page with its children, guardians, next appointments,
    # the phone steps' attempts, the ladder settings, the professionals, access log.
    with django_assert_max_num_queries(11) as few:
        client.get(reverse("followup:nurse_worklist"))
    add_cases(10)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("followup:nurse_worklist"))
    assert response.content.decode().count('<tr id="case-') == 12


def test_a_child_marked_for_special_attention_later_enters_the_queue(login, leader_a, child_a, outcome):
    case = _case(child_a, outcome)
    assert case not in leader_queue_cases(leader_a)
    child_a.special_attention = True
    child_a.save(update_fields=["special_attention"])
    followup_sweep()
    page = login(leader_a).get(reverse("followup:leader_queue")).content.decode()
    assert f'id="case-{case.id}"' in page


def test_a_clerk_posting_fra_leder_gets_her_own_row_never_the_leader_s(login, clerk_a, child_a, outcome):
    case = _case(child_a, outcome)  # Step 1 is the clerk's.
    response = login(clerk_a).post(
        reverse("followup:step_skip", args=[case.current_step_id]), {"reason": "Ny time avtalt på telefon", "fra": "leder"},
        HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"case-{case.id}",
    )
    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith(f'<tr id="case-{case.id}"')
    # The leader queue's row has the decision cell and the concern-report tag; the clerk's row has neither.
    assert f'id="decide-{case.id}"' not in body and "Beslutt" not in body
    assert "Trinnet er hoppet over" in body


def test_the_case_page_s_target_gets_the_case_section_whatever_is_posted(login, leader_a, station_a, outcome):
    case = _case(ChildFactory(station=station_a, special_attention=True), outcome)
    response = login(leader_a).post(
        reverse("followup:decide", args=[case.id]), {"decision": "concern_report", "note": "x", "fra": "leder"},
        HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"sak-{case.id}",
    )
    body = response.content.decode()
    assert body.lstrip().startswith(f'<section id="sak-{case.id}"') and "dato" in body


def test_the_leader_s_queue_row_answers_a_decision_taken_from_the_queue(login, leader_a, station_a, outcome):
    case = _case(ChildFactory(station=station_a, special_attention=True), outcome)
    response = login(leader_a).post(
        reverse("followup:decide", args=[case.id]), {"decision": "concern_report", "note": "x"},
        HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"case-{case.id}",
    )
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="case-{case.id}"') and f'id="decide-{case.id}"' in body


def test_a_plain_post_goes_back_only_to_a_list_the_user_may_open(login, clerk_a, child_a, outcome):
    case = _case(child_a, outcome)
    response = login(clerk_a).post(
        reverse("followup:step_skip", args=[case.current_step_id]), {"reason": "Ny time avtalt", "fra": "leder"}
    )
    assert response.status_code == 302 and response["Location"] == reverse("followup:case", args=[case.id])


@pytest.mark.parametrize(
    "query, message",
    [
        ("tall=followup&kategori=concern&detalj=%C2%B2", "Ugyldig år"),
        ("tall=followup&kategori=concern&detalj=99999999", "Ugyldig år"),
        ("tall=trend&kategori=not_brought&maaned=9999-12", "Ugyldig måned"),
        ("tall=coverage&kategori=due&fra=9999-12-31", "mellom år 1900 og 2200"),
    ],
)
def test_absurd_statistics_parameters_get_a_norwegian_400(login, leader_a, query, message):
    response = login(leader_a).get(reverse("followup:statistics:children") + "?" + query)
    assert response.status_code == 400 and message in response.content.decode()


def test_an_absurd_statistics_period_is_explained_on_the_page(login, leader_a):
    response = login(leader_a).get(reverse("followup:statistics:page") + "?fra=9999-12-31")
    assert response.status_code == 200 and "mellom år 1900 og 2200" in response.content.decode()


def test_an_absurd_call_again_date_is_refused_with_a_message(login, clerk_a, nurse_a, child_a, outcome):
    case = _to_call_step(_case(child_a, outcome), clerk_a)
    response = login(nurse_a).post(
        reverse("followup:step_call", args=[case.current_step_id]),
        {"result": "call_again", "call_again_on": "9999-12-31"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"case-{case.id}",
    )
    assert response.status_code == 200 and "mellom år 1900 og 2200" in response.content.decode()
    assert not CallLog.objects.exists()


# --------------------------------------------------------------------------- the leader's decision page


def _at_leader_decision(station, outcome):
    case = _case(ChildFactory(station=station, special_attention=True), outcome)
    assert case.current_step.kind == StepKind.LEADER_DECISION
    return case


def test_the_leader_decision_step_offers_only_the_decision(login, leader_a, station_a, outcome):
    case = _at_leader_decision(station_a, outcome)
    page = login(leader_a).get(reverse("followup:case", args=[case.id])).content.decode()
    assert "Lagre beslutning" in page
    assert "Hopp over trinnet" not in page
    assert "Bruk beslutningsskjemaet." not in page
    # The step's note stands inside the form it is about.
    form = page[page.index('class="decision-form"'):page.index("Lagre beslutning")]
    assert "Trinnet er utført når beslutningen er lagret." in form


def test_an_earlier_step_can_still_be_skipped_with_a_reason(login, leader_a, child_a, outcome):
    case = _case(child_a, outcome)
    page = login(leader_a).get(reverse("followup:case", args=[case.id])).content.decode()
    assert "Hopp over trinnet" in page and "Trinnet er utført når beslutningen er lagret." not in page


def test_the_leader_decision_step_cannot_be_skipped(login, leader_a, station_a, outcome):
    case = _at_leader_decision(station_a, outcome)
    body = login(leader_a).post(
        reverse("followup:step_skip", args=[case.current_step_id]), {"reason": "Vet ikke", "fra": "leder"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Lederbeslutningen kan ikke hoppes over. Velg en beslutning." in body
    case.refresh_from_db()
    assert case.current_step.kind == StepKind.LEADER_DECISION and case.current_step.status == StepStatus.ACTIVE


def test_the_decision_page_says_what_happens_next_for_each_choice(login, leader_a, station_a, outcome):
    case = _at_leader_decision(station_a, outcome)
    fragment = login(leader_a).get(reverse("followup:decision_form", args=[case.id]), HTTP_HX_REQUEST="true").content.decode()
    assert fragment.count('class="muted decision-next"') == 5
    assert "Saken fortsetter på trinnet du velger nedenfor, og begrunnelsen din vises på saken." in fragment
    assert "Saken går til trinnet «Vurder hjemmebesøk»." in fragment
    assert "saken venter på svar fra barnevernet" in fragment
    assert "Vedtaket lagres i sakens kronologi." in fragment
    assert "Saken avsluttes med begrunnelsen din, og oppfølgingen stopper." in fragment
    assert f'aria-describedby="decision-next-{case.id}-close"' in fragment
    # The steps she may continue on, the leader's own step not among them.
    assert '<option value="phone_call">2. Telefon til foresatte</option>' in fragment
    assert '<option value="leader_decision">' not in fragment


def test_a_decision_never_silently_restarts_the_ladder(login, leader_a, child_a, outcome):
    case = _case(child_a, outcome)
    fragment = login(leader_a).get(reverse("followup:decision_form", args=[case.id]), HTTP_HX_REQUEST="true").content.decode()
    assert "begynner en ny runde" not in fragment and "runde" not in fragment


@pytest.mark.parametrize(
    ("decision", "continue_step", "step_name"),
    [("continue", "phone_call", "Telefon til foresatte"), ("home_visit", "", "Vurder hjemmebesøk")],
)
def test_the_case_goes_where_the_decision_page_said(login, leader_a, station_a, outcome, decision, continue_step, step_name):
    case = _at_leader_decision(station_a, outcome)
    client = login(leader_a)
    fragment = client.get(reverse("followup:decision_form", args=[case.id]), HTTP_HX_REQUEST="true").content.decode()
    assert f"«{step_name}»" in fragment or f"{step_name}</option>" in fragment
    body = client.post(reverse("followup:decide", args=[case.id]),
                       {"decision": decision, "note": "Avklart i møte", "continue_step": continue_step},
                       HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"sak-{case.id}").content.decode()
    case.refresh_from_db()
    assert case.current_step.name == step_name and case.cycle == 1
    # The case page says what was decided, where the case goes on, and why; the chronology comes along.
    assert "Lederbeslutning" in body and "Begrunnelse: Avklart i møte" in body
    assert f'id="kronologi-{case.id}" hx-swap-oob="true"' in body
    if continue_step:
        assert "saken fortsetter på trinnet «Telefon til foresatte»" in body
        assert "Lagre samtale" in body  # the case is on the phone step, with its form


def test_continue_without_a_step_gets_a_clear_message(login, leader_a, station_a, outcome):
    case = _at_leader_decision(station_a, outcome)
    body = login(leader_a).post(reverse("followup:decide", args=[case.id]), {"decision": "continue", "note": "Videre"},
                                HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"sak-{case.id}").content.decode()
    assert "Velg trinnet saken skal fortsette på." in body
    case.refresh_from_db()
    assert case.current_step.kind == StepKind.LEADER_DECISION


def test_a_paused_case_is_marked_on_the_list_and_the_case_page(login, clerk_a, nurse_a, child_a, outcome):
    from datetime import timedelta

    from django.utils import timezone

    case = _to_call_step(_case(child_a, outcome), clerk_a)
    client = login(nurse_a)
    until = timezone.localdate() + timedelta(days=30)
    bad = client.post(reverse("followup:pause", args=[case.id]), {"reason": "abroad", "until": "1899-01-01"},
                      HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"sak-{case.id}")
    assert bad.status_code == 200 and 'role="alert"' in bad.content.decode()
    body = client.post(reverse("followup:pause", args=[case.id]), {"reason": "abroad", "until": until.isoformat(), "note": "<script>x</script>"},
                       HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"sak-{case.id}").content.decode()
    assert "Saken er satt på pause." in body and f"Pause: Oppholder seg i utlandet til {until:%d.%m.%Y}" in body
    assert "<script>x</script>" not in body and "Avslutt pausen nå" in body
    page = client.get(reverse("followup:nurse_worklist")).content.decode()
    assert f"Pause: Oppholder seg i utlandet til {until:%d.%m.%Y}" in page
    child_page = client.get(reverse("attendance:child", args=[child_a.pk])).content.decode()
    assert f"Pause: Oppholder seg i utlandet til {until:%d.%m.%Y}" in child_page and "Oppfølgingssak</a>" in child_page
    case.refresh_from_db()
    assert case.paused_until == until


def test_an_agreed_time_is_booked_from_the_call_form(login, clerk_a, nurse_a, child_a, outcome):
    from datetime import timedelta

    from django.utils import timezone

    case = _to_call_step(_case(child_a, outcome), clerk_a)
    client = login(nurse_a)
    when = timezone.localtime() + timedelta(days=4)
    missing = client.post(reverse("followup:step_call", args=[case.current_step_id]), {"result": "reached_rebooked"},
                          HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"sak-{case.id}").content.decode()
    assert "Velg tidspunktet for den nye timen." in missing
    body = client.post(
        reverse("followup:step_call", args=[case.current_step_id]),
        {"result": "reached_rebooked", "starts_at": when.strftime("%Y-%m-%dT%H:%M"), "professional": nurse_a.pk, "duration_minutes": "30"},
        HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"sak-{case.id}",
    ).content.decode()
    assert "Ny time er bestilt. Saken venter på timen." in body
    assert f"Venter på avtalt time {when:%d.%m.%Y}" in body and "Lagre samtale" not in body
    assert "Venter på timen" in body  # the chronology, swapped in place
    case.refresh_from_db()
    assert case.waiting_for is not None and case.waiting_for.professional == nurse_a


def test_call_again_is_on_the_nurse_s_list_but_not_due_before_its_day(login, clerk_a, nurse_a, station_a, outcome):
    from datetime import timedelta

    from django.utils import timezone

    from followup.workdays import add_working_days
    from tests.factories import ChildFactory

    later_case = _to_call_step(_case(ChildFactory(station=station_a, given_name="Senere"), outcome), clerk_a)
    due_case = _to_call_step(_case(ChildFactory(station=station_a, given_name="Nå"), outcome), clerk_a)
    day = add_working_days(timezone.localdate(), 2)
    case_call_log(step=later_case.current_step, user=nurse_a, result="call_again", call_again_on=day)
    # Both steps are past their deadline as far as the list is concerned; only the one due today says so.
    from followup.models import CaseStep

    CaseStep.objects.filter(pk=due_case.current_step_id).update(deadline=timezone.localdate() - timedelta(days=1))
    page = login(nurse_a).get(reverse("followup:nurse_worklist")).content.decode()
    assert page.index(f'id="case-{due_case.id}"') < page.index(f'id="case-{later_case.id}"')
    later_row = page[page.index(f'id="case-{later_case.id}"'):]
    later_row = later_row[:later_row.index("</tr>")]
    assert f"Ring igjen {day:%d.%m.%Y}" in later_row
