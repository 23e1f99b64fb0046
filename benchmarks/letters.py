"""500 letters through the real batch path, against WeasyPrint alone as the floor.

In one run:

- builds 500 children, each with a guardian (languages mixed: nb, en, pl, uk, ar,
  so, nn) and an open follow-up case at the "new invitation" letter step;
- the floor: the same 500 letters' HTML as ONE document, rendered to one PDF by
  WeasyPrint in this one process (HTML built beforehand, not timed);
- the batch path as in production: a real `celery -A helsestasjon worker`
  (prefork, concurrency 2 = the machine's two cores) against Redis; the clerk's
  service creates the letter rows and the batch, the workers claim chunks with
  conditional UPDATEs, render, archive one PDF per letter in MEDIA_ROOT, and the
  last one merges the print PDF. Timed from the clerk's click until the batch is
  ready. The workers are warmed up with a small batch first (they are long-lived
  in production);
- letters per second for both, their ratio, and the workers' peak memory (VmHWM).
  Floor and batch alternate for --rounds rounds (default 2, fresh data each) and
  the best time of each counts, so a burst of load from other processes on the
  machine does not decide the ratio. CPU seconds are printed too (letters per
  CPU-second do not depend on that load).

Target: ratio >= 1.0 and every worker process under 400 MiB.

The digital path (issue 20), in the same run: 500 letters to guardians with a digital mailbox, made
by the clerk's service and rendered and sent by the same workers to a fake SvarUt over HTTP
(followup/letters/svarut/fake.py, in this process on a free port), timed from the click until
every letter has its forsendelse id. Targets: ratio digital/floor >= 1.0, and the send step adding
<= 10 % to the render time (the digital path's time against the print batch's, same letters, same
workers), plus the send step's own time (first send to last accepted) for reference.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hs_bench_let REDIS_URL=redis://127.0.0.1:6379/5 python3 benchmarks/letters.py [--letters 500]

The database is created when it does not exist (as the other benchmarks do); a re-run reuses it.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helsestasjon.settings")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-0123456789-abcdefghijklmnop")
os.environ.setdefault("ALLOW_SYNTHETIC_IDS", "true")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/5")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hs_bench_let")
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="hs-letters-bench-"))
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"

TARGET_RATIO = 1.0
TARGET_WORKER_MIB = 400
TARGET_SEND_OVERHEAD = 0.10
LANGUAGES = ["nb", "en", "pl", "uk", "ar", "so", "nn"]


def _ensure_database(url: str) -> None:
    """Create the benchmark's database when it does not exist (the workers share it)."""
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1].split("?")[0]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _setup_django():
    import django

    _ensure_database(os.environ["DATABASE_URL"])
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def _build(station_name: str, n: int, *, mailbox: bool = False):
    from django.utils import timezone

    from followup.models import Case, CaseStep, StepKind
    from followup.ladder import ladder_for_municipality
    from helsestasjon.models import Child, Guardian, Guardianship, Municipality, Role, Station, User
    from tests.factories import next_national_id as _next

    taken = set(Child.objects.values_list("national_id", flat=True)) | set(Guardian.objects.values_list("national_id", flat=True))

    def next_national_id():
        # Re-runs against the same database: skip ids an earlier run used.
        while (number := _next()) in taken:
            pass
        return number

    municipality, _ = Municipality.objects.get_or_create(number="4601", defaults={"name": "Bergen"})
    station = Station.objects.create(
        municipality=municipality, name=f"{station_name} {time.time_ns()}", street_address="Helseveien 1", postal_code="5003",
        city="Bergen", phone="55 00 00 00", email="helsestasjon@example.no",
    )
    clerk = User.objects.create(username=f"bench-clerk-{station.id}", role=Role.CLERK)
    clerk.stations.set([station])
    today = timezone.localdate()
    children = Child.objects.bulk_create(
        [
            Child(national_id=next_national_id(), given_name=f"Barn{i}", family_name="Hansen", birth_date=today.replace(year=today.year - 1),
                  station=station, street_address="Barneveien 2", postal_code="5003", city="Bergen")
            for i in range(n)
        ]
    )
    guardians = Guardian.objects.bulk_create(
        [
            Guardian(national_id=next_national_id(), given_name=f"Forelder{i}", family_name="Hansen", preferred_language=LANGUAGES[i % 7],
                     street_address=f"Barneveien {i}", postal_code="5003", city="Bergen", mobile="41000000",
                     digital_mailbox="digipost" if mailbox else "")
            for i in range(n)
        ]
    )
    Guardianship.objects.bulk_create(
        [Guardianship(child=c, guardian=g, relation="mother", parental_responsibility=True) for c, g in zip(children, guardians)]
    )
    rung = next(s for s in ladder_for_municipality(municipality_id=municipality.id) if s.kind == StepKind.LETTER_NEW_INVITATION)
    now = timezone.now()
    cases = Case.objects.bulk_create([Case(child=c, station=station, triggered_at=now) for c in children])
    steps = CaseStep.objects.bulk_create(
        [
            CaseStep(case=case, cycle=1, seq=1, ladder_step=rung, order=rung.order, kind=rung.kind, name=rung.name,
                     owner_role=rung.owner_role, deadline=today)
            for case in cases
        ]
    )
    for case, step in zip(cases, steps):
        case.current_step = step
    Case.objects.bulk_update(cases, ["current_step"])
    return station, clerk


