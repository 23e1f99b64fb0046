"""The register worklist: who sees which findings, and each finding's action."""

from __future__ import annotations

import json
from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from attendance.models import Consultation, ConsultationState
from helsestasjon.models import AddressProtection, Child, ChildStatus, Guardian, Guardianship
from registry_sync.models import Finding, FindingKind, FindingStatus, SyncError
from registry_sync.runs import register_sync
from tests.factories import ChildFactory, next_national_id

pytestmark = pytest.mark.django_db
URL = reverse("registry_sync:worklist")


@pytest.fixture
def newborn(register, station_a):
    """A newborn in the register whose mother is known, after the first sync: an open finding."""
    mother = next_national_id()
    register.add_person(nin=mother, given_name="Mona", family_name="Mor", birth_date="1991-02-02", municipality="4601",
                        street="Storgata", house_number=3, postal_code="5003", city="Bergen", phone="41112222")
    register.birth(nin=next_national_id(), given_name="Lille", family_name="Mor", birth_date=date.today() - timedelta(days=1),
                   mother=mother, municipality="4601", street="Storgata", house_number=3, postal_code="5003", city="Bergen")
    register_sync()
    return Finding.objects.get(kind=FindingKind.UNREGISTERED_RESIDENT)


def test_clerk_sees_open_findings_after_the_first_sync(newborn, clerk_a, login):
    response = login(clerk_a).get(URL)
    assert response.status_code == 200
    assert "Lille Mor" in response.content.decode() and "Opprett journal" in response.content.decode()


def test_nurse_has_no_worklist_and_another_station_sees_nothing(newborn, nurse_a, nurse_b, login, station_b):
    from tests.factories import UserFactory

    assert login(nurse_a).get(URL).status_code == 403
    clerk_b = UserFactory(role="clerk", stations=[station_b])
    assert "Lille Mor" not in login(clerk_b).get(URL).content.decode()
    url = reverse("registry_sync:create_journal", args=[newborn.pk])
    assert login(clerk_b).post(url).status_code == 404


