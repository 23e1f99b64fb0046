"""Who may do what: the one place the application's permission rules live.

Views, navigation, templates and services all ask these functions; none of them compares roles.
Every rule takes the user (and the object where the answer depends on it) and answers True or False:

- ``may_hold_consultations``: the day list and recording outcomes (everyone but clerks);
  ``holds_consultations`` is the same rule for a colleague chosen as the professional of a time
- ``may_book``: booking a consultation, moving a time, registering a child
- ``may_edit_working_hours``: working hours, leave and closed days (the clerk and the leader)
- ``may_see_clinical_text``: notes, reasons, the chronology's clinical entries (nurse, leader; never a
  clerk, and not the administrator, who keeps the system running)
- ``may_download_chronology``, ``may_close_with_gp``, ``may_pause_case``: the case page's clinical actions
- ``may_act_on_step(user, step)``: the step's owner role, a leader or the administrator
- ``may_open_list(user, queue)``: the three follow-up work lists; ``works_list`` is whose list it is
  (what the menu offers)
- ``may_decide``: the leader's decision on a case
- ``may_decide_manual_contact``: who is told what about a protected child (the clinical roles)
- ``may_handle_letters`` (batches, manual letters), ``may_see_letters`` (a letter, a child's archive),
  ``may_send_sms`` (the SMS that goes with a follow-up step: the step's own rule)
- ``may_see_statistics``, ``may_report_kostra`` (marking a year's KOSTRA figures as reported)
- ``may_handle_findings`` (the register worklist), ``may_see_register_status``
- ``is_alerted``, ``may_see_alerts``, ``may_mark_alert_seen``: the register's alerts
- ``may_view_access_log``
- ``may_use_break_glass``: the administrator's password-and-code login when HelseID is down
- ``may_see_address(user, person)``, ``may_see_address_at_level(user, level)``: the protected-address
  rule of ``helsestasjon.protection``, asked of the person's protection now

``requires(rule)`` guards a view with a rule (403 before anything is read) and records the rule on
the view, so the authorisation matrix test reads its expectations from here. In templates,
``{% load permissions %}`` and ``{{ user|may:"decide" }}``.
"""

from __future__ import annotations

from functools import wraps

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext

from helsestasjon.models import Role

NURSE, CLERK, LEADER, ADMIN = Role.NURSE, Role.CLERK, Role.LEADER, Role.ADMIN

# Roles that hold no consultations (a clerk books them for others).
NON_CONSULTING_ROLES = (CLERK,)


def _role(user) -> str | None:
    if user is None or not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", True):
        return None
    return user.role


def _one_of(*roles: str):
    allowed = frozenset(roles)

    def rule(user) -> bool:
        return _role(user) in allowed

    rule.roles = allowed
    return rule


# --------------------------------------------------------------------------- role rules

may_hold_consultations = _one_of(NURSE, LEADER, ADMIN)
may_book = _one_of(CLERK, NURSE, LEADER, ADMIN)
# Working hours per weekday, leave and closed days of the station's professionals.
may_edit_working_hours = _one_of(CLERK, LEADER, ADMIN)
may_see_clinical_text = _one_of(NURSE, LEADER)
may_download_chronology = _one_of(NURSE, LEADER, ADMIN)
may_close_with_gp = _one_of(NURSE, LEADER, ADMIN)
# Pausing a case until a date (abroad, specialist care, the GP) and ending the pause.
may_pause_case = _one_of(NURSE, LEADER, ADMIN)
may_decide = _one_of(LEADER, ADMIN)
may_decide_manual_contact = _one_of(NURSE, LEADER)
may_handle_letters = _one_of(CLERK, LEADER, ADMIN)
may_see_letters = _one_of(CLERK, NURSE, LEADER, ADMIN)
may_see_statistics = _one_of(LEADER, ADMIN)
# "Marker som rapportert": the year's KOSTRA figures stored as sent (the leader answers for them).
may_report_kostra = _one_of(LEADER)
may_handle_findings = _one_of(CLERK, LEADER, ADMIN)
may_see_register_status = _one_of(LEADER, ADMIN)
# Who is alerted to a death, an annulled death or a change of parental responsibility.
is_alerted = _one_of(NURSE, LEADER)
may_see_alerts = _one_of(NURSE, LEADER, ADMIN)
# The leader reads the alerts; marking one seen is for the nurses it is meant for.
may_mark_alert_seen = _one_of(NURSE)
may_view_access_log = _one_of(LEADER, ADMIN)
may_search_children = _one_of(NURSE, CLERK, LEADER, ADMIN)
# Break-glass: a password and a one-time code instead of HelseID (everyone else only where settings allow it).
may_use_break_glass = _one_of(ADMIN)