def _start_worker(env) -> subprocess.Popen:
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "helsestasjon", "worker", "--concurrency", "2", "--pool", "prefork",
         "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"bench-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    return worker


def _children_of(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def _peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds(pids) -> float:
    """User + system CPU time of processes (from /proc), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _run_batch(station, clerk, timeout=600.0) -> float:
    from followup.letters.models import BatchState, LetterBatch
    from followup.letters.batch import letter_batch_start

    from django.db.models import Max, Min
    from django.utils import timezone

    from followup.letters.models import Letter

    started, clicked = time.perf_counter(), timezone.now()
    batch = letter_batch_start(station=station, user=clerk)  # commits, then enqueues (on_commit)
    while True:
        state = LetterBatch.objects.filter(id=batch.id).values_list("state", flat=True).get()
        if state == BatchState.READY:
            seconds = time.perf_counter() - started
            span = Letter.objects.filter(batch=batch).aggregate(first=Min("produced_at"), last=Max("produced_at"))
            ready = LetterBatch.objects.get(id=batch.id).ready_at
            print(f"  first letter stored after {(span['first'] - clicked).total_seconds():.1f} s, last after "
                  f"{(span['last'] - clicked).total_seconds():.1f} s, print file ready after {(ready - clicked).total_seconds():.1f} s")
            return seconds
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"batch {batch.id} did not finish in {timeout} s (state {state})")
        time.sleep(0.05)


def _start_fake_svarut():
    from followup.letters.svarut.fake import FakeSvarUt, FakeSvarUtServer

    account = "5f0c1a9e-2b7d-4c3e-8a61-9d4e2f7b0c55"
    contact = {"status": "Active", "reservation": "No", "digitalPost": {"digitalPostVendorAddress": "digipost"}}
    server = FakeSvarUtServer(FakeSvarUt(account=account, token="bench-token", krr=lambda nin: contact))
    server.start_in_thread()
    os.environ.update(SVARUT_BASE_URL=server.base_url, SVARUT_EXTERNAL_REFERENCE_URL=server.lookup_url, SVARUT_ACCOUNT=account,
                      SVARUT_TOKEN="bench-token")
    return server


def _run_digital(station, n: int, timeout=600.0) -> tuple[float, float, float]:
    """Make the station's letters (they go digitally) and wait until every one is accepted by SvarUt."""
    from django.db.models import Max, Min
    from django.utils import timezone

    from followup.letters.models import Letter
    from followup.letters.making import letters_create_due
    from followup.letters.svarut.choices import SendState

    started, clicked = time.perf_counter(), timezone.now()
    letters_create_due(station=station)  # commits, then enqueues the dispatch (on_commit)
    while Letter.objects.filter(station=station, send_state=SendState.ACCEPTED).count() < n:
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"digital letters of station {station.id} not all sent in {timeout} s")
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    span = Letter.objects.filter(station=station).aggregate(
        first_sent=Min("sent_at"), last_sent=Max("sent_at"), last_produced=Max("produced_at"))
    render = (span["last_produced"] - clicked).total_seconds()
    send_span = (span["last_sent"] - span["first_sent"]).total_seconds()
    print(f"  last letter rendered after {render:.1f} s, first accepted by SvarUt after {(span['first_sent'] - clicked).total_seconds():.1f} s, "
          f"last after {(span['last_sent'] - clicked).total_seconds():.1f} s")
    return seconds, render, send_span


