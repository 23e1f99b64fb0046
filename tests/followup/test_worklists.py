"""The work lists' read (followup.worklists): the right cases, in deadline order, in a constant
number of queries, with the page cut before the children are read."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from followup.models import Case, CaseStep
from followup.sweep import followup_sweep
from helsestasjon.models import Relation
from tests.factories import ChildFactory, GuardianFactory, GuardianshipFactory

pytestmark = pytest.mark.django_db

ROW = re.compile(r'<tr id="case-(\d+)"')
PAGE_CUT = re.compile(r"IN \((SELECT .*? LIMIT \d+)\)")


def _cases(station, outcome, n):
    children = []
    for _ in range(n):
        child = ChildFactory(station=station)
        GuardianshipFactory(child=child, guardian=GuardianFactory(), relation=Relation.MOTHER)
        outcome(child, "not_brought")
        children.append(child)
    followup_sweep()
    return list(Case.objects.filter(child__in=children).order_by("id"))


def test_the_clerk_list_reads_a_constant_number_of_queries_and_cuts_the_page_before_reading_children(
    login, clerk_a, station_a, outcome, django_assert_max_num_queries
):
    _cases(station_a, outcome, 2)
    client = login(clerk_a)
    client.get(reverse("followup:clerk_worklist"))
    # Session, user, count, the page with its children, guardians, next appointments, access log.
    with django_assert_max_num_queries(7) as few:
        client.get(reverse("followup:clerk_worklist"))
    _cases(station_a, outcome, 10)
    with django_assert_max_num_queries(len(few.captured_queries)) as many:
        response = client.get(reverse("followup:clerk_worklist"))
    assert len(ROW.findall(response.content.decode())) == 12
    # The page is cut (ORDER BY ... LIMIT) on the cases and their steps alone; its rows are then joined to their children.
    page_reads = [q["sql"] for q in many.captured_queries if q["sql"].startswith("SELECT") and 'FROM "followup_case"' in q["sql"]]
    cuts = [m.group(1) for m in (PAGE_CUT.search(sql) for sql in page_reads) if m]
    assert cuts and not any('"helsestasjon_child"' in cut for cut in cuts), page_reads


def test_the_clerk_list_holds_the_own_station_s_cases_oldest_deadline_first(login, clerk_a, station_a, station_b, outcome):
    mine = _cases(station_a, outcome, 3)
    other = _cases(station_b, outcome, 1)
    today = timezone.localdate()
    for days, case in zip((9, 3, 6), mine):
        CaseStep.objects.filter(id=case.current_step_id).update(deadline=today + timedelta(days=days))
    rows = [int(pk) for pk in ROW.findall(login(clerk_a).get(reverse("followup:clerk_worklist")).content.decode())]
    assert rows == [mine[1].id, mine[2].id, mine[0].id]
    assert other[0].id not in rows
