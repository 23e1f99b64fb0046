"""Every form meets random, oversized and hostile input.

The answer is a page with a clear message (or a redirect when the input happened to
be valid), never a server error; and a rejected registration saves nothing.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings, strategies as st

from attendance.models import Appointment, Consultation
from followup.letters.models import Letter
from followup.models import Case
from helsestasjon.models import Child, Guardian
from registry_sync.models import Finding
from tests.privacy.test_privacy_crawl import world  # noqa: F401  (the shared marker world)

pytestmark = pytest.mark.django_db

hostile_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "<script>alert(1)</script>", '<b>Ola</b> & "Kari"', "'; DROP TABLE child; --", "\x00", "0" * 11,
                     "03851598730", "2024-02-30", "31.12.2025", "25:61", "-1", "99999999999999999999", "😀" * 5, "nb", "attended"]),
    st.text(min_size=3000, max_size=3000).map(lambda s: s * 30),  # about 90,000 characters
)

FORMS = {
    "attendance:child_new": ("leader_a", None, [
        "arrival", "national_id", "given_name", "family_name", "birth_date", "sex", "station", "street_address", "postal_code",
        "city", "guardian_national_id", "guardian_given_name", "guardian_family_name", "guardian_relation",
        "guardian_mobile", "guardian_language", "guardian_interpreter"]),
    "attendance:book": ("clerk_a", "consultation_id", ["date", "time", "duration_minutes", "place", "room", "professional"]),
    "attendance:record_outcome": ("nurse_a", "appointment_id", ["outcome", "reason", "replaces", "new_date", "new_time"]),
    "followup:decide": ("leader_a", "case_id", ["decision", "concern_report_date", "concern_report_reference", "note"]),
    "followup:gp_confirmed": ("nurse_a", "case_id", ["note"]),
    "followup:step_call": ("nurse_a", "step_id", ["result", "call_again_on", "note"]),
    "followup:step_skip": ("leader_a", "step_id", ["reason"]),
    "followup:step_complete": ("leader_a", "step_id", ["evidence"]),
    "followup:letter_returned": ("clerk_a", "letter_id", []),
    "followup:letter_channel": ("clerk_a", "letter_id", ["kanal", "grunn"]),
    "followup:letter_svarut_resolve": ("clerk_a", "letter_id", ["forsendelse"]),
    "registry_sync:resolve": ("leader_a", "finding_id", ["resolution", "comment"]),
}


def _target(world, param):
    child = world["child_a"]
    return {
        None: None,
        "consultation_id": lambda: Consultation.objects.filter(child=child).exclude(state="not_applicable").first().id,
        "appointment_id": lambda: Appointment.objects.filter(child=child).first().id,
        "case_id": lambda: Case.objects.get(child=child).id,
        "step_id": lambda: Case.objects.get(child=child).current_step_id,
        "letter_id": lambda: Letter.objects.filter(station=child.station).first().id,
        "finding_id": lambda: Finding.objects.filter(station=child.station).first().id,
    }[param]


@pytest.fixture
def clients(world):
    out = {}
    for who, user in world["users"].items():
        client = Client(raise_request_exception=False)
        client.force_login(user)
        out[who] = client
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_no_form_answers_random_input_with_a_server_error(world, clients, data):
    name = data.draw(st.sampled_from(sorted(FORMS)), label="form")
    who, param, fields = FORMS[name]
    target = _target(world, param)
    url = reverse(name) if target is None else reverse(name, kwargs={param: target()})
    payload = {field: data.draw(hostile_text, label=field) for field in fields if data.draw(st.booleans())}
    children, guardians = Child.objects.count(), Guardian.objects.count()
    htmx = data.draw(st.booleans(), label="htmx")
    response = clients[who].post(url, payload, **({"HTTP_HX_REQUEST": "true"} if htmx else {}))
    assert response.status_code < 500, (name, payload, response.status_code)
    if name == "attendance:child_new" and response.status_code != 302:
        # A rejected registration saves nothing: not the child, not a guardian.
        assert (Child.objects.count(), Guardian.objects.count()) == (children, guardians)


@pytest.mark.parametrize("query", ["<script>", "x" * 100_000, "' OR 1=1 --", "12345678901234567890"], ids=["markup", "huge", "sql", "digits"])
def test_search_survives_hostile_queries(world, clients, query):
    response = clients["nurse_a"].get(reverse("children"), {"q": query})
    assert response.status_code == 200


def test_a_nul_byte_anywhere_gets_a_clear_400(world, clients):
    search = clients["nurse_a"].get(reverse("children"), {"q": "Ola\x00"})
    assert search.status_code == 400 and "ugyldige tegn" in search.content.decode()
    children = Child.objects.count()
    post = clients["leader_a"].post(reverse("attendance:child_new"), "given_name=Ola%00&family_name=N",
                                    content_type="application/x-www-form-urlencoded")
    assert post.status_code == 400 and Child.objects.count() == children
    # A multipart form is refused the same way (issue 13): every body is checked.
    post = clients["leader_a"].post(reverse("attendance:child_new"), {"given_name": "Ola\x00", "family_name": "N"})
    assert post.status_code == 400 and "ugyldige tegn" in post.content.decode()
    assert Child.objects.count() == children
