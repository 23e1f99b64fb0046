"""Load test: nurses, clerks and a leader against gunicorn with production settings.

Builds its own database (seed_demo, the follow-up sweep, and 25 appointments today
for each load nurse), starts gunicorn and a Celery worker on loopback with the
production settings (DEBUG off, Redis, PostgreSQL), then runs simulated users:

- nurses work their day list: open it, record an outcome for a row (htmx), and when
  every row has one, correct an earlier outcome;
- clerks open their work list and the letters page, start a print batch when letters
  are due and poll its progress;
- the leader pages through the escalation queue.

It prints p50/p95/p99 per page and the errors, and compares with the targets:
no errors, day list p95 <= 200 ms, htmx actions p95 <= 100 ms, the clerk's work list p95 <= 150 ms.

    python3 benchmarks/load.py                      # full: 40,000 children, 20 nurses, 5 minutes
    python3 benchmarks/load.py --short              # CI form: 2,000 children, 6 nurses, 20 seconds
    python3 benchmarks/load.py --short --reuse --duration 120   # the short data, long enough for ~50 clerk lists

Only loopback addresses are used; every loop is bounded in time.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import secrets
import socket

import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parents[1]
# benchmarks/ has a statistics.py of its own, so this script never imports the stdlib module.
sys.path.insert(0, str(ROOT))

TARGETS = {
    "Dagsliste": 200.0, "Registrer utfall (htmx)": 100.0, "Korriger utfall (htmx)": 100.0,
    # Issue 17: the clerk's work list was the slowest page (236 ms p95, 778 ms p99).
    "Merkantil arbeidsliste": 150.0,
}
RECORD_FORM = re.compile(r'action="(/dag/time/(\d+)/utfall/)"[^>]*>\s*<input type="hidden" name="csrfmiddlewaretoken" value="([^"]+)">\s*<input type="hidden" name="replaces" value="(\d*)">')
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
BATCH_PROGRESS = re.compile(r'hx-get="(/oppfolging/brev/bunke/\d+/status/)"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def production_env(database_url: str, redis_url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEBUG", "CELERY_TASK_ALWAYS"))}
    env.update(
        DATABASE_URL=database_url, REDIS_URL=redis_url, DEBUG="false", SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost", SECURE_SSL_REDIRECT="false", SECURE_COOKIES="false",
        SECURE_HSTS_SECONDS="0", BEHIND_TLS_PROXY="false", ALLOW_SYNTHETIC_IDS="true", LOG_LEVEL="WARNING",
        SMS_BACKEND="console", LOGIN_FAILURE_LIMIT="1000", DJANGO_SETTINGS_MODULE="helsestasjon.settings",
        # The simulated staff log in with passwords: this measures the pages, not HelseID (docs/decisions.md, HelseID).
        PASSWORD_LOGIN_ALL_ROLES="true",
    )
    for name in ("HELSEID_AUTHORITY", "HELSEID_CLIENT_ID", "HELSEID_PRIVATE_KEY", "HELSEID_PRIVATE_KEY_FILE"):
        env.pop(name, None)
    return env


def build_data(env: dict, *, children: int, nurses: int, per_nurse: int, reuse: bool) -> None:
    url = urlsplit(env["DATABASE_URL"])
    name = url.path.lstrip("/")
    admin_url = env["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres"
    if not reuse:
        import psycopg

        with psycopg.connect(admin_url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        run = lambda *args: subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,  # noqa: E731
                                           stdout=subprocess.DEVNULL)
        started = time.monotonic()
        run("migrate", "--noinput")
        run("seed_demo", "--children", str(children))
        run("run_followup_sweep")
        print(f"data: seed_demo --children {children} and the follow-up sweep in {time.monotonic() - started:.0f} s")
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    script = f"""
import django
django.setup()
from datetime import datetime, time as t, timedelta
from django.contrib.auth.hashers import make_password
from django.utils import timezone
from attendance.models import Appointment, Consultation
from attendance.booking import appointment_book
from helsestasjon.models import Role, Station, User
stations = list(Station.objects.order_by('id'))
today = timezone.localdate()
password = make_password('belastning-2026')
import random
rng = random.Random(7)
# Due consultations per station, fetched once and handed out in a fixed shuffled order.
due = {{}}
for station in stations:
    ids = list(Consultation.objects.filter(child__station=station, child__status='active', state='due').values_list('id', flat=True))
    rng.shuffle(ids)
    due[station.id] = ids