def test_creating_the_journal_plans_the_programme_with_the_home_visit(newborn, clerk_a, login):
    response = login(clerk_a).post(reverse("registry_sync:create_journal", args=[newborn.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Journal opprettet" in response.content.decode()
    child = Child.objects.get(national_id=newborn.national_id)
    assert child.station == newborn.station and str(child.register_person_id) == newborn.register_person_id
    assert Consultation.objects.filter(child=child, step__code="HV").exclude(state=ConsultationState.NOT_APPLICABLE).exists()
    mother = Guardianship.objects.get(child=child)
    assert (mother.guardian.given_name, mother.guardian.mobile, mother.parental_responsibility) == ("Mona", "41112222", True)
    newborn.refresh_from_db()
    assert (newborn.status, newborn.resolved_by, newborn.child) == (FindingStatus.RESOLVED, clerk_a, child)
    # The next sync knows the child: nothing new.
    register_sync()
    assert Finding.objects.count() == 1


def test_marking_reviewed_needs_a_comment(newborn, leader_a, login):
    client = login(leader_a)
    url = reverse("registry_sync:resolve", args=[newborn.pk])
    response = client.post(url, {"resolution": "reviewed", "comment": ""}, follow=True)
    assert "Skriv en kommentar" in response.content.decode()
    client.post(url, {"resolution": "reviewed", "comment": "Familien flytter til Oslo neste uke."})
    newborn.refresh_from_db()
    assert (newborn.resolution, newborn.comment) == ("reviewed", "Familien flytter til Oslo neste uke.")


@pytest.fixture
def districts(station_a, station_b):
    """Station A serves urban district 460103, station B 460107 (both in Bergen, 4601)."""
    station_a.urban_district_codes = ["460103"]
    station_a.save()
    station_b.urban_district_codes = ["460107"]
    station_b.save()


@pytest.mark.usefixtures("districts")
def test_move_to_the_other_station(register, family, station_a, station_b, clerk_a, nurse_a, login, django_capture_on_commit_callbacks):
    from followup.models import SmsMessage
    from followup.sms.backends import MemoryBackend
    from tests.registry_sync.support import book_future

    child = ChildFactory(station=station_a, urban_district_code="460103", birth_date=date.today() - timedelta(days=200))
    pid = family(child)
    register_sync()
    booked = book_future(child, nurse_a)
    MemoryBackend.outbox.clear()
    register.move(pid, municipality="4601", urban_district="460107", street="Fanavegen", house_number=1, postal_code="5221", city="Bergen")
    register_sync()
    finding = Finding.objects.get(kind=FindingKind.MOVED_WITHIN, status=FindingStatus.OPEN)
    assert "Flytt til Helsestasjon B" in login(clerk_a).get(URL).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        login(clerk_a).post(reverse("registry_sync:move_station", args=[finding.pk]))
    child.refresh_from_db()
    assert child.station == station_b
    # Both parents are told by SMS that the booked time at station A is gone, without
    # naming where the child now belongs (the new station invites them itself).
    parents = sorted(Guardian.objects.filter(guardianships__child=child).values_list("mobile", flat=True))
    assert sorted(m["to"] for m in MemoryBackend.outbox) == parents and len(parents) == 2
    for text in SmsMessage.objects.filter(cancellation_notice__appointment=booked).values_list("text", flat=True):
        assert "Helsestasjon A" in text and "er avlyst fordi barnet nå hører til en annen helsestasjon" in text
        assert "Helsestasjon B" not in text and "Fanavegen" not in text
    MemoryBackend.outbox.clear()


@pytest.mark.usefixtures("districts")
def test_moving_station_takes_the_open_case_and_unsent_letters_and_cancels_booked_times(
        register, family, station_a, station_b, clerk_a, nurse_a, login):
    from attendance.models import AppointmentStatus, OutcomeEvent
    from followup.letters.models import Letter, LetterState
    from followup.models import Case
    from followup.sweep import followup_sweep
    from tests.factories import AppointmentFactory, ConsultationFactory, OutcomeEventFactory
    from tests.registry_sync.support import book_future

    child = ChildFactory(station=station_a, urban_district_code="460103", birth_date=date.today() - timedelta(days=200))
    pid = family(child)
    register_sync()
    # Not brought last week: an open case at station A; a letter waiting; a time booked in ten days.
    missed = AppointmentFactory(consultation=ConsultationFactory(child=child), professional=nurse_a,
                                starts_at=timezone.now() - timedelta(days=7))
    OutcomeEventFactory(appointment=missed, outcome="not_brought", recorded_at=timezone.now() - timedelta(days=7))
    followup_sweep()
    case = Case.objects.get(child=child)
    assert case.station == station_a
    guardian = Guardian.objects.filter(guardianships__child=child).first()
    letter = Letter.objects.create(kind="new_invitation", child=child, station=station_a, recipient=guardian,
                                   recipient_name=guardian.full_name)
    booked = book_future(child, nurse_a)
    # The same sync brings a possible placement: the alert must reach the new station's nurses.
    register.set_responsibility(pid, organisation="Bergen kommune, barneverntjenesten")

    register.move(pid, municipality="4601", urban_district="460107", street="Fanavegen", house_number=1, postal_code="5221", city="Bergen")
    register_sync()
    finding = Finding.objects.get(kind=FindingKind.MOVED_WITHIN, status=FindingStatus.OPEN)
    response = login(clerk_a).post(reverse("registry_sync:move_station", args=[finding.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    # A double click: the finding is already handled, nothing happens twice.
    again = login(clerk_a).post(reverse("registry_sync:move_station", args=[finding.pk]), HTTP_HX_REQUEST="true")
    assert "allerede behandlet" in again.content.decode()

    child.refresh_from_db()
    case.refresh_from_db()
    letter.refresh_from_db()
    booked.refresh_from_db()
    assert child.station == station_b
    assert case.station == station_b and case.is_open
    assert (letter.station, letter.state) == (station_b, LetterState.PENDING)
    assert booked.status == AppointmentStatus.CANCELLED_BY_SERVICE
    assert case.log.filter(kind="moved_station", text="Fra Helsestasjon A til Helsestasjon B", by=clerk_a).exists()
    alert = Finding.objects.get(kind=FindingKind.GUARDIANS_CHANGED)
    assert alert.station == station_b and alert.is_open
    assert Finding.objects.get(pk=finding.pk).station == station_a  # Handled there; stays there.
    assert OutcomeEvent.objects.get(appointment=booked).note == "Flyttet til Helsestasjon B"
    # The child welfare service holds parental responsibility now: no parent is sent the
    # SMS about the cancelled time (test_move_to_the_other_station covers the parents).
    from followup.models import SmsMessage

    assert not SmsMessage.objects.filter(cancellation_notice__appointment=booked).exists()
    assert Finding.objects.get(pk=finding.pk).comment == "Flyttet til Helsestasjon B. 1 bestilt(e) time(r) avlyst; 0 SMS til foresatte."
    # The consultation is due again and waits on the new station's booking worklist, not the old one's.
    clerk_b = __import__("tests.factories", fromlist=["UserFactory"]).UserFactory(role="clerk", stations=[station_b])
    assert child.list_name in login(clerk_b).get(reverse("attendance:booking_worklist")).content.decode()
    assert child.full_name not in login(clerk_a).get(reverse("attendance:booking_worklist")).content.decode()


def _synced_newborn(register, given_name: str, street: str, protection: str) -> None:
    """A child of 90 days the register knows and the journal does not, with a protected address, synced."""
    register.add_person(nin=next_national_id(), given_name=given_name, family_name="Barn", birth_date=date.today() - timedelta(days=90),
                        municipality="4601", street=street, house_number=9, postal_code="5003", city="Bergen", protection=protection)
    register_sync()


def test_protected_address_follows_the_permission(register, station_a, clerk_a, leader_a, login):
    _synced_newborn(register, "Vernet", "Hemmeligveien", AddressProtection.CONFIDENTIAL)
    clerk_page = login(clerk_a).get(URL).content.decode()
    assert "Vernet Barn" in clerk_page and "Hemmeligveien" not in clerk_page
    assert "Hemmeligveien" in login(leader_a).get(URL).content.decode()


def test_strictly_confidential_address_is_never_shown(register, station_a, leader_a, login):
    _synced_newborn(register, "Skjult", "Skjultveien", AddressProtection.STRICTLY_CONFIDENTIAL)
    page = login(leader_a).get(URL).content.decode()
    assert "Skjult Barn" in page and "Skjultveien" not in page


def test_leader_sees_sync_errors(register, station_a, leader_a, clerk_a, login):
    SyncError.objects.create(run="events", message="RegisterProtocolError: the answer is not valid JSON")
    assert "feiler" in login(leader_a).get(URL).content.decode()
    assert "feiler" not in login(clerk_a).get(URL).content.decode()


def test_worklist_queries_do_not_grow_with_findings(register, station_a, clerk_a, login, django_assert_max_num_queries):
    with register.bulk():
        for i in range(30):
            register.add_person(nin=next_national_id(), given_name=f"B{i}", family_name="Ny", birth_date=date.today() - timedelta(days=i + 1),
                                municipality="4601", street="Gata", house_number=i + 1, postal_code="5003", city="Bergen")
    register_sync()
    client = login(clerk_a)
    with django_assert_max_num_queries(12):
        assert client.get(URL).status_code == 200


def test_register_findings_prints_json(newborn):
    out = StringIO()
    call_command("register_findings", "--format", "json", stdout=out)
    rows = json.loads(out.getvalue())
    assert [(r["national_id"], r["kind"]) for r in rows] == [(newborn.national_id, "unregistered_resident")]
    assert rows[0]["detected_at"]


def test_sync_register_command_runs_the_same_code(register, station_a):
    register.add_person(nin=next_national_id(), given_name="Ny", family_name="Født", birth_date=date.today(),
                        municipality="4601", street="Gata", house_number=1, postal_code="5003", city="Bergen")
    out = StringIO()
    call_command("sync_register", "--full", stdout=out)
    assert "1 nye funn" in out.getvalue()
    call_command("sync_register", stdout=out)
    assert Finding.objects.count() == 1


@pytest.mark.usefixtures("districts")
def test_a_child_who_is_no_longer_active_is_not_moved(register, family, station_a, station_b, clerk_a, login):
    child = ChildFactory(station=station_a, urban_district_code="460103")
    pid = family(child)
    register_sync()
    register.move(pid, municipality="4601", urban_district="460107", street="Fanavegen", house_number=1, postal_code="5221", city="Bergen")
    register_sync()
    finding = Finding.objects.get(kind=FindingKind.MOVED_WITHIN, status=FindingStatus.OPEN)
    Child.objects.filter(pk=child.pk).update(status=ChildStatus.EMIGRATED)
    page = login(clerk_a).post(reverse("registry_sync:move_station", args=[finding.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "ikke aktivt i programmet" in page
    child.refresh_from_db()
    finding.refresh_from_db()
    assert child.station == station_a and finding.is_open  # Nothing half done.