def _floor(station, n: int) -> tuple[float, float, int]:
    """WeasyPrint alone: the station's letters' HTML (built beforehand) as one document."""
    from followup.letters import rendering
    from followup.letters.models import Letter
    from followup.letters.making import letters_create_due
    from followup.letters.printing import letter_context

    letters_create_due(station=station)
    letters = list(
        Letter.objects.filter(station=station)
        .select_related("child", "station__municipality", "appointment__professional", "appointment__consultation__step")
        .order_by("id")
    )
    assert len(letters) == n
    html = rendering.letters_html([letter_context(letter) for letter in letters])
    started, cpu_started = time.perf_counter(), time.process_time()
    pdf = rendering.html_to_pdf(html)
    return time.perf_counter() - started, time.process_time() - cpu_started, len(pdf)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--letters", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2, help="floor and batch alternate; the best of each counts")
    args = parser.parse_args()
    n = args.letters
    _setup_django()

    from django.db import connection

    from followup.letters import rendering
    from followup.letters.models import Letter, LetterBatch, LetterState
    from followup.letters.printing import letter_context

    print(f"Building {args.rounds} x {n} children with a letter step ...", flush=True)
    warm_station, warm_clerk = _build("Oppvarming", 8)
    rounds = [(_build("Benchmark", n), _build("Benchmark", n)) for _ in range(args.rounds)]
    digital_rounds = [_build("Digital", n, mailbox=True) for _ in range(args.rounds)]
    fake_svarut = _start_fake_svarut()
    warm_letter = Letter(kind="new_invitation", child=warm_station.children.first(), station=warm_station, recipient_name="X", pk=0)
    rendering.html_to_pdf(rendering.letters_html([letter_context(warm_letter)]))  # warm fonts, as the workers are
    connection.close()

    worker = _start_worker(dict(os.environ))
    floors, batches, cpus, checks = [], [], [], []
    digitals = []
    try:
        time.sleep(3)
        _run_batch(warm_station, warm_clerk)  # workers warm (fonts loaded), as in production
        children = _children_of(worker.pid)
        for index, ((floor_station, _), (station, clerk)) in enumerate(rounds, start=1):
            load = os.getloadavg()[0]
            floor_seconds, floor_cpu, floor_size = _floor(floor_station, n)
            floors.append(floor_seconds)
            print(f"round {index} (load {load:.1f}): floor {n} letters in {floor_seconds:.1f} s = {n / floor_seconds:.1f} letters/s "
                  f"({floor_cpu:.1f} CPU-s, {n / floor_cpu:.1f} letters/CPU-s, {floor_size / 1e6:.1f} MB)", flush=True)
            cpu_before = _cpu_seconds(children + [worker.pid])
            per_child = [_cpu_seconds([pid]) for pid in children]
            seconds = _run_batch(station, clerk)
            cpu = _cpu_seconds(children + [worker.pid]) - cpu_before
            per_child = [_cpu_seconds([pid]) - before for pid, before in zip(children, per_child)]
            batches.append(seconds)
            cpus.append(cpu)
            batch = LetterBatch.objects.filter(station=station).get()
            archived = sum(1 for letter in Letter.objects.filter(station=station) if letter.pdf and Path(letter.pdf.path).exists())
            produced = Letter.objects.filter(station=station, state=LetterState.PRODUCED).count()
            checks.append(produced == n and archived == n)
            print(f"round {index}: batch path {n} letters ({produced} produced, {archived} archived PDFs, print PDF of "
                  f"{batch.page_count} pages, {Path(batch.pdf.path).stat().st_size / 1e6:.1f} MB) in {seconds:.1f} s = "
                  f"{n / seconds:.1f} letters/s (workers {cpu:.1f} CPU-s = " + " + ".join(f"{c:.1f}" for c in per_child)
                  + f", {n / cpu:.1f} letters/CPU-s)", flush=True)
            digital_station, _ = digital_rounds[index - 1]
            seconds, render, send_span = _run_digital(digital_station, n)
            digitals.append(seconds)
            received = fake_svarut.svarut.received()["per_reference"]
            mine = [ref for ref in received if True]
            checks.append(all(count == 1 for count in received.values()))
            print(f"round {index}: digital path {n} letters rendered and sent to the fake SvarUt in {seconds:.1f} s = "
                  f"{n / seconds:.1f} letters/s (SvarUt received {len(mine)} forsendelser so far, none twice: "
                  f"{all(count == 1 for count in received.values())}; sends spread over {send_span:.1f} s)", flush=True)
        peaks = {pid: _peak_mib(pid) for pid in children}
        parent_peak = _peak_mib(worker.pid)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)

    floor_rate, rate = n / min(floors), n / min(batches)
    ratio = rate / floor_rate
    worst = max(peaks.values()) if peaks else 0.0
    print(f"floor (best): {floor_rate:.1f} letters/s; batch path (best): {rate:.1f} letters/s")
    print(f"ratio batch/floor: {ratio:.2f} (target >= {TARGET_RATIO}); load average now {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs (other processes take cores from the two workers)")
    print("worker peak memory (VmHWM): " + ", ".join(f"{mib:.0f} MiB" for mib in peaks.values())
          + f"; parent {parent_peak:.0f} MiB (target < {TARGET_WORKER_MIB} MiB)")
    digital_rate = n / min(digitals)
    digital_ratio = digital_rate / floor_rate
    send_overhead = min(digitals) / min(batches) - 1
    print(f"digital path (best): {digital_rate:.1f} letters/s; ratio digital/floor: {digital_ratio:.2f} (target >= {TARGET_RATIO}); "
          f"send step adds {100 * send_overhead:.1f} % to the print batch's render time (target <= {100 * TARGET_SEND_OVERHEAD:.0f} %)")
    ok = all(checks) and ratio >= TARGET_RATIO and worst < TARGET_WORKER_MIB and parent_peak < TARGET_WORKER_MIB
    ok = ok and digital_ratio >= TARGET_RATIO and send_overhead <= TARGET_SEND_OVERHEAD
    print("verdict: " + ("target met" if ok else "TARGET MISSED"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
