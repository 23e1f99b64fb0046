"""Event sync against the fake register over real HTTP: every finding kind and its effect."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from attendance.models import AppointmentStatus
from helsestasjon.models import AddressProtection, ChildStatus, Guardian, Guardianship
from registry_sync.models import Finding, FindingKind, FindingStatus, NationalIdAlias, SyncCursor
from registry_sync.runs import register_full_reconciliation, register_sync
from tests.registry_sync.support import book_future, kinds
from tests.factories import ChildFactory, next_national_id

pytestmark = pytest.mark.django_db


def test_first_sync_links_the_journal_and_finds_nothing_when_they_agree(synced):
    synced.refresh_from_db()
    assert str(synced.register_person_id) == synced.person_id
    assert Finding.objects.count() == 0


def test_death_cancels_future_appointments_and_stops_the_child(synced, register, nurse_a):
    appointment = book_future(synced, nurse_a)
    register.die(synced.person_id, when=date.today() - timedelta(days=1))
    register_sync()
    synced.refresh_from_db()
    appointment.refresh_from_db()
    assert synced.status == ChildStatus.DECEASED
    assert appointment.status == AppointmentStatus.CANCELLED_BY_SERVICE
    finding = Finding.objects.get(kind=FindingKind.DECEASED)
    assert finding.is_open and finding.snapshot["id"] == synced.person_id  # Stored with the register's snapshot.


def test_death_stops_letters_that_have_not_gone_out(synced, register):
    from followup.letters.models import Letter, LetterState

    guardian = Guardian.objects.filter(guardianships__child=synced).first()
    letter = Letter.objects.create(kind="new_invitation", child=synced, station=synced.station, recipient=guardian,
                                   recipient_name=guardian.full_name)
    register.die(synced.person_id)
    register_sync()
    letter.refresh_from_db()
    assert letter.state == LetterState.CANCELLED


def test_death_annulled_reactivates_the_child(synced, register):
    register.die(synced.person_id)
    register_sync()
    register.annul_death(synced.person_id)
    register_sync()
    synced.refresh_from_db()
    assert synced.status == ChildStatus.ACTIVE
    assert kinds() == ["death_annulled", "deceased"]


def test_moved_out_stops_the_child_and_asks_for_a_transfer(synced, register, nurse_a):
    appointment = book_future(synced, nurse_a)
    register.move(synced.person_id, municipality="0301", urban_district="030102", street="Thorvald Meyers gate",
                  house_number=5, postal_code="0555", city="Oslo")
    register_sync()
    synced.refresh_from_db()
    appointment.refresh_from_db()
    assert synced.status == ChildStatus.MOVED
    assert appointment.status == AppointmentStatus.CANCELLED_BY_SERVICE
    assert kinds(status=FindingStatus.OPEN) == ["moved_out"]


def test_moved_within_updates_the_address_silently(synced, register):
    register.move(synced.person_id, municipality="4601", urban_district="460103", street="Nygårdsgaten", house_number=7,
                  postal_code="5015", city="Bergen")
    register_sync()
    synced.refresh_from_db()
    assert synced.street_address == "Nygårdsgaten 7"
    assert kinds(status=FindingStatus.RESOLVED) == ["moved_within"]


def test_moved_to_another_district_offers_the_other_station(synced, register, station_b):
    station_b.urban_district_codes = ["460107"]
    station_b.save()
    register.move(synced.person_id, municipality="4601", urban_district="460107", street="Fanavegen", house_number=3,
                  postal_code="5221", city="Bergen")
    register_sync()
    finding = Finding.objects.get(kind=FindingKind.MOVED_WITHIN)
    assert finding.is_open and finding.details["target_station_id"] == station_b.pk
    synced.refresh_from_db()
    assert synced.urban_district_code == "460107" and synced.station_id != station_b.pk


def test_address_corrected_without_a_move(synced, register):
    register.correct_address(synced.person_id, street="Barnevegen", house_number=2)
    register_sync()
    synced.refresh_from_db()
    assert synced.street_address == "Barnevegen 2"
    assert kinds(status=FindingStatus.RESOLVED) == ["address_corrected"]


def test_emigrated_closes_but_keeps_the_journal(synced, register):
    register.emigrate(synced.person_id, country="SWE")
    register_sync()
    synced.refresh_from_db()
    assert synced.status == ChildStatus.EMIGRATED
    assert kinds() == ["emigrated"]


def test_protection_changed_takes_effect_at_once(synced, register):
    register.set_protection(synced.person_id, AddressProtection.STRICTLY_CONFIDENTIAL)
    register_sync()
    synced.refresh_from_db()
    assert synced.address_protection == AddressProtection.STRICTLY_CONFIDENTIAL
    assert synced.street_address == ""  # Never kept, never printed.
    assert synced.status == ChildStatus.ACTIVE  # A missing address is not a move.
    assert kinds() == ["protection_changed"]


def test_strictly_confidential_child_without_address_is_never_moved_out(register, family, station_a):
    child = ChildFactory(station=station_a, address_protection=AddressProtection.STRICTLY_CONFIDENTIAL,
                         street_address="", postal_code="", city="")
    pid = family(child, protection=AddressProtection.STRICTLY_CONFIDENTIAL)
    assert register.documents([pid])[0].find(b'"residentialAddress":[]') > 0
    register_sync()
    register.rename(pid, given_name="Nytt")
    register_sync()
    child.refresh_from_db()
    assert child.status == ChildStatus.ACTIVE
    assert "moved_out" not in kinds()


def test_guardians_changed_to_child_welfare_updates_who_gets_letters(synced, register):
    register.set_responsibility(synced.person_id, organisation="Bergen kommune, barneverntjenesten")
    register_sync()
    with_responsibility = Guardianship.objects.filter(child=synced, parental_responsibility=True).select_related("guardian")
    assert [g.guardian.family_name for g in with_responsibility] == ["Bergen kommune, barneverntjenesten"]
    finding = Finding.objects.get(kind=FindingKind.GUARDIANS_CHANGED)
    assert finding.is_open and finding.details["placement"] is True


def test_new_guardian_is_fetched_from_the_register(synced, register):
    new = next_national_id()
    register.add_person(nin=new, given_name="Stine", family_name="Steg", birth_date="1988-03-03", municipality="4601",
                        street="Storgata", house_number=1, postal_code="5003", city="Bergen", phone="41234567", language="pl")
    register.set_responsibility(synced.person_id, responsible=[(new, "Other")])
    register_sync()
    guardian = Guardian.objects.get(national_id=new)
    assert (guardian.given_name, guardian.mobile, guardian.preferred_language) == ("Stine", "41234567", "pl")
    assert Guardianship.objects.get(child=synced, guardian=guardian).parental_responsibility
    assert Guardianship.objects.filter(child=synced, parental_responsibility=True).count() == 1


def test_id_changed_rekeys_the_journal_and_keeps_the_old_number(synced, register):
    old = synced.national_id
    new = next_national_id()
    register.change_id(synced.person_id, new)
    register_sync()
    synced.refresh_from_db()
    assert synced.national_id == new
    assert NationalIdAlias.objects.get(child=synced).national_id == old
    assert kinds() == ["id_changed"]


def test_name_changed(synced, register):
    register.rename(synced.person_id, family_name="Solberg")
    register_sync()
    synced.refresh_from_db()
    assert synced.family_name == "Solberg"
    assert kinds(status=FindingStatus.RESOLVED) == ["name_changed"]


def test_other_status_goes_to_manual_review(synced, register):
    register.set_status(synced.person_id, "Disappeared")
    register_sync()
    synced.refresh_from_db()
    assert synced.status == ChildStatus.ACTIVE
    finding = Finding.objects.get()
    assert (finding.kind, finding.is_open, finding.details["status"]) == ("other_status", True, "Disappeared")


def test_newborn_in_the_municipality_becomes_an_unregistered_resident(synced, register, station_a):
    mother = Guardian.objects.filter(guardianships__child=synced).first()
    register.birth(nin=next_national_id(), given_name="Ny", family_name="Født", birth_date=date.today() - timedelta(days=2),
                   mother=mother.national_id, municipality="4601", urban_district="460103", street="Barneveien",
                   house_number=2, postal_code="5003", city="Bergen")
    register_sync()
    finding = Finding.objects.get(kind=FindingKind.UNREGISTERED_RESIDENT)
    assert (finding.station, finding.name, finding.child) == (station_a, "Ny Født", None)


def test_unknown_event_type_is_skipped_and_the_cursor_moves(synced, register):
    register.touch(synced.person_id, "PersonGotAPet")
    result = register_sync()
    assert result.skipped_events == 1
    assert SyncCursor.objects.get().last_sequence == register.latest_event()[0]
    assert Finding.objects.count() == 0


def test_sequence_number_is_inclusive_and_each_event_is_read_once(synced, register, monkeypatch):
    asked = []
    from registry_sync.client import RegisterClient

    real = RegisterClient.events

    def spy(self, sequence_number):
        asked.append(sequence_number)
        return real(self, sequence_number)

    monkeypatch.setattr(RegisterClient, "events", spy)
    before = SyncCursor.objects.get().last_sequence
    register.rename(synced.person_id, family_name="En")
    result = register_sync()
    assert asked == [before + 1]
    assert result.events == 1


def test_paging_past_a_thousand_events_and_a_hundred_persons(register, family, station_a):
    children = [ChildFactory(station=station_a) for _ in range(130)]
    ids = [family(c, with_guardians=False) for c in children]
    register_sync()  # First run: full reconciliation.
    with register.bulk():
        for round_ in range(8):
            for pid in ids:
                register.rename(pid, given_name=f"Navn{round_}")
    result = register_sync()
    assert result.events == 8 * 130 and result.pages == 2
    assert result.persons >= 130
    assert {c.given_name for c in type(children[0]).objects.filter(pk__in=[c.pk for c in children])} == {"Navn7"}


def test_a_page_served_twice_changes_nothing(synced, register):
    register.die(synced.person_id)
    register.rename(synced.person_id, family_name="Etter")
    register_sync()
    state = (list(Finding.objects.values_list("id", "kind", "status")), synced.__class__.objects.filter(pk=synced.pk).values()[0])
    # The register serves the same page again (e.g. our commit was acknowledged late).
    SyncCursor.objects.update(last_sequence=SyncCursor.objects.get().last_sequence - 3)
    register_sync()
    assert (list(Finding.objects.values_list("id", "kind", "status")), synced.__class__.objects.filter(pk=synced.pk).values()[0]) == state


def test_a_crash_between_fetch_and_commit_loses_nothing(synced, register):
    """The batch is written, then the process dies as the cursor is saved (a fault injected at the
    database connection): nothing of it stays, and the next run applies it."""
    before = SyncCursor.objects.get().last_sequence
    register.die(synced.person_id)
    written = []

    def crash_at_the_cursor(execute, sql, params, many, context):
        written.append(sql)
        if sql.startswith('UPDATE "registry_sync_synccursor"'):
            raise RuntimeError("worker killed")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(crash_at_the_cursor), pytest.raises(RuntimeError):
        register_sync()
    assert any("registry_sync_finding" in sql and sql.startswith("INSERT") for sql in written)  # Written, then lost.
    synced.refresh_from_db()
    assert (SyncCursor.objects.get().last_sequence, synced.status, Finding.objects.count()) == (before, ChildStatus.ACTIVE, 0)
    register_sync()
    synced.refresh_from_db()
    assert synced.status == ChildStatus.DECEASED and kinds() == ["deceased"]


def test_sequence_going_backwards_starts_a_full_reconciliation(synced, register):
    with register.bulk():
        for i in range(5):
            register.rename(synced.person_id, given_name=f"N{i}")
    register_sync()
    register.respool()
    assert register.latest_event()[0] < SyncCursor.objects.get().last_sequence
    register.die(synced.person_id)
    result = register_sync()
    assert result.full
    assert SyncCursor.objects.get().last_sequence == register.latest_event()[0]
    assert kinds() == ["deceased", "name_changed"]


def test_journal_child_unknown_to_the_register(register, station_a):
    ChildFactory(station=station_a)
    register.add_person(nin=next_national_id(), given_name="Annen", family_name="Person", birth_date="1980-01-01")
    register_sync()
    assert kinds() == ["unknown_to_register"]


def test_aged_out_child_is_closed_for_the_programme(register, family, station_a):
    old = ChildFactory(station=station_a, birth_date=timezone.localdate() - timedelta(days=6 * 366))
    family(old, with_guardians=False)
    register_sync()
    old.refresh_from_db()
    assert old.status == ChildStatus.AGED_OUT
    assert kinds(status=FindingStatus.RESOLVED) == ["aged_out"]


def test_guardian_contact_register_change_updates_the_mobile(synced, register):
    guardian = Guardian.objects.filter(guardianships__child=synced).first()
    register.set_contact(register.person_id_for(guardian.national_id), phone="47000001", language="uk", reserved=True)
    register_sync()
    guardian.refresh_from_db()
    assert (guardian.mobile, guardian.preferred_language, guardian.sms_reserved) == ("47000001", "uk", True)


def test_the_full_reconciliation_refreshes_an_existing_guardians_mobile_and_mailbox(synced, register):
    mother, father = Guardian.objects.filter(guardianships__child=synced).order_by("pk")
    # The first full run found the journal's guardians by national id and linked them to the register.
    assert mother.register_person_id == register.person_id_for(mother.national_id)
    register.set_contact(mother.register_person_id, phone="47000002", digital_post="digipost")
    register.set_contact(register.person_id_for(father.national_id), phone="47000003", reserved=True)
    register_full_reconciliation()
    mother.refresh_from_db()
    father.refresh_from_db()
    assert (mother.mobile, mother.digital_mailbox, mother.krr_reserved) == ("47000002", "digipost", False)
    assert (father.mobile, father.digital_mailbox, father.krr_reserved, father.sms_reserved) == ("47000003", "", True, True)


def test_the_event_sync_refreshes_a_guardians_mailbox(synced, register):
    guardian = Guardian.objects.filter(guardianships__child=synced).first()
    register.set_contact(register.person_id_for(guardian.national_id), phone="47000004", digital_post="eboks")
    register_sync()
    guardian.refresh_from_db()
    assert (guardian.mobile, guardian.digital_mailbox) == ("47000004", "eboks")


def _planner_cost() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW random_page_cost")
        return cursor.fetchone()[0]


@pytest.mark.parametrize("fails", [False, True])
def test_the_sync_prices_cached_reads_for_its_own_lookups_only(synced, register, fails):
    """During a sync the planner uses the indexes for a batch's lookups
    (random_page_cost 1.1); afterwards, even after a failed run (the register's
    answer cannot be read), the connection has its own value back."""
    from registry_sync.runs import SyncFailed

    with connection.cursor() as cursor:
        cursor.execute("SET random_page_cost = 3.5")
    seen = []

    def planner_at_the_lookups(execute, sql, params, many, context):
        if sql.startswith("SELECT") and ('FROM "helsestasjon_child"' in sql or 'FROM "registry_sync_synccursor"' in sql):
            seen.append(_planner_cost())
        return execute(sql, params, many, context)

    register.rename(synced.person_id, given_name="Ny")
    if fails:
        register.faults.add("garbage", path="bulk-by-id")
    with connection.execute_wrapper(planner_at_the_lookups):
        if fails:
            with pytest.raises(SyncFailed):
                register_sync()
        else:
            register_sync()
    if not fails:
        assert kinds() == ["name_changed"]
        assert len(seen) >= 2  # The cursor and the journal's children.
    assert seen and set(seen) == {"1.1"}
    assert _planner_cost() == "3.5"


def test_a_full_run_compares_the_children_the_search_no_longer_finds(register, family, station_a):
    """A weekly full run: the municipality search finds the resident child; the child
    who moved out and the one who died are found only through the journal, and are
    compared with the register like every other (no false "unknown to the register")."""
    from registry_sync.runs import register_full_reconciliation

    born = timezone.localdate() - timedelta(days=300)
    stay, gone, dead = (ChildFactory(station=station_a, birth_date=born) for _ in range(3))
    person = {child.pk: family(child) for child in (stay, gone, dead)}
    register_sync()  # The first run: a full reconciliation that links the journals.
    assert Finding.objects.count() == 0
    register.move(person[gone.pk], municipality="0301", urban_district="030102", street="Thorvald Meyers gate",
                  house_number=5, postal_code="0555", city="Oslo")
    register.die(person[dead.pk])
    result = register_full_reconciliation()
    assert result.persons == 3
    assert kinds(status=FindingStatus.OPEN) == ["deceased", "moved_out"]
    for child, status in ((stay, ChildStatus.ACTIVE), (gone, ChildStatus.MOVED), (dead, ChildStatus.DECEASED)):
        child.refresh_from_db()
        assert child.status == status


def test_an_event_sync_waits_for_a_running_full_reconciliation(synced, register):
    """While a full run holds the sync lock (here: another connection holds it),
    an event sync changes nothing and leaves its events for the next run."""
    import psycopg

    settings = connection.settings_dict
    other = psycopg.connect(host=settings["HOST"] or None, port=settings["PORT"] or None, user=settings["USER"],
                            password=settings["PASSWORD"] or None, dbname=settings["NAME"], autocommit=True)
    from registry_sync.run_control import SYNC_LOCK_KEY as _SYNC_LOCK_KEY

    register.die(synced.person_id)
    cursor_before = SyncCursor.objects.get().last_sequence
    try:
        assert other.execute("SELECT pg_try_advisory_lock(%s)", [_SYNC_LOCK_KEY]).fetchone()[0]
        result = register_sync()
        assert result.busy and "en annen synkronisering pågår" in str(result)
        assert SyncCursor.objects.get().last_sequence == cursor_before and not Finding.objects.exists()
        other.execute("SELECT pg_advisory_unlock(%s)", [_SYNC_LOCK_KEY])
        # The lock is free again: the next run follows the events it left.
        assert not register_sync().busy
        assert kinds() == ["deceased"]
        # And this session released it too: another connection can take it at once.
        assert other.execute("SELECT pg_try_advisory_lock(%s)", [_SYNC_LOCK_KEY]).fetchone()[0]
    finally:
        other.close()
