"""A status the register dates (a death, a move out, an emigration) carries the register's date;
the time the sync learnt of it is kept beside it (issue 21, item 2)."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from helsestasjon.models import ChildStatus
from registry_sync.models import Finding, FindingKind
from registry_sync.runs import register_full_reconciliation, register_sync

pytestmark = pytest.mark.django_db

NOTE = "Folkeregisteret oppga ingen gyldig dato; statusdatoen er satt til synkroniseringsdatoen."


def _year() -> int:
    """The latest year whose 5 November has passed (the child below is born the year before)."""
    today = timezone.localdate()
    return today.year if today >= date(today.year, 11, 5) else today.year - 1


@pytest.fixture
def child(synced_child):
    return synced_child(birth_date=date(_year() - 1, 6, 1))


@pytest.fixture
def on_5_november(monkeypatch):
    """The sync runs on 5 November at 14:30 (the clock, not the database, is set)."""
    moment = timezone.make_aware(datetime(_year(), 11, 5, 14, 30))
    monkeypatch.setattr(timezone, "now", lambda: moment)
    return moment


def local_day(moment) -> date:
    return timezone.localtime(moment).date()


def test_a_child_who_died_on_20_october_and_was_synced_on_5_november(child, register, on_5_november):
    register.die(child.person_id, when=date(_year(), 10, 20))
    register_sync()
    child.refresh_from_db()
    assert child.status == ChildStatus.DECEASED
    assert local_day(child.status_changed_at) == date(_year(), 10, 20)
    assert child.status_recorded_at == on_5_november
    finding = Finding.objects.get(kind=FindingKind.DECEASED)
    assert finding.details["status_date"] == f"{_year()}-10-20" and finding.details["status_date_from_register"] is True
    assert NOTE not in finding.describe(show_address=False)


def test_a_move_out_is_dated_by_the_move_and_an_emigration_by_its_date(synced_child, register, family, on_5_november):
    gone = synced_child(birth_date=date(_year() - 1, 6, 1))
    abroad = synced_child(birth_date=date(_year() - 1, 7, 1))
    register.move(gone.person_id, municipality="0301", urban_district="030102", street="Thorvald Meyers gate",
                  house_number=5, postal_code="0555", city="Oslo", move_date=date(_year(), 10, 1))
    register.emigrate(abroad.person_id, country="SWE", when=date(_year(), 9, 15))
    register_sync()
    for kid, status, day in ((gone, ChildStatus.MOVED, date(_year(), 10, 1)), (abroad, ChildStatus.EMIGRATED, date(_year(), 9, 15))):
        kid.refresh_from_db()
        assert (kid.status, local_day(kid.status_changed_at), kid.status_recorded_at) == (status, day, on_5_november)


def test_the_full_run_takes_the_registers_date_too(child, register, on_5_november):
    register.die(child.person_id, when=date(_year(), 10, 20))
    register_full_reconciliation()
    child.refresh_from_db()
    assert (local_day(child.status_changed_at), child.status_recorded_at) == (date(_year(), 10, 20), on_5_november)


@pytest.mark.parametrize("sent", ["", "20.10.2026", "not a date", "2999-01-01T00:00:00Z", "1900-01-01T00:00:00Z"])
def test_a_missing_malformed_or_absurd_date_falls_back_to_the_sync_and_says_so(child, register, on_5_november, login,
                                                                               clerk_a, sent):
    """No date, a date in another format, one in the future or before the child was born: the status
    is dated by the sync, the finding says so in Norwegian, and the worklist shows it (no 500)."""
    register.die(child.person_id, when=sent)
    register_sync()
    child.refresh_from_db()
    assert child.status == ChildStatus.DECEASED
    assert child.status_changed_at == child.status_recorded_at == on_5_november
    finding = Finding.objects.get(kind=FindingKind.DECEASED)
    assert finding.details["status_date"] == f"{_year()}-11-05" and finding.details["status_date_from_register"] is False
    response = login(clerk_a).get(reverse("registry_sync:worklist"))
    assert response.status_code == 200
    assert NOTE in response.content.decode()


def test_an_emigration_without_a_date_says_so(child, register, on_5_november):
    register.emigrate(child.person_id, when="")
    register_sync()
    child.refresh_from_db()
    assert (child.status, child.status_changed_at) == (ChildStatus.EMIGRATED, on_5_november)
    assert NOTE in Finding.objects.get(kind=FindingKind.EMIGRATED).describe(show_address=False)


def test_a_death_annulled_is_dated_by_the_sync(child, register, on_5_november):
    register.die(child.person_id, when=date(_year(), 10, 20))
    register_sync()
    register.annul_death(child.person_id)
    register_sync()
    child.refresh_from_db()
    assert (child.status, child.status_changed_at, child.status_recorded_at) == (ChildStatus.ACTIVE, on_5_november, on_5_november)
