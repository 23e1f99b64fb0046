"""Authorisation matrix: role x view x own/other station, for GET and POST.

Each row lists the status for nurse A, clerk A, leader A, nurse B and the admin.
Views that take an object get two columns per user: an object at station A, then
one at station B. Another station's object is a 404 (it does not exist for you);
a page your role may not use is a 403 whether or not the object exists (the
role is checked first, so it reveals nothing); a POST-only action answers GET with 405.
An empty POST by an allowed user gets its form back (200) or a redirect (302),
never a change and never a 500. Every URL the application has must be listed, so
a new view cannot be added without deciding who may use it.

Who gets a 403 by role is read from helsestasjon/permissions.py: a view guarded by
``permissions.requires(rule)`` carries its rule, and the expected row is the listed one
with every user the rule refuses set to 403. The listed rows must agree with the rules
(test_the_listed_rows_agree_with_the_permission_rules), so the table stays readable and a
change of a rule is a change of the table.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import get_resolver, reverse

from attendance.models import Appointment, Consultation
from followup.letters.models import Letter, LetterBatch
from followup.models import Case
from helsestasjon.models import Role, User
from registry_sync.models import Finding
from tests.privacy.test_privacy_crawl import _patterns, world  # noqa: F401  (the shared marker world)

pytestmark = pytest.mark.django_db

USERS = ("nurse_a", "clerk_a", "leader_a", "nurse_b", "admin")
ROLE_OF = {"nurse_a": Role.NURSE, "clerk_a": Role.CLERK, "leader_a": Role.LEADER, "nurse_b": Role.NURSE, "admin": Role.ADMIN}

# name: statuses per user (two per user for views that take an object: station A, station B)
GET = {
    "home": "302 302 302 302 302",
    "login": "302 302 302 302 302",
    "helseid:start": "405 405 405 405 405",
    "helseid:callback": "400 400 400 400 400",
    "helseid:logged_out": "302 302 302 302 302",
    "children": "200 200 200 200 200",
    "child_access_log": "403 403 403 403 200 404 403 403 200 200",
    "attendance:day": "200 403 200 200 200",
    "attendance:record_outcome": "405 405 405 405 405 405 405 405 405 405",
    "attendance:booking_worklist": "200 200 200 200 200",
    "attendance:book": "405 405 405 405 405 405 405 405 405 405",
    "attendance:book_slot": "405 405 405 405 405 405 405 405 405 405",
    "attendance:booking_week": "200 404 200 404 200 404 404 200 200 200",
    "attendance:appointment_move": "200 404 200 404 200 404 404 200 200 200",
    "attendance:working_hours": "403 200 200 403 200",
    "attendance:child_new": "200 200 200 200 200",
    "attendance:child": "200 404 200 404 200 404 404 200 200 200",
    "followup:nurse_worklist": "200 403 200 200 200",
    "followup:clerk_worklist": "403 200 200 403 200",
    "followup:leader_queue": "403 403 200 403 200",
    "followup:case": "200 404 200 404 200 404 404 200 200 200",
    "followup:chronology_pdf": "200 404 403 403 200 404 404 200 200 200",
    "followup:decide": "405 405 405 405 405 405 405 405 405 405",
    "followup:decision_form": "403 403 403 403 200 404 403 403 200 200",
    "followup:gp_confirmed": "405 405 405 405 405 405 405 405 405 405",
    "followup:step_call": "405 405 405 405 405 405 405 405 405 405",
    "followup:step_complete": "405 405 405 405 405 405 405 405 405 405",
    "followup:step_sms": "405 405 405 405 405 405 405 405 405 405",
    "followup:step_skip": "405 405 405 405 405 405 405 405 405 405",
    "followup:step_home_visit": "405 405 405 405 405 405 405 405 405 405",
    "followup:step_consent": "405 405 405 405 405 405 405 405 405 405",
    "followup:pause": "405 405 405 405 405 405 405 405 405 405",
    "followup:pause_end": "405 405 405 405 405 405 405 405 405 405",
    "followup:step_skip_form": "403 404 302 404 302 404 404 403 302 302",
    "followup:statistics:page": "403 403 200 403 200",
    "followup:statistics:children": "403 403 400 403 400",
    "followup:statistics:kostra_csv": "403 403 400 403 400",
    "followup:statistics:mark_reported": "405 405 405 405 405",
    "followup:letters": "403 200 200 403 200",
    "followup:letter_batch_start": "405 405 405 405 405",
    "followup:letter_batch_progress": "403 403 200 404 200 404 403 403 200 200",
    "followup:letter_batch_pdf": "403 403 200 404 200 404 403 403 200 200",
    "followup:letter_batch_sent": "405 405 405 405 405 405 405 405 405 405",
    "followup:letter_pdf": "200 404 200 404 200 404 404 200 200 200",
    "followup:letter_sent": "405 405 405 405 405 405 405 405 405 405",
    "followup:letter_returned": "405 405 405 405 405 405 405 405 405 405",
    "followup:letter_retry": "405 405 405 405 405 405 405 405 405 405",
    "followup:svarut_letters": "403 200 200 403 200",
    "followup:letter_channel": "405 405 405 405 405 405 405 405 405 405",
    "followup:letter_svarut_resolve": "405 405 405 405 405 405 405 405 405 405",
    "followup:child_letters": "200 404 200 404 200 404 404 200 200 200",
    "followup:letter_gp_confirmation": "405 405 405 405 405 405 405 405 405 405",
    "followup:sms_delivery_report": "405 405 405 405 405",
    "followup:manual_contact": "405 405 405 405 405 405 405 405 405 405",
    "registry_sync:worklist": "403 200 200 403 200",
    "registry_sync:create_journal": "405 405 405 405 405 405 405 405 405 405",
    "registry_sync:move_station": "405 405 405 405 405 405 405 405 405 405",
    "registry_sync:resolve": "405 405 405 405 405 405 405 405 405 405",
    "registry_sync:alerts": "200 403 200 200 200",
    "registry_sync:alert_seen": "405 405 405 405 405 405 405 405 405 405",
}

# Only the actions; an empty POST. Views that only read are 405 here and not listed.
POST = {
    "attendance:record_outcome": "200 404 403 403 200 404 404 200 200 200",
    "attendance:book": "200 404 200 404 200 404 404 200 200 200",
    "attendance:book_slot": "200 404 200 404 200 404 404 200 200 200",
    "attendance:appointment_move": "200 404 200 404 200 404 404 200 200 200",
    "attendance:working_hours": "403 200 200 403 200",
    "attendance:child_new": "200 200 200 200 200",
    "followup:decide": "403 403 403 403 200 404 403 403 200 200",
    "followup:gp_confirmed": "200 404 403 403 200 404 404 200 200 200",
    "followup:step_home_visit": "403 404 200 404 200 404 404 403 200 200",
    "followup:step_consent": "403 404 200 404 200 404 404 403 200 200",
    "followup:pause": "200 404 403 403 200 404 404 200 200 200",
    "followup:pause_end": "200 404 403 403 200 404 404 200 200 200",
    "followup:statistics:mark_reported": "403 403 302 403 403",
    "followup:letter_batch_start": "403 302 302 403 302",
    "followup:letter_batch_sent": "403 403 302 404 302 404 403 403 302 302",
    "followup:letter_sent": "403 403 302 404 302 404 403 403 302 302",
    "followup:letter_returned": "403 403 302 404 302 404 403 403 302 302",
    "followup:letter_retry": "403 403 302 404 302 404 403 403 302 302",
    "followup:letter_channel": "403 403 302 404 302 404 403 403 302 302",
    "followup:letter_svarut_resolve": "403 403 302 404 302 404 403 403 302 302",
    "followup:letter_gp_confirmation": "302 404 302 404 302 404 404 302 302 302",
    "followup:sms_delivery_report": "403 403 403 403 403",
    "followup:manual_contact": "200 404 403 403 200 404 404 200 403 403",
    "registry_sync:create_journal": "403 403 200 404 200 404 403 403 200 200",
    "registry_sync:move_station": "403 403 200 404 200 404 403 403 200 200",
    "registry_sync:resolve": "403 403 200 404 200 404 403 403 200 200",
    "registry_sync:alert_seen": "200 404 403 403 403 403 404 200 403 403",
}


def _rule(name: str):
    """The permission rule guarding the view of a URL name (None: the view decides by the object)."""
    patterns = {n: p for p, n in _patterns(get_resolver().url_patterns) if n}
    return getattr(patterns[name].callback, "permission", None)


def _expected(name: str, method: str) -> str:
    """The listed row, with every user the view's permission rule refuses set to 403.

    A row that is all 405 (the method is refused before anyone is asked) stays as listed.
    """
    cells = (GET if method == "GET" else POST)[name].split()
    rule = _rule(name)
    if rule is None or set(cells) == {"405"}:
        return " ".join(cells)
    per_user = len(cells) // len(USERS)
    out = []
    for i, who in enumerate(USERS):
        mine = cells[i * per_user:(i + 1) * per_user]
        out += mine if rule(User(username=who, role=ROLE_OF[who])) else ["403"] * per_user
    return " ".join(out)


def test_the_listed_rows_agree_with_the_permission_rules():
    disagree = {}
    for method, table in (("GET", GET), ("POST", POST)):
        for name, listed in table.items():
            cells = listed.split()
            rule = _rule(name)
            if rule is None or set(cells) == {"405"}:
                continue
            per_user = len(cells) // len(USERS)
            refused_by_role = [
                who for i, who in enumerate(USERS) if set(cells[i * per_user:(i + 1) * per_user]) == {"403"}
            ]
            refused_by_rule = [who for who in USERS if not rule(User(username=who, role=ROLE_OF[who]))]
            if refused_by_role != refused_by_rule:
                disagree[f"{method} {name}"] = f"listed 403 for {refused_by_role}, the rule refuses {refused_by_rule}"
    assert not disagree, "\n".join(f"{k}: {v}" for k, v in disagree.items())


def test_every_view_refused_by_role_carries_its_rule():
    """A view some roles get a 403 from, whatever the object, is guarded by helsestasjon.permissions
    (so its rule is asked in one place and this matrix reads it), not by a check of its own."""
    unguarded = []
    for method, table in (("GET", GET), ("POST", POST)):
        for name, listed in table.items():
            cells = listed.split()
            per_user = len(cells) // len(USERS)
            refused = [set(cells[i * per_user:(i + 1) * per_user]) == {"403"} for i in range(len(USERS))]
            if any(refused) and not all(refused) and _rule(name) is None:
                unguarded.append(f"{method} {name}")
    assert unguarded == []


def _ids(world, param: str) -> tuple[int, int]:
    """One object at station A and one at station B for a URL parameter."""
    pair = []
    for child in (world["child_a"], world["child_b"]):
        station = child.station
        value = {
            "child_id": lambda: child.id,
            "appointment_id": lambda: Appointment.objects.filter(child=child).values_list("id", flat=True).first(),
            "consultation_id": lambda: Consultation.objects.filter(child=child).exclude(state="not_applicable")
            .values_list("id", flat=True).first(),
            "case_id": lambda: Case.objects.filter(child=child).values_list("id", flat=True).first(),
            "step_id": lambda: Case.objects.filter(child=child).values_list("current_step_id", flat=True).first(),
            "letter_id": lambda: Letter.objects.filter(station=station).values_list("id", flat=True).first(),
            "batch_id": lambda: LetterBatch.objects.filter(station=station).values_list("id", flat=True).first(),
            "finding_id": lambda: Finding.objects.filter(station=station).values_list("id", flat=True).first(),
            "alert_id": lambda: Finding.objects.alerts().filter(station=station).values_list("id", flat=True).first(),
        }[param]()
        assert value is not None, f"the world has no {param} at {station}"
        pair.append(value)
    return tuple(pair)


@pytest.fixture
def world_with_everything(world, station_b, nurse_b, django_capture_on_commit_callbacks):
    # Station B needs a letter batch and a register finding of its own for the B column.
    from followup.letters.batch import letter_batch_start

    child_b = world["child_b"]
    with django_capture_on_commit_callbacks(execute=True):
        letter_batch_start(station=station_b, user=world["users"]["admin"])
    Finding.objects.create(kind="name_changed", national_id=child_b.national_id, child=child_b, station=station_b,
                           subject=child_b.national_id, fingerprint="matrix", name=child_b.full_name)
    Finding.objects.create(kind="deceased", national_id=child_b.national_id, child=child_b, station=station_b,
                           subject=child_b.national_id, fingerprint="matrix-alert", name=child_b.full_name)
    return world


@pytest.fixture
def sessions(world_with_everything, fake_helseid):
    """Each user's session, logged in through the fake HelseID over HTTP (as production logs in)."""
    from tests.helseid_support import clients_through_helseid

    clients = clients_through_helseid(fake_helseid, {who: world_with_everything["users"][who] for who in USERS})
    return {who: client.cookies for who, client in clients.items()}