for n in range({nurses}):
    station = stations[n % len(stations)]
    nurse, created = User.objects.get_or_create(username=f'last_sykepleier_{{n:02d}}', defaults=dict(role=Role.NURSE, password=password, first_name='Last', last_name=str(n)))
    nurse.stations.set([station])
    have = Appointment.objects.filter(professional=nurse, starts_at__date=today).count()
    wanted = max(0, {per_nurse} - have)
    free = Consultation.objects.filter(id__in=due[station.id][:wanted])
    del due[station.id][:wanted]
    for i, consultation in enumerate(free):
        start = timezone.make_aware(datetime.combine(today, t(8, 0))) + timedelta(minutes=15 * (have + i))
        appointment_book(consultation=consultation, starts_at=start, duration_minutes=15, place='station', room='Rom 1', professional=nurse, booked_by=nurse)
for station in stations:
    clerk = User.objects.filter(role=Role.CLERK, stations=station).first()
    clerk.password = password; clerk.save(update_fields=['password'])
leader = User.objects.filter(role=Role.LEADER).order_by('id').first()
leader.password = password; leader.save(update_fields=['password'])
print(leader.username, ','.join(User.objects.filter(role=Role.CLERK).order_by('id').values_list('username', flat=True)))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return out.stdout.split()


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)

    def timed(self, label: str, session: requests.Session, method: str, url: str, **kwargs) -> requests.Response | None:
        started = time.perf_counter()
        try:
            response = session.request(method, url, timeout=30, allow_redirects=False, **kwargs)
        except requests.RequestException as exc:
            with self.lock:
                self.errors[label].append(type(exc).__name__)
            return None
        elapsed = (time.perf_counter() - started) * 1000
        with self.lock:
            self.times[label].append(elapsed)
            if response.status_code >= 400:
                self.errors[label].append(str(response.status_code))
        return response


