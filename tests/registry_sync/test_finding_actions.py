"""What a user may do with a finding is decided once (Finding.actions_for): the worklist's buttons
and the services' checks agree."""

from __future__ import annotations

import pytest
from django.urls import reverse

from registry_sync.models import Finding, FindingKind, FindingStatus, Resolution
from registry_sync.worklist import FindingActionError, finding_create_journal, finding_resolve
from tests.factories import ChildFactory, next_national_id

pytestmark = pytest.mark.django_db


def finding(station, kind, child=None, **details):
    nin = child.national_id if child else next_national_id()
    return Finding.objects.create(kind=kind, station=station, child=child, national_id=nin, subject=nin,
                                  fingerprint=kind, name="Kari Nordmann", details=details)


def test_each_kind_has_its_actions_for_the_worklists_roles(station_a, clerk_a, leader_a, nurse_a):
    child = ChildFactory(station=station_a)
    moved = finding(station_a, FindingKind.MOVED_OUT, child)
    within = finding(station_a, FindingKind.MOVED_WITHIN, child, target_station_id=station_a.pk)
    resident = finding(station_a, FindingKind.UNREGISTERED_RESIDENT)
    for user in (clerk_a, leader_a):
        assert (moved.actions_for(user).transfer, moved.actions_for(user).update, moved.actions_for(user).create) == (True, False, False)
        assert (resident.actions_for(user).create, resident.actions_for(user).update) == (True, False)
        assert within.actions_for(user).move_station == station_a.pk and within.actions_for(user).update
    assert not any(vars(moved.actions_for(nurse_a)).values())


def test_the_services_refuse_what_the_worklist_does_not_offer(station_a, clerk_a, nurse_a):
    child = ChildFactory(station=station_a)
    moved = finding(station_a, FindingKind.MOVED_OUT, child)
    with pytest.raises(FindingActionError, match="kan ikke markeres som oppdatert"):
        finding_resolve(finding=moved, user=clerk_a, resolution=Resolution.UPDATED)
    with pytest.raises(FindingActionError, match="Du kan ikke behandle funn"):
        finding_resolve(finding=moved, user=nurse_a, resolution=Resolution.TRANSFERRED)
    with pytest.raises(FindingActionError, match="kan ikke gi en ny journal"):
        finding_create_journal(finding=moved, user=clerk_a)
    moved.refresh_from_db()
    assert moved.status == FindingStatus.OPEN
    finding_resolve(finding=moved, user=clerk_a, resolution=Resolution.TRANSFERRED)
    moved.refresh_from_db()
    assert (moved.status, moved.resolution, moved.resolved_by) == (FindingStatus.RESOLVED, Resolution.TRANSFERRED, clerk_a)


def test_the_worklist_offers_what_the_finding_allows(station_a, clerk_a, login):
    child = ChildFactory(station=station_a)
    finding(station_a, FindingKind.MOVED_OUT, child)
    html = login(clerk_a).get(reverse("registry_sync:worklist")).content.decode()
    assert 'value="transferred"' in html and 'value="updated"' not in html
    # An "Oppdatert" posted anyway (an old page, a crafted request) is refused with the service's message.
    moved = Finding.objects.get(kind=FindingKind.MOVED_OUT)
    response = login(clerk_a).post(reverse("registry_sync:resolve", args=[moved.pk]), {"resolution": "updated"},
                                   HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "kan ikke markeres som oppdatert" in response.content.decode()
    moved.refresh_from_db()
    assert moved.is_open