may_see_leader_queue = _one_of(LEADER, ADMIN)
# Who may open each follow-up work list, by the role whose steps it holds.
_LISTS = {
    NURSE: _one_of(NURSE, LEADER, ADMIN),
    CLERK: _one_of(CLERK, LEADER, ADMIN),
    LEADER: may_see_leader_queue,
}


def holds_consultations(user) -> bool:
    """Can this colleague be the professional of a time (and be shown as one)?"""
    return _role(user) is not None and user.role not in NON_CONSULTING_ROLES


def may_open_list(user, queue: str) -> bool:
    """May the user open the follow-up work list of ``queue`` (a step owner role)?"""
    rule = _LISTS.get(queue)
    return bool(rule and rule(user))


def works_list(user, queue: str) -> bool:
    """Is ``queue``'s work list this user's own (what the menu offers; the administrator sees all)?"""
    return _role(user) in (queue, ADMIN)


def may_act_on_step(user, step) -> bool:
    """May the user act on a follow-up step: its owner role, a leader or the administrator."""
    role = _role(user)
    return step is not None and role is not None and (role == step.owner_role or role in (LEADER, ADMIN))


def may_send_sms(user, step) -> bool:
    """The SMS that goes with a step is the step's action (no SMS is sent by role alone)."""
    return may_act_on_step(user, step)


def may_see_address(user, person) -> bool:
    """May the user see this child's or guardian's address (helsestasjon.protection, asked now)?"""
    return may_see_address_at_level(user, person.address_protection)


def may_see_address_at_level(user, level: str | None) -> bool:
    """The same rule for a copy (a letter, a finding) whose owners' protection now is ``level``."""
    from helsestasjon.protection import address_visible

    return address_visible(level, user)


# Rules a template may ask by name: {{ user|may:"decide" }}.
BY_NAME = {
    "hold_consultations": may_hold_consultations,
    "book": may_book,
    "edit_working_hours": may_edit_working_hours,
    "see_clinical_text": may_see_clinical_text,
    "download_chronology": may_download_chronology,
    "close_with_gp": may_close_with_gp,
    "pause_case": may_pause_case,
    "decide": may_decide,
    "decide_manual_contact": may_decide_manual_contact,
    "handle_letters": may_handle_letters,
    "see_letters": may_see_letters,
    "see_statistics": may_see_statistics,
    "report_kostra": may_report_kostra,
    "handle_findings": may_handle_findings,
    "see_register_status": may_see_register_status,
    "see_alerts": may_see_alerts,
    "mark_alert_seen": may_mark_alert_seen,
    "view_access_log": may_view_access_log,
    "see_leader_queue": may_see_leader_queue,
}


def allowed(user, name: str) -> bool:
    """Ask a rule by its name (unknown names are a programming error, not a silent no)."""
    try:
        rule = BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown permission {name!r}") from None
    return rule(user)


# --------------------------------------------------------------------------- views


def require(user, rule, *args, message: str | None = None) -> None:
    """Raise 403 unless ``rule(user, *args)`` allows it."""
    if not rule(user, *args):
        raise PermissionDenied(message or gettext("Du har ikke tilgang til denne siden."))


def requires(rule, *, message: str | None = None):
    """Guard a view with a role rule: 403 before the view reads anything, so a page the role may not
    use reveals nothing about the object asked for. The rule stays on the view as ``permission``
    (the authorisation matrix test reads it there). ``message`` is a lazy text for the 403 page."""

    def decorate(view):
        @wraps(view)
        def guarded(request, *args, **kwargs):
            require(request.user, rule, message=str(message) if message else None)
            return view(request, *args, **kwargs)

        guarded.permission = rule
        return guarded

    return decorate
