"""The register sync's bulk statements (registry_sync/journal_io.py): filters from querysets, run through Django's connection."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from helsestasjon.models import Child, ChildStatus
from helsestasjon import bulk
from registry_sync import journal_io
from registry_sync.models import Finding, FindingKind
from registry_sync.runs import register_sync
from registry_sync.scope import Scope
from tests.factories import ChildFactory

pytestmark = pytest.mark.django_db


def _statements(captured, start: str, table: str) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if q["sql"].startswith(start) and table in q["sql"]]


def test_a_syncs_bulk_statements_are_counted_on_djangos_connection(register, family, station_a):
    station_a.urban_district_codes = ["460103"]
    station_a.save()
    child = ChildFactory(station=station_a, birth_date=timezone.localdate() - timedelta(days=200),
                         urban_district_code="460103", street_address="Barneveien 2")
    person_id = family(child)
    with CaptureQueriesContext(connection) as first:
        register_sync()  # The first run: a full reconciliation, which links the journal to the register.
    child.refresh_from_db()
    assert str(child.register_person_id) == person_id
    journal_reads = _statements(first, "SELECT", '"helsestasjon_child"')
    # The journal read of the whole scope, its filter compiled from a queryset, its lists one array each.
    assert any("= ANY($" in sql and '"helsestasjon_child"."birth_date" >=' in sql for sql in journal_reads), journal_reads
    assert _statements(first, "SELECT", '"helsestasjon_guardianship"')
    assert any("FROM unnest($1::" in sql for sql in _statements(first, "UPDATE", '"helsestasjon_child"'))

    register.rename(person_id, family_name="Solberg")
    with CaptureQueriesContext(connection) as event:
        register_sync()
    assert Finding.objects.get().kind == FindingKind.NAME_CHANGED
    assert any(re.search(r'"helsestasjon_child"."register_person_id" = ANY\(\$\d+::(?:text|varchar\(64\))\[\]\)', sql)
               for sql in _statements(event, "SELECT", '"helsestasjon_child"')), _statements(event, "SELECT", '"helsestasjon_child"')
    assert _statements(event, "SELECT", '"registry_sync_finding"."subject" = ANY(')
    assert _statements(event, "INSERT INTO", '"registry_sync_finding"')


def test_the_journal_read_takes_its_filter_from_a_queryset(station_a, django_assert_max_num_queries):
    deceased = ChildFactory(station=station_a, status=ChildStatus.DECEASED, status_changed_at=timezone.now())
    active = ChildFactory(station=station_a)
    ChildFactory(station=station_a)
    scope = Scope(timezone.localdate())
    with django_assert_max_num_queries(1):
        children = journal_io.journal_rows(Child.objects.filter(pk__any=[deceased.pk, active.pk]), scope)
    by_pk = {c.pk: c for c in children}
    assert set(by_pk) == {deceased.pk, active.pk}
    # When a death was recorded is read only for a death; the station comes from the scope.
    assert by_pk[deceased.pk].died_recorded_at == deceased.status_recorded_at
    assert by_pk[active.pk].died_recorded_at is None
    assert by_pk[active.pk].station == station_a
    assert by_pk[active.pk].national_id == active.national_id
    assert journal_io.journal_rows(Child.objects.filter(national_id__any=[]), scope) == []


def test_the_any_lookup_also_works_as_a_plain_queryset(station_a):
    one, two, _ = (ChildFactory(station=station_a) for _ in range(3))
    assert set(Child.objects.filter(pk__any=[one.pk, two.pk])) == {one, two}
    assert list(Child.objects.filter(national_id__any=[one.national_id], station__any=[station_a.pk])) == [one]


def test_a_list_parameter_goes_as_one_binary_array_and_percent_signs_survive():
    sql = bulk._binary_arrays("a = ANY(%s) AND b LIKE '%%s' AND c = %s", [[1, 2], "x"])
    assert sql == "a = ANY(%b) AND b LIKE '%%s' AND c = %s"
    qs = Child.objects.filter(given_name__startswith="50%", pk__any=[1, 2]).values_list("id")
    assert journal_io.rows(qs) == []


def test_errors_are_djangos():
    with pytest.raises(DatabaseError):
        journal_io.select("SELECT * FROM no_such_table")
