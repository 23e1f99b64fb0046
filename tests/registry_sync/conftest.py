"""A fake register served over real HTTP on a free loopback port, per test, and the journal child
known to it that most sync tests start from (``synced``)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from registry_sync.client import RegisterClient
from registry_sync.fake import FakeRegister, FakeRegisterServer
from registry_sync.models import SyncCursor
from registry_sync.runs import register_sync
from tests.factories import ChildFactory, GuardianFactory, GuardianshipFactory, next_national_id


@pytest.fixture
def register(settings):
    """The fake register's data; the server runs in a thread and the settings point at it."""
    store = FakeRegister()
    server = FakeRegisterServer(store)
    server.start_in_thread()
    settings.REGISTER_BASE_URL = server.base_url
    settings.REGISTER_TIMEOUT_SECONDS = 2
    store.server = server
    yield store
    server.shutdown()
    server.server_close()


@pytest.fixture
def client_for(register):
    """A register client that does not sleep between retries (the waits are asserted instead)."""

    def make(**kwargs):
        waits = []
        defaults = dict(timeout=1, backoff_seconds=0.01, sleep=waits.append)
        client = RegisterClient(register.server.base_url, **{**defaults, **kwargs})
        client.waits = waits
        return client

    return make


def born_ago(days: int) -> date:
    return date.today() - timedelta(days=days)


@pytest.fixture
def family(register):
    """family(child) -> puts the journal child and two guardians in the register; returns the person id."""

    def make(child, *, with_guardians: bool = True, **overrides):
        responsible = []
        if with_guardians:
            for relation, kind in (("mother", "Mother"), ("father", "Father")):
                guardian = GuardianFactory(family_name=child.family_name)
                GuardianshipFactory(child=child, guardian=guardian, relation=relation)
                register.add_person(nin=guardian.national_id, given_name=guardian.given_name, family_name=guardian.family_name,
                                    birth_date="1990-05-05", municipality="4601", phone=guardian.mobile)
                responsible.append((guardian.national_id, "Joint"))
        street, _, number = child.street_address.rpartition(" ")
        values = dict(
            nin=child.national_id, given_name=child.given_name, family_name=child.family_name, birth_date=child.birth_date,
            sex=child.sex, municipality=child.municipality_number, urban_district=child.urban_district_code,
            street=street, house_number=int(number) if number.isdigit() else None, postal_code=child.postal_code,
            city=child.city, responsible=responsible, parents=[(n, r) for (n, _), r in zip(responsible, ("Mother", "Father"))],
        )
        values.update(overrides)
        return register.add_person(**values)

    return make


@pytest.fixture
def district_a(station_a):
    """Station A serves urban district 460103 of Bergen (4601)."""
    station_a.urban_district_codes = ["460103"]
    station_a.save()
    return station_a


@pytest.fixture
def synced_child(register, family, district_a):
    """synced_child(**overrides) -> a journal child at station A, 200 days old, known to the register
    (with two guardians), after a sync; ``child.person_id`` is its register id."""

    def make(**overrides):
        values = dict(station=district_a, birth_date=timezone.localdate() - timedelta(days=200),
                      urban_district_code="460103", street_address="Barneveien 2")
        child = ChildFactory(**{**values, **overrides})
        child.person_id = family(child)
        register_sync()
        assert SyncCursor.objects.get().last_sequence == register.latest_event()[0]
        return child

    return make


@pytest.fixture
def synced(synced_child):
    """A journal child known to the register, after the first (full) sync."""
    return synced_child()


__all__ = ["born_ago", "next_national_id"]
