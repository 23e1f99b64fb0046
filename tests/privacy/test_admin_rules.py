"""The admin obeys the same rules as the pages (issue 13, finding 6).

Address visibility asks ``helsestasjon.protection.address_visible``; no URL lookup can probe an address
or a protection level; a protection change saved in the admin goes through the protection service, so
every copy follows; clinical inlines only for clinical roles; admin pages that show a child are logged.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from followup.models import Case, CaseStep, StepKind
from helsestasjon.models import AccessAction, AccessLog, AddressProtection, Child, Guardian, Role
from helsestasjon.protection import address_protection_changed
from tests.factories import ChildFactory, GuardianFactory, OutcomeEventFactory, UserFactory

pytestmark = pytest.mark.django_db

HIDDEN_STREET = "Skjulestien 13"


@pytest.fixture
def admin_user(station_a):
    """The administrator: every admin page, but no permission for protected addresses and no clinical role."""
    return UserFactory(username="admin", role=Role.ADMIN, is_staff=True, is_superuser=True)


@pytest.fixture
def clinical_admin(station_a):
    """A leader who also administers: clinical role and the address permission."""
    return UserFactory(
        username="leder_admin", role=Role.LEADER, is_staff=True, is_superuser=True, stations=[station_a],
        may_see_protected_addresses=True,
    )


@pytest.fixture
def confidential_child(station_a):
    return ChildFactory(station=station_a, street_address=HIDDEN_STREET, address_protection=AddressProtection.CONFIDENTIAL)


@pytest.fixture
def confidential_guardian():
    return GuardianFactory(family_name="Gjemt", street_address=HIDDEN_STREET, address_protection=AddressProtection.CONFIDENTIAL)


@pytest.fixture
def changes():
    """The protection-change signal's calls, as (guardian_ids, child_ids)."""
    seen = []

    def receiver(sender, guardian_ids, child_ids, **kwargs):
        seen.append((list(guardian_ids), list(child_ids)))

    address_protection_changed.connect(receiver, weak=False, dispatch_uid="test_admin_rules")
    yield seen
    address_protection_changed.disconnect(dispatch_uid="test_admin_rules")


def _answering(client):
    """A client that gets Django's 400 for a refused lookup instead of the exception behind it."""
    client.raise_request_exception = False
    return client


def _change_url(obj):
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])


def _list_url(model):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def _form_data(response) -> dict:
    """The change form's current values, as a browser would post them back."""
    form = response.context["adminform"].form
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if value is None:
            continue
        if isinstance(value, datetime):  # the admin's split date and time widget
            value = timezone.localtime(value)
            data[f"{name}_0"], data[f"{name}_1"] = f"{value:%d.%m.%Y}", f"{value:%H:%M:%S}"
            continue
        if isinstance(value, bool):
            if value:
                data[name] = "on"
            continue
        data[name] = value.pk if hasattr(value, "pk") else value
    for formset in response.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name in management.fields:
            data[f"{management.prefix}-{name}"] = management.initial.get(name, 0)
    return data


def test_admin_without_the_permission_does_not_see_a_confidential_childs_address(login, admin_user, confidential_child):
    response = login(admin_user).get(_change_url(confidential_child))
    assert response.status_code == 200
    assert HIDDEN_STREET not in response.content.decode()


def test_admin_with_the_permission_sees_a_confidential_childs_address(login, clinical_admin, confidential_child):
    response = login(clinical_admin).get(_change_url(confidential_child))
    assert HIDDEN_STREET in response.content.decode()


def test_admin_without_the_permission_does_not_see_a_confidential_guardians_address(login, admin_user, confidential_guardian):
    response = login(admin_user).get(_change_url(confidential_guardian))
    assert response.status_code == 200
    assert HIDDEN_STREET not in response.content.decode()


@pytest.mark.parametrize("model", [Guardian, Child])
def test_a_protected_address_cannot_be_guessed_letter_by_letter_in_the_admin_list(login, admin_user, confidential_child, confidential_guardian, model):
    client = _answering(login(admin_user))
    hit = client.get(_list_url(model), {"street_address__startswith": "S"})
    miss = client.get(_list_url(model), {"street_address__startswith": "X"})
    # Django refuses a disallowed lookup with 400: neither answer says whether the guess was right.
    assert hit.status_code == miss.status_code == 400
    assert "Gjemt" not in hit.content.decode()


@pytest.mark.parametrize(
    "lookup", ["address_protection", "postal_code__startswith", "city__icontains", "guardianships__guardian__street_address__startswith"]
)
def test_the_admin_child_list_refuses_lookups_on_the_address_and_the_protection_level(login, admin_user, confidential_child, lookup):
    response = _answering(login(admin_user)).get(_list_url(Child), {lookup: "Confidential"})
    assert response.status_code == 400


def test_the_admin_case_list_refuses_a_lookup_on_the_childs_address(login, admin_user, confidential_child):
    Case.objects.create(child=confidential_child, station=confidential_child.station, triggered_at=timezone.now())
    response = _answering(login(admin_user)).get(_list_url(Case), {"child__street_address__startswith": "S"})
    assert response.status_code == 400