def _statuses(world, name, pattern, method, sessions) -> str:
    params = list(pattern.pattern.converters)
    urls = [reverse(name)] if not params else [reverse(name, kwargs={params[0]: v}) for v in _ids(world, params[0])]
    out = []
    for who in USERS:
        # A fresh client with the HelseID session's cookie, so no request's cookies leak into the next.
        client = Client()
        client.cookies = type(sessions[who])(sessions[who])
        for url in urls:
            response = client.get(url) if method == "GET" else client.post(url, {}, HTTP_HX_REQUEST="true")
            out.append(str(response.status_code))
    return " ".join(out)


def test_every_url_is_in_the_matrix():
    names = {name for _, name in _patterns(get_resolver().url_patterns) if name and not name.startswith("admin:")}
    names.discard("logout")
    assert names == set(GET), f"missing: {names - set(GET)}; stale: {set(GET) - names}"
    assert set(POST) <= names


def _wrong(world, sessions, method: str, names) -> dict[str, str]:
    """Each URL name of `names` whose statuses for the cast differ from the matrix, with both."""
    patterns = {name: p for p, name in _patterns(get_resolver().url_patterns) if name}
    wrong = {}
    for name in names:
        expected = _expected(name, method)
        got = _statuses(world, name, patterns[name], method, sessions)
        if got != expected:
            wrong[name] = f"expected {expected}, got {got}"
    return wrong


def test_get_matrix(world_with_everything, sessions):
    wrong = _wrong(world_with_everything, sessions, "GET", GET)
    assert not wrong, "\n".join(f"{k}: {v}" for k, v in wrong.items())


def test_post_matrix(world_with_everything, sessions):
    wrong = _wrong(world_with_everything, sessions, "POST", POST)
    assert not wrong, "\n".join(f"{k}: {v}" for k, v in wrong.items())
