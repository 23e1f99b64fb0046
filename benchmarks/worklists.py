"""The work lists in-process: each list view's wall and CPU time per request, on the load test's data.

The load test (benchmarks/load.py) measures the pages through gunicorn on a machine shared with
everything else; this measures the same views in one process with Django's test client, so the
figure is the view's own cost (queries, Python, template) and says which part moved.

    python3 benchmarks/load.py --short               # builds the database this reads (hs_load)
    python3 benchmarks/worklists.py                  # 50 requests per list, prints p50/p95 wall and CPU
    python3 benchmarks/worklists.py --profile clerk  # and a cProfile of the clerk's list

It uses the production settings of the load test (DEBUG off, cached templates) and compares the
clerk's list with the load test's floor (p95 <= 150 ms) in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FLOOR_MS = 150.0
LISTS = {"clerk": "/oppfolging/merkantil/", "nurse": "/oppfolging/sykepleier/", "leader": "/oppfolging/leder/"}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("LOAD_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hs_load"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--profile", choices=sorted(LISTS), help="print a cProfile of one list")
    args = parser.parse_args()

    from benchmarks.load import production_env

    os.environ.clear()
    os.environ.update(production_env(args.database_url, args.redis_url))
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1"
    import django

    django.setup()
    from django.db.models import Count
    from django.test import Client

    from followup.models import Case, CaseStatus
    from helsestasjon.models import Role, User

    def busiest(role: str, owner: str | None) -> User:
        """The user of that role at the station with the most open cases on the role's steps."""
        cases = Case.objects.filter(status=CaseStatus.OPEN)
        if owner:
            cases = cases.filter(current_step__owner_role=owner)
        station_id = cases.values("station_id").annotate(n=Count("id")).order_by("-n").first()["station_id"]
        return User.objects.filter(role=role, stations=station_id, is_active=True).order_by("id").first()

    users = {"clerk": busiest(Role.CLERK, Role.CLERK), "nurse": busiest(Role.NURSE, Role.NURSE), "leader": busiest(Role.LEADER, None)}
    ok = True
    print(f"{'list':8} {'rows':>5} {'requests':>8} {'wall p50':>9} {'wall p95':>9} {'cpu p50':>8} {'cpu p95':>8} {'bytes':>8}")
    for name, url in LISTS.items():
        client = Client()
        client.force_login(users[name])
        response = client.get(url)  # warm: templates compiled, URL resolver built
        if response.status_code != 200:
            print(f"{name}: {response.status_code}")
            return 2
        walls, cpus = [], []
        for _ in range(args.requests):
            wall, cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            cpus.append((time.process_time() - cpu) * 1000)
            walls.append((time.perf_counter() - wall) * 1000)
        rows = response.content.count(b'<tr id="case-')
        print(f"{name:8} {rows:5d} {args.requests:8d} {percentile(walls, 50):9.1f} {percentile(walls, 95):9.1f} "
              f"{percentile(cpus, 50):8.1f} {percentile(cpus, 95):8.1f} {len(response.content):8d}")
        if name == "clerk":
            ok &= percentile(walls, 95) <= FLOOR_MS
        if args.profile == name:
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
    print(f"RESULT: the clerk's list in-process p95 <= {FLOOR_MS:.0f} ms: {'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