def test_a_protection_change_saved_in_the_admin_blanks_the_address_and_tells_the_copies(login, clinical_admin, changes):
    guardian = GuardianFactory(street_address=HIDDEN_STREET)
    client = login(clinical_admin)
    data = _form_data(client.get(_change_url(guardian)))
    data["address_protection"] = AddressProtection.STRICTLY_CONFIDENTIAL
    response = client.post(_change_url(guardian), data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    guardian.refresh_from_db()
    assert guardian.address_protection == AddressProtection.STRICTLY_CONFIDENTIAL
    assert guardian.street_address == ""
    assert changes == [([guardian.pk], [])]


def test_a_childs_protection_change_saved_in_the_admin_goes_through_the_protection_service(login, clinical_admin, child_a, changes):
    client = login(clinical_admin)
    data = _form_data(client.get(_change_url(child_a)))
    data["address_protection"] = AddressProtection.STRICTLY_CONFIDENTIAL
    response = client.post(_change_url(child_a), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    child_a.refresh_from_db()
    assert child_a.address_protection == AddressProtection.STRICTLY_CONFIDENTIAL
    assert child_a.street_address == ""
    assert changes == [([], [child_a.pk])]


def test_an_admin_who_may_not_see_the_address_cannot_lower_its_protection(login, admin_user, confidential_guardian):
    client = login(admin_user)
    data = _form_data(client.get(_change_url(confidential_guardian)))
    data["address_protection"] = AddressProtection.UNCLASSIFIED
    response = client.post(_change_url(confidential_guardian), data)
    assert response.status_code == 200  # the form again, with an error
    confidential_guardian.refresh_from_db()
    assert confidential_guardian.address_protection == AddressProtection.CONFIDENTIAL
    assert HIDDEN_STREET not in response.content.decode()


def test_saving_other_fields_in_the_admin_keeps_the_hidden_address(login, admin_user, confidential_guardian, changes):
    client = login(admin_user)
    data = _form_data(client.get(_change_url(confidential_guardian)))
    data["given_name"] = "Nytt"
    assert client.post(_change_url(confidential_guardian), data).status_code == 302
    confidential_guardian.refresh_from_db()
    assert (confidential_guardian.given_name, confidential_guardian.street_address) == ("Nytt", HIDDEN_STREET)
    assert changes == []


@pytest.fixture
def case_with_skipped_step(child_a):
    case = Case.objects.create(child=child_a, station=child_a.station, triggered_at=timezone.now(), close_note="Mor sier far truer familien")
    CaseStep.objects.create(
        case=case, cycle=1, seq=1, order=1, kind=StepKind.HOME_VISIT, name="Vurder hjemmebesøk", owner_role=Role.NURSE,
        deadline=date.today() + timedelta(days=5), status="skipped", skip_reason="Familien bor på krisesenter",
    )
    return case


def test_a_cases_skip_reasons_and_notes_are_not_shown_to_a_non_clinical_admin(login, admin_user, case_with_skipped_step):
    page = login(admin_user).get(_change_url(case_with_skipped_step)).content.decode()
    assert "krisesenter" not in page
    assert "truer familien" not in page


def test_a_cases_skip_reasons_are_shown_to_a_clinical_admin(login, clinical_admin, case_with_skipped_step):
    page = login(clinical_admin).get(_change_url(case_with_skipped_step)).content.decode()
    assert "krisesenter" in page


def test_an_appointments_outcome_reasons_are_not_shown_to_a_non_clinical_admin(login, admin_user, clinical_admin, child_a, nurse_a):
    event = OutcomeEventFactory(
        appointment__consultation__child=child_a, appointment__professional=nurse_a, outcome="cancelled_by_guardian",
        reason="specialist_care", note="Innlagt på BUP",
    )
    url = _change_url(event.appointment)
    assert "Innlagt på BUP" not in login(admin_user).get(url).content.decode()
    assert "Innlagt på BUP" in login(clinical_admin).get(url).content.decode()


def test_admin_list_and_change_pages_that_show_a_child_write_the_access_log(login, admin_user, child_a, case_with_skipped_step):
    client = login(admin_user)
    client.get(_list_url(Child))
    assert AccessLog.objects.filter(user=admin_user, child=child_a, action=AccessAction.VIEW_LIST).count() == 1
    client.get(_list_url(Case))
    assert AccessLog.objects.filter(user=admin_user, child=child_a, action=AccessAction.VIEW_LIST).count() == 2
    client.get(_change_url(case_with_skipped_step))
    client.get(_change_url(child_a))
    assert AccessLog.objects.filter(user=admin_user, child=child_a, action=AccessAction.VIEW_RECORD).count() == 2


def test_the_admin_history_page_of_a_child_writes_the_access_log(login, admin_user, child_a):
    login(admin_user).get(reverse("admin:helsestasjon_child_history", args=[child_a.pk]))
    assert AccessLog.objects.filter(user=admin_user, child=child_a, action=AccessAction.VIEW_RECORD).count() == 1


def test_no_admin_lists_filters_or_searches_on_where_a_person_lives():
    from django.contrib import admin

    from helsestasjon.admin import REFUSED_LOOKUP_PARTS

    for model, model_admin in admin.site._registry.items():
        named = [*model_admin.list_filter, *model_admin.search_fields, *model_admin.list_display]
        parts = {part.lstrip("^=@") for name in named if isinstance(name, str) for part in name.split("__")}
        assert not parts & REFUSED_LOOKUP_PARTS - {"address_protection"}, model
        assert "address_protection" not in {*model_admin.list_filter, *model_admin.search_fields}, model
        if hasattr(model, "address_protection"):
            assert model_admin.lookup_allowed("street_address__startswith", "S") is False, model
