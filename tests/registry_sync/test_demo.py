"""The demo: the fake register seeded from the demo journals shows findings after the first sync."""

from __future__ import annotations

from collections import Counter

import pytest

from helsestasjon.demo import seed_demo
from registry_sync.fake import FakeRegister, FakeRegisterServer
from registry_sync.models import Finding, FindingKind, FindingStatus
from registry_sync.services import finding_create_journal, register_sync

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


_SQLITE_DEMO = """
import json, os, django
django.setup()
from collections import Counter
from django.conf import settings
from django.core.management import call_command
call_command("migrate", verbosity=0)
from helsestasjon.demo import seed_demo
from registry_sync.fake import FakeRegister, FakeRegisterServer
from registry_sync.models import Finding, FindingStatus
from registry_sync.services import finding_create_journal, register_sync
seed_demo(children=60, seed=3)
server = FakeRegisterServer(FakeRegister(settings.FAKE_REGISTER_DATA))
server.start_in_thread()
settings.REGISTER_BASE_URL = server.base_url
first = register_sync()
kinds = Counter(Finding.objects.filter(status=FindingStatus.OPEN).values_list("kind", flat=True))
newcomer = Finding.objects.filter(kind="unregistered_resident", child=None).first()
clerk = next(u for u in newcomer.station.staff.all() if u.role == "clerk")
child = finding_create_journal(finding=newcomer, user=clerk)
before = Finding.objects.count()
again = register_sync()
print(json.dumps({"full": first.full, "kinds": kinds, "planned": child.consultations.count(),
                  "new_after": Finding.objects.count() - before, "again_writes": again.writes}))
"""


def test_demo_sync_runs_on_the_embedded_sqlite_default(tmp_path):
    """The README's demo runs on SQLite: the sync's hand-written PostgreSQL
    statements have ORM twins there (a PostgreSQL-only statement broke it once)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path}/demo.sqlite3", DEBUG="true", ALLOW_SYNTHETIC_IDS="true",
               DJANGO_SETTINGS_MODULE="helsestasjon.settings", FAKE_REGISTER_DATA=str(tmp_path / "register.json"))
    done = subprocess.run([sys.executable, "-c", _SQLITE_DEMO], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["full"] is True
    assert result["kinds"].get("unregistered_resident", 0) >= 1 and len(result["kinds"]) >= 3
    assert result["planned"] > 0
    assert result["new_after"] == 0 and result["again_writes"] == 0
