"""The nurses' alerts: a death, an annulled death or a change of parental responsibility found by
the register sync is shown to the nurses of the child's station until one of them marks it seen."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from helsestasjon.models import AccessAction, AccessLog, AddressProtection
from registry_sync.models import Finding, FindingKind
from registry_sync.runs import register_sync
from tests.factories import ChildFactory, UserFactory

pytestmark = pytest.mark.django_db
ALERTS = reverse("registry_sync:alerts")


@pytest.fixture
def synced(synced_child):
    return synced_child(given_name="Vilja", family_name="Varsel", birth_date=timezone.localdate() - timedelta(days=300))


def seen_url(finding) -> str:
    return reverse("registry_sync:alert_seen", args=[finding.pk])


def test_a_death_is_shown_to_the_stations_nurses_until_one_marks_it_seen(synced, register, nurse_a, station_a, login):
    register.die(synced.person_id, when=date.today() - timedelta(days=1))
    register_sync()
    finding = Finding.objects.get(kind=FindingKind.DECEASED)
    colleague = UserFactory(role="nurse", stations=[station_a], first_name="Kari", last_name="Kollega")

    page = login(nurse_a).get(reverse("attendance:day")).content.decode()
    assert 'aria-label="1 nye varsler"' in page  # The menu's badge on the nurse's day.
    page = login(nurse_a).get(ALERTS).content.decode()
    assert "Varsel, Vilja" in page and "Alle fremtidige timer, brev og SMS er stoppet" in page and "Marker som sett" in page

    response = login(colleague).post(seen_url(finding), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Sett " in response.content.decode() and "Kari Kollega" in response.content.decode()
    finding.refresh_from_db()
    assert finding.alert_seen_by == colleague and finding.alert_seen_at is not None
    # The clerk's handling of the finding is a separate matter: it is still open on the worklist.
    assert finding.is_open

    # A second click (or nurse_a at the same moment) changes nothing and says who saw it.
    seen_at = finding.alert_seen_at
    again = login(nurse_a).post(seen_url(finding), HTTP_HX_REQUEST="true").content.decode()
    assert "Allerede markert som sett av Kari Kollega" in again
    finding.refresh_from_db()
    assert (finding.alert_seen_by, finding.alert_seen_at) == (colleague, seen_at)

    page = login(nurse_a).get(reverse("attendance:day")).content.decode()
    assert "nye varsler" not in page
    page = login(nurse_a).get(ALERTS).content.decode()
    assert "Ingen nye varsler." in page and "Varsel, Vilja" in page  # Listed under "seen".


def test_a_placement_is_flagged_and_other_stations_and_clerks_see_nothing(synced, register, nurse_a, nurse_b, clerk_a, login):
    register.set_responsibility(synced.person_id, organisation="Bergen kommune, barneverntjenesten")
    register_sync()
    finding = Finding.objects.get(kind=FindingKind.GUARDIANS_CHANGED)
    page = login(nurse_a).get(ALERTS).content.decode()
    assert "Mulig barnevernsplassering" in page and "Varsel, Vilja" in page
    assert "Bergen kommune, barneverntjenesten" in page  # The organisation's name as the register writes it.

    assert "Varsel, Vilja" not in login(nurse_b).get(ALERTS).content.decode()
    assert login(nurse_b).post(seen_url(finding)).status_code == 404
    assert login(clerk_a).get(ALERTS).status_code == 403
    assert login(clerk_a).post(seen_url(finding)).status_code == 403
    finding.refresh_from_db()
    assert finding.alert_seen_at is None


def test_the_leader_reads_the_alerts_but_only_a_nurse_marks_them_seen(synced, register, leader_a, login):
    register.die(synced.person_id)
    register_sync()
    finding = Finding.objects.get(kind=FindingKind.DECEASED)
    page = login(leader_a).get(ALERTS).content.decode()
    assert "Varsel, Vilja" in page and "Ikke sett av helsesykepleier ennå" in page and "Marker som sett" not in page
    assert login(leader_a).post(seen_url(finding)).status_code == 403
    finding.refresh_from_db()
    assert finding.alert_seen_at is None


def test_the_alerts_page_writes_the_access_log(synced, register, nurse_a, login):
    register.die(synced.person_id)
    register_sync()
    login(nurse_a).get(ALERTS)
    logged = AccessLog.objects.get(user=nurse_a, child=synced)
    assert (logged.action, logged.path) == (AccessAction.VIEW_LIST, ALERTS)


def test_findings_that_are_not_alerts_cannot_be_marked_and_are_not_listed(synced, register, nurse_a, login):
    register.rename(synced.person_id, given_name="Vera")
    register_sync()
    finding = Finding.objects.get(kind=FindingKind.NAME_CHANGED)
    assert login(nurse_a).post(seen_url(finding)).status_code == 404
    assert "Vera" not in login(nurse_a).get(ALERTS).content.decode()


def test_an_alert_never_shows_an_address(synced, register, nurse_a, leader_a, login):
    register.set_protection(synced.person_id, AddressProtection.STRICTLY_CONFIDENTIAL)
    register_sync()
    register.die(synced.person_id)
    register_sync()
    assert Finding.objects.filter(kind=FindingKind.DECEASED).exists()
    for user in (nurse_a, leader_a):
        page = login(user).get(ALERTS).content.decode()
        assert "Varsel, Vilja" in page and "Barneveien" not in page


def test_the_menus_hand_written_count_agrees_with_the_queryset(station_a, station_b, nurse_a):
    from registry_sync.context_processors import _unseen_count

    def finding(kind, station, n, **extra):
        child = ChildFactory(station=station)
        return Finding.objects.create(kind=kind, national_id=child.national_id, child=child, station=station,
                                      subject=f"s{n}", fingerprint="f", name=child.full_name, **extra)

    finding("deceased", station_a, 1)
    finding("guardians_changed", station_a, 2)
    finding("death_annulled", station_a, 3, alert_seen_at=timezone.now(), alert_seen_by=nurse_a)  # Seen.
    finding("name_changed", station_a, 4)  # Not an alert.
    finding("deceased", station_b, 5)  # Another station.
    Finding.objects.create(kind="deceased", national_id="x", station=station_a, subject="s6", fingerprint="f")  # No journal.
    expected = Finding.objects.for_user(nurse_a).unseen_alerts().count()
    assert expected == 2 and _unseen_count(nurse_a.station_ids()) == expected
    assert _unseen_count([]) == 0


def test_findings_from_before_the_alerts_existed_count_as_seen(station_a):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("registry_sync.migrations.0003_finding_nurse_alerts")
    child = ChildFactory(station=station_a)
    old = Finding.objects.create(kind="deceased", national_id=child.national_id, child=child, station=station_a,
                                 subject="old", fingerprint="f", detected_at=timezone.now() - timedelta(days=90))
    other = Finding.objects.create(kind="name_changed", national_id=child.national_id, child=child, station=station_a,
                                   subject="old", fingerprint="g")
    migration.existing_alerts_seen(apps, None)
    old.refresh_from_db()
    other.refresh_from_db()
    assert old.alert_seen_at == old.detected_at and old.alert_seen_by is None
    assert other.alert_seen_at is None


def test_the_guardian_who_no_longer_has_parental_responsibility_is_named(synced, register, nurse_a, login):
    mother, father = (g.guardian for g in synced.guardianships.select_related("guardian").order_by("relation").reverse())
    register.set_responsibility(synced.person_id, responsible=[(mother.national_id, "Joint")])
    register_sync()
    assert Finding.objects.filter(kind=FindingKind.GUARDIANS_CHANGED).exists()
    page = login(nurse_a).get(ALERTS).content.decode()
    assert f"{father.full_name} har ikke lenger foreldreansvar" in page
    assert "1 har ikke lenger foreldreansvar" not in page


def test_an_emigration_names_the_country_in_norwegian(synced, register, clerk_a, login):
    register.emigrate(synced.person_id, country="SWE")
    register_sync()
    assert Finding.objects.filter(kind=FindingKind.EMIGRATED).exists()
    page = login(clerk_a).get(reverse("registry_sync:worklist")).content.decode()
    assert "Utvandret til Sverige." in page and "SWE" not in page


def test_a_country_without_a_norwegian_name_here_is_shown_by_its_code():
    from registry_sync.finding_text import country_name

    assert (country_name("POL"), country_name("gbr"), country_name("BTN"), country_name(None)) == (
        "Polen", "Storbritannia", "BTN", "ukjent land",
    )
