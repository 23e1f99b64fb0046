"""The work lists in-process: each list view's wall and CPU time per request, on the load test's data.

The load test (benchmarks/load.py) measures the pages through gunicorn on a machine shared with
everything else; this measures the same views in one process with Django's test client, so the
figure is the view's own cost (queries, Python, template) and says which part moved.

    python3 benchmarks/load.py --short               # builds the database this reads (hs_load)
    python3 benchmarks/worklists.py                  # 50 requests per list, prints p50/p95/p99 wall and CPU
    python3 benchmarks/worklists.py --profile clerk  # and a cProfile of the clerk's list

It uses the production settings of the load test (DEBUG off, cached templates) and compares the
clerk's list with the load test's target (p95 <= 150 ms) in the same run. The lists are requested
in turn (one of each, then again), so a change in the machine's load falls on all of them alike,
and each round also requests the login page: the floor, what any request costs on this machine at
that moment. On a shared machine read the lists against the floor of the same run.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.load import TARGETS, load_arguments, percentile, production_env  # noqa: E402

TARGET_MS = TARGETS["Merkantil arbeidsliste"]
FLOOR = "floor"
PAGES = {"clerk": "/oppfolging/merkantil/", "nurse": "/oppfolging/sykepleier/", "leader": "/oppfolging/leder/", FLOOR: "/logg-inn/"}


def busiest_users() -> dict:
    """Per list, the user of its role at the station with the most open cases on the role's steps."""
    from django.db.models import Count

    from followup.models import Case, CaseStatus
    from helsestasjon.models import Role, User

    def busiest(role: str, owner: str | None) -> User:
        cases = Case.objects.filter(status=CaseStatus.OPEN)
        if owner:
            cases = cases.filter(current_step__owner_role=owner)
        station_id = cases.values("station_id").annotate(n=Count("id")).order_by("-n").first()["station_id"]
        return User.objects.filter(role=role, stations=station_id, is_active=True).order_by("id").first()

    return {"clerk": busiest(Role.CLERK, Role.CLERK), "nurse": busiest(Role.NURSE, Role.NURSE), "leader": busiest(Role.LEADER, None)}


def measure(clients: dict, requests: int) -> tuple[dict, dict, dict]:
    """Wall and CPU milliseconds per page, the pages requested in turn; and each page's last response."""
    walls = {name: [] for name in clients}
    cpus = {name: [] for name in clients}
    last = {}
    for _ in range(requests):
        for name, client in clients.items():
            wall, cpu = time.perf_counter(), time.process_time()
            last[name] = client.get(PAGES[name])
            cpus[name].append((time.process_time() - cpu) * 1000)
            walls[name].append((time.perf_counter() - wall) * 1000)
    return walls, cpus, last


def profile(client, url: str) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(10):
        client.get(url)
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(60)
    stats.sort_stats("tottime").print_stats(30)


def main() -> int:
    parser = load_arguments(__doc__)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--profile", choices=sorted(set(PAGES) - {FLOOR}), help="print a cProfile of one list")
    args = parser.parse_args()

    os.environ.clear()
    os.environ.update(production_env(args.database_url, args.redis_url))
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1"
    import django

    django.setup()
    from django.test import Client

    clients = {}
    for name, user in (busiest_users() | {FLOOR: None}).items():
        clients[name] = Client()
        if user is not None:
            clients[name].force_login(user)
        response = clients[name].get(PAGES[name])  # warm: templates compiled, URL resolver built
        if response.status_code != 200:
            print(f"{name}: {response.status_code}")
            return 2
    walls, cpus, last = measure(clients, args.requests)
    print(f"{'page':8} {'rows':>5} {'requests':>8} {'wall p50':>9} {'wall p95':>9} {'wall p99':>9} {'cpu p50':>8} {'cpu p95':>8} {'bytes':>8}")
    for name in PAGES:
        wall, cpu = walls[name], cpus[name]
        rows = last[name].content.count(b'<tr id="case-')
        print(f"{name:8} {rows:5d} {args.requests:8d} {percentile(wall, 50):9.1f} {percentile(wall, 95):9.1f} "
              f"{percentile(wall, 99):9.1f} {percentile(cpu, 50):8.1f} {percentile(cpu, 95):8.1f} {len(last[name].content):8d}")
    above = percentile(walls["clerk"], 50) - percentile(walls[FLOOR], 50)
    print(f"the clerk's list above the floor (wall p50): {above:.1f} ms")
    if args.profile:
        profile(clients[args.profile], PAGES[args.profile])
    ok = percentile(walls["clerk"], 95) <= TARGET_MS
    print(f"RESULT: the clerk's list in-process p95 <= {TARGET_MS:.0f} ms: {'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