def login(base: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/logg-inn/", timeout=30)
    token = CSRF.search(page.text).group(1)
    response = session.post(f"{base}/logg-inn/", data={"username": username, "password": password, "csrfmiddlewaretoken": token},
                            headers={"Referer": f"{base}/logg-inn/"}, allow_redirects=False, timeout=30)
    if response.status_code != 302:
        raise RuntimeError(f"login failed for {username}: {response.status_code}")
    return session


def nurse_loop(base, username, password, stats: Stats, until: float, think: float, rng: random.Random):
    session = login(base, username, password)
    while time.monotonic() < until:
        page = stats.timed("Dagsliste", session, "GET", f"{base}/dag/")
        if page is None or page.status_code != 200:
            time.sleep(think)
            continue
        forms = RECORD_FORM.findall(page.text)
        open_rows = [f for f in forms if not f[3]]
        if open_rows:
            action, _, token, _ = rng.choice(open_rows)
            outcome = rng.choice(["attended"] * 6 + ["not_brought", "cancelled_by_guardian"])
            data = {"csrfmiddlewaretoken": token, "replaces": "", "outcome": outcome,
                    "reason": "forgot" if outcome != "attended" else ""}
            label = "Registrer utfall (htmx)"
        elif forms:
            action, _, token, replaces = rng.choice(forms)
            data = {"csrfmiddlewaretoken": token, "replaces": replaces, "outcome": rng.choice(["attended", "not_brought"]), "reason": ""}
            label = "Korriger utfall (htmx)"
        else:
            time.sleep(think)
            continue
        time.sleep(think * rng.uniform(0.5, 1.5))
        response = stats.timed(label, session, "POST", f"{base}{action}", data=data,
                               headers={"HX-Request": "true", "X-CSRFToken": token, "Referer": f"{base}/dag/"})
        if response is not None and response.status_code == 200 and "Noen andre" in response.text:
            # A correction raced with our own earlier one; that is a clear message, not an error.
            pass
        time.sleep(think * rng.uniform(0.5, 1.5))


def clerk_loop(base, username, password, stats: Stats, until: float, think: float, rng: random.Random):
    session = login(base, username, password)
    while time.monotonic() < until:
        stats.timed("Merkantil arbeidsliste", session, "GET", f"{base}/oppfolging/merkantil/")
        time.sleep(think)
        page = stats.timed("Brevside", session, "GET", f"{base}/oppfolging/brev/")
        if page is not None and page.status_code == 200 and rng.random() < 0.3:
            token = CSRF.search(page.text).group(1)
            stats.timed("Start brevbunke", session, "POST", f"{base}/oppfolging/brev/bunke/",
                        data={"csrfmiddlewaretoken": token}, headers={"Referer": f"{base}/oppfolging/brev/"})
            page = session.get(f"{base}/oppfolging/brev/", timeout=30)
        if page is not None:
            for progress in BATCH_PROGRESS.findall(page.text)[:1]:
                stats.timed("Brevbunke fremdrift (htmx)", session, "GET", f"{base}{progress}", headers={"HX-Request": "true"})
        time.sleep(think)


def leader_loop(base, username, password, stats: Stats, until: float, think: float, rng: random.Random):
    session = login(base, username, password)
    while time.monotonic() < until:
        stats.timed("Lederkø", session, "GET", f"{base}/oppfolging/leder/")
        time.sleep(think)
        stats.timed("Lederkø side 2", session, "GET", f"{base}/oppfolging/leder/?side=2")
        time.sleep(think)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def load_arguments(description: str | None) -> argparse.ArgumentParser:
    """The options naming the load test's database and Redis (benchmarks/worklists.py reads the same data)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("LOAD_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hs_load"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/9")
    return parser


def main() -> int:
    parser = load_arguments(__doc__)
    parser.add_argument("--children", type=int, default=40000)
    parser.add_argument("--nurses", type=int, default=20)
    parser.add_argument("--clerks", type=int, default=2)
    parser.add_argument("--duration", type=int, default=300, help="seconds")
    parser.add_argument("--think", type=float, default=1.0, help="seconds between a user's actions")
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--short", action="store_true", help="CI form: 2,000 children, 6 nurses, 20 s")
    parser.add_argument("--reuse", action="store_true", help="keep the database from the last run")
    args = parser.parse_args()
    if args.short:
        # --duration given with --short keeps its value (the short data, measured for longer).
        duration_given = any(a == "--duration" or a.startswith("--duration=") for a in sys.argv[1:])
        args.children, args.nurses = min(args.children, 2000), min(args.nurses, 6)
        args.duration = args.duration if duration_given else min(args.duration, 20)

    env = production_env(args.database_url, args.redis_url)
    leader, clerks = build_data(env, children=args.children, nurses=args.nurses, per_nurse=25, reuse=args.reuse)
    clerks = clerks.split(",")[: args.clerks]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "helsestasjon.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(args.web_workers), "--timeout", "60", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "helsestasjon", "worker", "--concurrency", "2", "--loglevel", "WARNING",
         "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/logg-inn/", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            print("gunicorn did not answer")
            return 2
        # Unmeasured warm-up: each worker compiles its templates and builds its URL resolver on its
        # first requests; in a 20-second run those would be most of a page's samples.
        warm = [(login(base, clerks[0], "belastning-2026"), ("/oppfolging/merkantil/", "/oppfolging/brev/")),
                (login(base, leader, "belastning-2026"), ("/oppfolging/leder/",)),
                (login(base, "last_sykepleier_00", "belastning-2026"), ("/dag/", "/oppfolging/sykepleier/"))]
        for _ in range(args.web_workers * 2):
            for session, paths in warm:
                for path in paths:
                    session.get(f"{base}{path}", timeout=60)
        stats = Stats()
        until = time.monotonic() + args.duration
        threads = []
        password = "belastning-2026"
        for n in range(args.nurses):
            threads.append(threading.Thread(target=nurse_loop, args=(base, f"last_sykepleier_{n:02d}", password, stats, until, args.think, random.Random(n))))
        for n, clerk in enumerate(clerks):
            threads.append(threading.Thread(target=clerk_loop, args=(base, clerk, password, stats, until, args.think * 2, random.Random(100 + n))))
        threads.append(threading.Thread(target=leader_loop, args=(base, leader, password, stats, until, args.think * 2, random.Random(200))))
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(args.duration + 120)
        wall = time.monotonic() - started
    finally:
        web.terminate()
        worker.terminate()
        # A worker still making a print batch gets 30 s to finish it, then is killed: the figures
        # below are the pages', and a hung shutdown must not lose them.
        for process in (web, worker):
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    print(f"\n{args.nurses} nurses, {len(clerks)} clerks, 1 leader, {args.duration} s, {args.children} children, "
          f"gunicorn {args.web_workers} workers, {os.cpu_count()} cores")
    print(f"{'page':32} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}  target")
    ok = True
    total = 0
    for label in sorted(stats.times):
        values = stats.times[label]
        total += len(values)
        p95 = percentile(values, 95)
        target = TARGETS.get(label)
        verdict = ""
        if target is not None:
            verdict = f"p95 <= {target:.0f} ms: {'ok' if p95 <= target else 'MISSED'}"
            ok &= p95 <= target
        print(f"{label:32} {len(values):8d} {percentile(values, 50):8.1f} {p95:8.1f} {percentile(values, 99):8.1f} "
              f"{len(stats.errors.get(label, [])):7d}  {verdict}")
    errors = sum(len(v) for v in stats.errors.values())
    print(f"total {total} requests in {wall:.0f} s ({total / wall:.1f}/s), errors {errors}"
          + (f": {dict((k, sorted(set(v))) for k, v in stats.errors.items())}" if errors else ""))
    ok &= errors == 0 and total > 0
    print("RESULT:", "all targets met" if ok else "target missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
