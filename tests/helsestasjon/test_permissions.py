"""helsestasjon/permissions.py: role x action -> allowed, the object rules, and the template filter.

The table below is the specification, written out by hand: a change of a rule must change it.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.template import Context, Template
from django.test import RequestFactory

from followup.models import CaseStep
from helsestasjon import permissions
from helsestasjon.models import AddressProtection, Child, Guardian, Role, User

ROLES = (Role.NURSE, Role.CLERK, Role.LEADER, Role.ADMIN)

# action: allowed for nurse, clerk, leader, admin (1 = yes)
MATRIX = {
    "may_hold_consultations": "1 0 1 1",
    "may_book": "1 1 1 1",
    "may_edit_working_hours": "0 1 1 1",
    "may_see_clinical_text": "1 0 1 0",
    "may_download_chronology": "1 0 1 1",
    "may_close_with_gp": "1 0 1 1",
    "may_pause_case": "1 0 1 1",
    "may_decide": "0 0 1 1",
    "may_decide_manual_contact": "1 0 1 0",
    "may_handle_letters": "0 1 1 1",
    "may_see_letters": "1 1 1 1",
    "may_see_statistics": "0 0 1 1",
    "may_report_kostra": "0 0 1 0",
    "may_handle_findings": "0 1 1 1",
    "may_see_register_status": "0 0 1 1",
    "is_alerted": "1 0 1 0",
    "may_see_alerts": "1 0 1 1",
    "may_mark_alert_seen": "1 0 0 0",
    "may_view_access_log": "0 0 1 1",
    "may_search_children": "1 1 1 1",
    "may_see_leader_queue": "0 0 1 1",
    "holds_consultations": "1 0 1 1",
    "may_use_break_glass": "0 0 0 1",
}

# The follow-up lists: who may open each (by the role whose steps it holds), and whose own it is (the menu).
LISTS = {Role.NURSE: "1 0 1 1", Role.CLERK: "0 1 1 1", Role.LEADER: "0 0 1 1"}
OWN_LIST = {Role.NURSE: "1 0 0 1", Role.CLERK: "0 1 0 1", Role.LEADER: "0 0 1 1"}


def _user(role, **extra) -> User:
    return User(username=f"u_{role}", role=role, **extra)


def _row(rule, *args) -> str:
    return " ".join("1" if rule(_user(role), *args) else "0" for role in ROLES)


@pytest.mark.parametrize("action", sorted(MATRIX))
def test_role_by_action(action):
    assert _row(getattr(permissions, action)) == MATRIX[action]


def test_every_rule_is_in_the_matrix():
    rules = {name for name, value in vars(permissions).items() if getattr(value, "roles", None) is not None}
    assert rules <= set(MATRIX), f"not in the matrix: {rules - set(MATRIX)}"


@pytest.mark.parametrize("queue", LISTS)
def test_the_follow_up_lists(queue):
    assert _row(permissions.may_open_list, queue) == LISTS[queue]
    assert _row(permissions.works_list, queue) == OWN_LIST[queue]
    assert not permissions.may_open_list(_user(Role.LEADER), "unknown")


@pytest.mark.parametrize("owner, expected", [(Role.NURSE, "1 0 1 1"), (Role.CLERK, "0 1 1 1"), (Role.LEADER, "0 0 1 1")])
def test_acting_on_a_step_is_for_its_owner_a_leader_or_the_administrator(owner, expected):
    step = CaseStep(owner_role=owner)
    assert _row(permissions.may_act_on_step, step) == expected
    assert _row(permissions.may_send_sms, step) == expected
    assert _row(permissions.may_act_on_step, None) == "0 0 0 0"


def test_nobody_signed_out_or_deactivated_may_do_anything():
    anonymous = AnonymousUser()
    inactive = _user(Role.ADMIN, is_active=False)
    for who in (anonymous, inactive, None):
        for action in MATRIX:
            assert not getattr(permissions, action)(who), (who, action)
        assert not permissions.may_act_on_step(who, CaseStep(owner_role=Role.NURSE))
        assert not permissions.may_open_list(who, Role.NURSE)


@pytest.mark.parametrize("person_class", [Child, Guardian])
def test_an_address_follows_the_protection_rule_now(person_class):
    cleared = _user(Role.NURSE, may_see_protected_addresses=True)
    plain = _user(Role.LEADER)
    person = person_class(address_protection=AddressProtection.UNCLASSIFIED)
    assert permissions.may_see_address(plain, person) and permissions.may_see_address(cleared, person)
    person.address_protection = AddressProtection.CONFIDENTIAL
    assert not permissions.may_see_address(plain, person) and permissions.may_see_address(cleared, person)
    person.address_protection = AddressProtection.STRICTLY_CONFIDENTIAL
    assert not permissions.may_see_address(plain, person) and not permissions.may_see_address(cleared, person)
    assert not permissions.may_see_address(AnonymousUser(), person_class(address_protection=AddressProtection.CONFIDENTIAL))


def test_a_template_asks_by_name_and_an_unknown_name_is_an_error():
    template = Template('{% load permissions %}{% if user|may:"decide" %}D{% endif %}{% if user|may_act_on:step %}S{% endif %}')
    step = CaseStep(owner_role=Role.CLERK)
    rendered = {role: template.render(Context({"user": _user(role), "step": step})) for role in ROLES}
    assert rendered == {Role.NURSE: "", Role.CLERK: "S", Role.LEADER: "DS", Role.ADMIN: "DS"}
    with pytest.raises(ValueError):
        Template('{% load permissions %}{{ user|may:"decdie" }}').render(Context({"user": _user(Role.LEADER)}))
    assert set(permissions.BY_NAME.values()) <= {getattr(permissions, name) for name in MATRIX}


def test_a_guarded_view_refuses_before_it_runs_and_carries_its_rule():
    ran = []

    @permissions.requires(permissions.may_decide)
    def view(request):
        ran.append(request.user.role)
        return "answered"

    request = RequestFactory().get("/")
    request.user = _user(Role.NURSE)
    with pytest.raises(PermissionDenied):
        view(request)
    request.user = _user(Role.LEADER)
    assert view(request) == "answered" and ran == [Role.LEADER]
    assert view.permission is permissions.may_decide


@pytest.mark.parametrize("person_class", [Child, Guardian])
def test_the_one_blanking_helper_on_the_models_that_hold_addresses(person_class):
    address = {"street_address": "Gate 1", "postal_code": "0150", "city": "Oslo"}
    person = person_class(address_protection=AddressProtection.CONFIDENTIAL, **address)
    assert person.stored_address() == address  # Confidential: stored, shown only with the permission.
    assert person.stored_address(AddressProtection.STRICTLY_CONFIDENTIAL) == dict.fromkeys(address, "")
    person.address_protection = AddressProtection.STRICTLY_CONFIDENTIAL
    assert person.stored_address() == dict.fromkeys(address, "")
