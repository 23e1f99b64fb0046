"""Register sync at Oslo size: full reconciliation, an unchanged re-run, event throughput, and the HTTP floor.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hs_bench_reg python3 benchmarks/register.py [--children 40000]

Builds its own data: the core ``seed_demo`` journals (N children and their
guardians), a fake register holding them with 5 % discrepancies of every kind
(served by ``manage.py fake_register`` in its own process, over HTTP), then:

1. full reconciliation wall time (target <= 60 s, HTTP paging included);
2. the same run again with unchanged data (must write nothing), three times;
3. event sync over 10,000 events (target >= 500 events/s);
4. the floor: fetching the same pages and persons (the children and the journal's guardians)
   over HTTP without processing,
   and the processing overhead over it (target < 50 % for the unchanged run).
   The unchanged run and its floor are measured in turn, three times each, best
   against best (the machine's speed drifts); the event sync writes, so it runs
   once. The event sync's overhead is printed but is no longer a target (issue
   16): its throughput (3.) is what users depend on.

The fake register runs with Persontjenesten's protocol (form bodies,
informationParts, includeHistory, api-version; docs/decisions.md, "Register
versions and protocol"). A small run for a quick look: ``--children 4000 --events 2000``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helsestasjon.settings")
os.environ.setdefault("DEBUG", "true")
os.environ.setdefault("ALLOW_SYNTHETIC_IDS", "true")


def _ensure_database(url: str) -> None:
    import psycopg
    from urllib.parse import urlparse

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--children", type=int, default=40000)
    parser.add_argument("--events", type=int, default=10000)
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database of your own, e.g. postgres://postgres@127.0.0.1:5432/hs_bench_reg")
    _ensure_database(url)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from helsestasjon.demo import seed_demo
    from helsestasjon.models import Child, Guardian
    from registry_sync.client import RegisterClient
    from registry_sync.demo import build_register
    from registry_sync.fake import FakeRegister
    from registry_sync.models import Finding
    from registry_sync.runs import register_full_reconciliation, register_sync
    from registry_sync.scope import Scope

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    settings.DEMO_SEEDERS = []  # The journals only: no plans, cases or letters are needed here.
    started = time.monotonic()
    seed_demo(children=args.children, seed=11)
    print(f"journals: {Child.objects.count()} children, {Guardian.objects.count()} guardians "
          f"({time.monotonic() - started:.1f} s)")

    data = Path(tempfile.mkdtemp()) / "register.json"
    register = FakeRegister(data)
    started = time.monotonic()
    with register.bulk():
        made = build_register(register, Child.objects.all(), rng=random.Random(5), today=__import__("datetime").date.today(), share=0.05)
    print(f"register: {len(register)} persons, {register.latest_event()[0]} events, discrepancies "
          f"{dict(sorted(made.items()))} ({time.monotonic() - started:.1f} s)")
    del register

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "fake_register", "--port", str(port), "--data", str(data)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}/api/legal-basis"
    settings.REGISTER_BASE_URL = base
    settings.REGISTER_TIMEOUT_SECONDS = 60
    try:
        import requests

        for _ in range(600):
            try:
                requests.get(base + "/event/latest", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.2)

        def table_digest() -> str:
            with connection.cursor() as cur:
                digest = hashlib.sha256()
                for table in ("helsestasjon_child", "helsestasjon_guardian", "helsestasjon_guardianship", "registry_sync_finding"):
                    cur.execute(f"SELECT md5(string_agg(t::text, '|' ORDER BY t.id)) FROM {table} t")
                    digest.update(str(cur.fetchone()[0]).encode())
                return digest.hexdigest()

        # 1. Full reconciliation (the first sync: no cursor yet).
        started = time.monotonic()
        first = register_sync()
        full_seconds = time.monotonic() - started
        print(f"\n1. full reconciliation: {full_seconds:.1f} s  [{first}]  target <= 60 s: "
              f"{'OK' if full_seconds <= 60 else 'MISSED'}")
        open_by_kind = {}
        for kind in Finding.objects.filter(status="open").values_list("kind", flat=True):
            open_by_kind[kind] = open_by_kind.get(kind, 0) + 1
        print(f"   open findings by kind: {dict(sorted(open_by_kind.items()))}")

        # 2. The same run with unchanged data, and 4a. its floor: the same search
        # pages and bulk fetches, no processing. On a shared VM the CPU's speed
        # drifts by tens of percent within minutes, so the two are measured in
        # turn, three times each, and the best of each is compared (every figure
        # is printed).
        client = RegisterClient(base, timeout=60)
        scope = Scope(__import__("django.utils.timezone", fromlist=["x"]).localdate())

        def floor_full() -> tuple[float, int]:
            client.requests_made = 0
            started = time.monotonic()
            ids = []
            for municipality in scope.stations:
                ids.extend(client.search_ids(municipality_number=municipality, birth_from=scope.birth_from, birth_to=scope.today))
            journal_ids = [str(p) for p in Child.objects.exclude(register_person_id=None).values_list("register_person_id", flat=True)]
            all_ids = list(dict.fromkeys([*journal_ids, *ids]))
            # The full run also fetches the journal's guardians again (their own and the contact register's changes).
            guardian_ids = [str(p) for p in Guardian.objects.exclude(register_person_id=None).filter(guardianships__isnull=False)
                            .values_list("register_person_id", flat=True).distinct()]
            fetched = 0
            for batch in (all_ids, guardian_ids):
                for start in range(0, len(batch), 1000):
                    fetched += len(client.persons_by_id(batch[start:start + 1000]))
            return time.monotonic() - started, fetched

        agains, floors, all_unchanged, fetched = [], [], True, 0
        for _ in range(3):
            before = table_digest()
            started = time.monotonic()
            again = register_full_reconciliation()
            agains.append(time.monotonic() - started)
            all_unchanged = all_unchanged and table_digest() == before and again.writes == 0
            seconds, fetched = floor_full()
            floors.append(seconds)
        again_seconds, floor_full_seconds = min(agains), min(floors)
        print(f"2. unchanged re-run: {' / '.join(f'{x:.1f}' for x in agains)} s, {again.writes} writes, journal and findings "
              f"tables {'unchanged' if all_unchanged else 'CHANGED'}: {'OK' if all_unchanged else 'MISSED'}")
        overhead = (again_seconds - floor_full_seconds) / floor_full_seconds * 100
        median = (sorted(agains)[1] - sorted(floors)[1]) / sorted(floors)[1] * 100
        print(f"4a. floor (full): {' / '.join(f'{x:.1f}' for x in floors)} s for {fetched} persons in {client.requests_made} "
              f"requests; unchanged run overhead {overhead:.0f} % best against best ({median:.0f} % median against median; "
              f"first run {((full_seconds - floor_full_seconds) / floor_full_seconds * 100):.0f} %); "
              f"target < 50 %: {'OK' if overhead < 50 else 'MISSED'}")

        # 3. Event sync over N events made through the fake's admin API.
        admin = f"http://127.0.0.1:{port}/_admin/"
        session = requests.Session()
        children = list(Child.objects.filter(status="active").exclude(register_person_id=None)
                        .values_list("register_person_id", "urban_district_code", flat=False)[: args.events])
        guardians = list(Guardian.objects.exclude(national_id=None).values_list("national_id", flat=True)[: args.events])
        rng = random.Random(9)
        made_events = 0
        started = time.monotonic()
        i = 0
        while made_events < args.events:
            pid, district = children[i % len(children)]
            choice = i % 10
            if choice < 4:
                r = session.post(admin + "rename", json={"personId": str(pid), "given_name": f"Navn{i}"})
            elif choice < 7:
                r = session.post(admin + "move", json={"personId": str(pid), "municipality": "4601", "urban_district": district,
                                                       "street": "Flyttegata", "house_number": rng.randrange(1, 200),
                                                       "postal_code": "5003", "city": "Bergen"})
            elif choice < 9:
                r = session.post(admin + "set_contact", json={"nin": guardians[i % len(guardians)],
                                                              "phone": f"9{rng.randrange(10**6, 10**7)}", "language": "nb"})
            else:
                r = session.post(admin + "touch", json={"personId": str(pid), "event_type": "ChangeInSharedResidence"})
            made_events += len(r.json()["events"])
            i += 1
        print(f"   made {made_events} events through the admin API in {time.monotonic() - started:.1f} s")
        # The fake register writes its data file a moment after the last change
        # (autosave, seconds for an Oslo-size register, in the server's process);
        # measured during that write, the sync or the floor below was slowed at
        # random. Both are measured after it.
        changed_at, started = time.time(), time.monotonic()
        saved, quiet_since = data.stat().st_mtime, time.monotonic()
        while time.monotonic() - started < 120:
            time.sleep(0.1)
            if data.stat().st_mtime != saved:
                saved, quiet_since = data.stat().st_mtime, time.monotonic()
            if saved > changed_at and time.monotonic() - quiet_since > 2.5:  # Saved, and no second save behind it.
                break
        print(f"   the fake register saved the changes ({time.monotonic() - started:.1f} s)")
        cursor_before = __import__("registry_sync.models", fromlist=["SyncCursor"]).SyncCursor.objects.get().last_sequence
        started = time.monotonic()
        events = register_sync()
        event_seconds = time.monotonic() - started
        rate = events.events / event_seconds
        print(f"3. event sync: {events.events} events in {event_seconds:.1f} s = {rate:.0f} events/s  [{events}]  "
              f"target >= 500/s: {'OK' if rate >= 500 else 'MISSED'}")

        # The floor for the events: the same pages and persons, no processing.
        client = RegisterClient(base, timeout=60)
        started = time.monotonic()
        next_seq = cursor_before + 1
        while True:
            page = client.events(next_seq)
            if not page.events:
                break
            client.persons_by_id(list(dict.fromkeys(e.person_id for e in page.events)))
            next_seq = page.events[-1].sequence_number + 1
            if len(page.events) < 1000:
                break
        floor_events = time.monotonic() - started
        overhead = (event_seconds - floor_events) / floor_events * 100
        print(f"4b. floor (events): {floor_events:.1f} s; processing overhead {overhead:.0f} % "
              f"(printed only: the events' target is their throughput, 3.)")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
