"""The demo: the fake register seeded from the demo journals shows findings after the first sync."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from helsestasjon.demo import seed_demo
from registry_sync.fake import FakeRegister, FakeRegisterServer
from registry_sync.models import Finding, FindingKind, FindingStatus
from registry_sync.runs import register_sync
from registry_sync.worklist import finding_create_journal

pytestmark = pytest.mark.django_db


def test_demo_register_gives_findings_and_a_journal_can_be_created(settings, tmp_path):
    settings.FAKE_REGISTER_DATA = str(tmp_path / "register.json")
    result = seed_demo(children=150, seed=3)
    register = FakeRegister(settings.FAKE_REGISTER_DATA)  # Read back from the file the demo wrote.
    assert len(register) > 300
    server = FakeRegisterServer(register)
    server.start_in_thread()
    settings.REGISTER_BASE_URL = server.base_url
    try:
        register_sync()
        open_kinds = Counter(Finding.objects.filter(status=FindingStatus.OPEN).values_list("kind", flat=True))
        assert open_kinds[FindingKind.UNREGISTERED_RESIDENT] >= 1
        assert len(open_kinds) >= 4
        newcomer = Finding.objects.filter(kind=FindingKind.UNREGISTERED_RESIDENT, child=None).first()
        clerk = next(u for u in newcomer.station.staff.all() if u.role == "clerk")
        child = finding_create_journal(finding=newcomer, user=clerk)
        assert child.consultations.exists()
        before = Finding.objects.count()
        register_sync()  # Nothing new: the events were all covered by the first full reconciliation.
        assert Finding.objects.count() == before
    finally:
        server.shutdown()
        server.server_close()
    assert result.children == 150



def test_demo_guardians_have_the_mailboxes_the_register_gives_them(settings, tmp_path):
    # Issue 20's demo: letters go digitally because the journal's guardians carry the contact
    # register's digital mailbox, the same as the demo register serves for them.
    from helsestasjon.models import Guardian
    from registry_sync.person_document import parse_person

    settings.FAKE_REGISTER_DATA = str(tmp_path / "register.json")
    seed_demo(children=40, seed=4)
    register = FakeRegister(settings.FAKE_REGISTER_DATA)
    guardians = list(Guardian.objects.exclude(national_id=None))
    with_mailbox = [g for g in guardians if g.digital_mailbox]
    assert len(with_mailbox) > len(guardians) / 2
    assert len(with_mailbox) < len(guardians)  # some are reserved or have none: they get paper
    compared = 0
    for g in guardians[:20]:
        raw = register.document_by_nin(g.national_id)
        if raw is not None:
            assert parse_person(json.loads(raw)).digital_mailbox == g.digital_mailbox
            compared += 1
    assert compared >= 10
