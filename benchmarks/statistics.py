"""The leader's statistics page on an Oslo-size dataset.

Builds (or reuses) a municipality of 15 stations and 45,000 children born over the
last six years, each with the 14 consultations in every state the programme
knows (on time, late, expired, open, not applicable after a move-in, children who
moved, emigrated or died), about 650,000 appointments with their outcome events
and reasons, and follow-up cases with steps and reports of concern. Rows are
written with COPY, so a build takes a minute or two; later runs reuse it.

Then reports in one run:

- queries per page request, for a year and all stations (must not depend on the
  number of children: the same count is asserted for one station);
- median and worst server time of the page (the whole Django stack in-process:
  session, authentication, every aggregate, the SVG charts, the template);
- the same for the child list behind the largest figure and for the KOSTRA CSV;
- the CPU time of the page request (this process plus its PostgreSQL backend, parallel
  query off): the time it takes on an idle core, which a busy shared machine hides;
- the verdict against the target: the page for a year and all stations, with both the
  cohort coverage and the KOSTRA report as SSB counts it, <= 500 ms.

Run against your own PostgreSQL database (created if missing):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hs_bench_stat python3 benchmarks/statistics.py [--children 45000] [--rebuild]
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named like the standard library's "statistics"; take its own
# directory off the import path so "import statistics" finds the real one.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time
from datetime import date, datetime, timedelta
from datetime import time as clock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helsestasjon.settings")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-0123456789-abcdefghijklmnop")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SECURE_COOKIES", "false")
os.environ.setdefault("ALLOW_SYNTHETIC_IDS", "true")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("SMS_BACKEND", "memory")

TARGET_SECONDS = 0.5
STATIONS = 15
NURSES = 60
MUNICIPALITY = ("0301", "Oslo")
RUNS = 7


def ensure_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1].split("?")[0]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


# --- building the dataset ----------------------------------------------------------------------


def copy_rows(model, rows: list[dict]) -> None:
    """COPY dicts into the model's table; missing columns take the field's default."""
    from django.db import connection

    fields = [f for f in model._meta.concrete_fields]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    defaults = {f.attname: f.get_default() for f in fields}
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(f"COPY {model._meta.db_table} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row.get(f.attname, defaults[f.attname]) for f in fields])


def reset_sequences(*models) -> None:
    from django.core.management.color import no_style
    from django.db import connection

    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), list(models)):
            cursor.execute(sql)


def aware(day: date, hour: int = 10) -> datetime:
    from django.utils import timezone

    return timezone.make_aware(datetime.combine(day, clock(hour)))


class _Dataset:
    """The benchmark municipality's rows, drawn from one random generator in a fixed order (so a
    build with the same seed gives the same data), then written with COPY."""

    def __init__(self, *, rng: random.Random, stations, nurse, nurses, steps):
        from django.utils import timezone

        from attendance.models import CHOSEN_REASONS
        from followup.models import CloseReason, StepKind

        self.rng, self.stations, self.nurse, self.nurses, self.steps = rng, stations, nurse, nurses, steps
        self.today, self.now = timezone.localdate(), timezone.now()
        self.reasons = [value for value, _label in CHOSEN_REASONS]
        self.close_reasons = [CloseReason.ATTENDED] * 6 + [CloseReason.MOVED_OUT, CloseReason.GP_CONFIRMED, CloseReason.LEADER_CLOSED]
        self.ladder = list(StepKind.values)
        self.slots_used: dict[date, int] = {}
        self.children, self.consultations, self.appointments, self.events = [], [], [], []
        self.cases, self.casesteps, self.decisions = [], [], []

    def appointment(self, cid: int, child: dict, day: date, status: str, reason: str = "", place: str = "station") -> None:
        appointment_id = len(self.appointments) + 1
        slot = self.slots_used.get(day, 0)
        self.slots_used[day] = slot + 1
        starts = aware(day, 8) + timedelta(minutes=30 * (slot // NURSES))
        self.appointments.append({
            "id": appointment_id, "consultation_id": cid, "child_id": child["id"], "station_id": child["station_id"],
            "starts_at": starts, "duration_minutes": 30, "place": place, "room": "", "professional_id": self.nurses[slot % NURSES].pk,
            "status": status, "booked_by_id": self.nurse.pk, "booked_at": starts - timedelta(days=14),
        })
        if status != "booked":
            self.events.append({
                "id": len(self.events) + 1, "appointment_id": appointment_id, "outcome": status, "reason": reason,
                "recorded_by_id": self.nurse.pk, "recorded_at": starts + timedelta(hours=1), "note": "",
            })

    def child(self, index: int) -> None:
        """One child born over the last six years: arrived at birth or later, perhaps gone since."""
        rng, today = self.rng, self.today
        born = today - timedelta(days=rng.randrange(0, 6 * 365))
        age_days = (today - born).days
        arrived = born if rng.random() < 0.88 else born + timedelta(days=rng.randrange(0, age_days + 1))
        roll = rng.random()
        status = "active" if roll < 0.91 else "moved" if roll < 0.96 else "emigrated" if roll < 0.995 else "deceased"
        left = None if status == "active" else arrived + timedelta(days=rng.randrange(0, max(1, (today - arrived).days + 1)))
        child = {
            "id": index, "national_id": f"9{index:010d}", "given_name": f"Barn{index}", "family_name": "Benchmark",
            "birth_date": born, "sex": "unknown", "station_id": self.stations[index % STATIONS].pk,
            "special_attention": rng.random() < 0.03,
            "status": status, "status_changed_at": aware(left or arrived, 12), "street_address": "", "postal_code": "", "city": "",
            "municipality_number": MUNICIPALITY[0], "urban_district_code": "", "address_protection": "Unclassified",
            "created_at": aware(arrived, 12),
        }
        self.children.append(child)
        missed_days = []
        for step in self.steps:
            missed_days += self.consultation(child, step, arrived, left)
        if missed_days:
            self.follow_up(child, missed_days)

    def consultation(self, child: dict, step, arrived: date, left: date | None) -> list[date]:
        """One consultation in the state its window and the child's stay give it; the days it was not brought."""
        rng, today = self.rng, self.today
        opens, closes = step.window_for(child["birth_date"])
        consultation_id = len(self.consultations) + 1
        place = "home" if step.code == "HV" else "station"
        row = {"id": consultation_id, "child_id": child["id"], "step_id": step.pk, "window_opens": opens, "window_closes": closes,
               "planned_at": aware(arrived, 12), "state_changed_at": aware(arrived, 12)}
        self.consultations.append(row)
        if closes <= arrived:
            row.update(state="not_applicable", not_applicable_at=aware(arrived, 12))
            return []
        last_day = min(closes, left or closes, today + timedelta(days=1))
        first_day = max(opens, arrived)
        if first_day >= last_day and opens > today:
            row["state"] = "planned"
            return []
        r = rng.random()
        missed_days = []
        if rng.random() < 0.12 and first_day < min(last_day, today):
            # Not brought (or cancelled) once before anything else happened.
            missed = first_day + timedelta(days=rng.randrange(0, max(1, (min(last_day, today) - first_day).days)))
            outcome = rng.choice(["not_brought", "not_brought", "not_brought", "cancelled_by_guardian", "cancelled_by_service"])
            self.appointment(consultation_id, child, missed, outcome, rng.choice(self.reasons) if outcome != "cancelled_by_service" else "", place)
            if outcome == "not_brought":
                missed_days.append(missed)
        day = self.attended_day(r, opens, closes, first_day, left)
        if day == "booked":
            self.appointment(consultation_id, child, today + timedelta(days=rng.randrange(1, 30)), "booked", place=place)
            row.update(state="booked", booked_at=self.now)
        elif day:
            self.appointment(consultation_id, child, day, "attended", place=place)
            row.update(state="completed", completed_at=aware(day, 15))
        elif left and left < closes or opens <= today < closes:
            row.update(state="due", **({} if left and left < closes else {"due_at": aware(opens, 2)}))
        elif closes <= today:
            row.update(state="expired", expired_at=aware(closes, 2))
        else:
            row["state"] = "planned"
        return missed_days

    def attended_day(self, r: float, opens: date, closes: date, first_day: date, left: date | None):
        """The day the child was seen (a date), "booked" for a time ahead, or None."""
        rng, today = self.rng, self.today
        if left and left < closes:
            if first_day < left and r < 0.5:
                return first_day + timedelta(days=rng.randrange(0, max(1, (left - first_day).days)))
            return None
        if closes <= today:
            if r < 0.74:
                return first_day + timedelta(days=rng.randrange(0, max(1, (closes - first_day).days)))
            if r < 0.86:
                return min(today, closes + timedelta(days=rng.randrange(0, 90)))
            return None
        if opens <= today:
            if r < 0.4 and first_day < today:
                return first_day + timedelta(days=rng.randrange(0, max(1, (today - first_day).days)))
            return "booked" if r < 0.7 else None
        return None

    def follow_up(self, child: dict, missed_days: list[date]) -> None:
        """A case after the first time not brought: its steps, closing, perhaps a report of concern."""
        rng, today = self.rng, self.today
        opened = min(missed_days) + timedelta(days=1)
        closed = opened + timedelta(days=rng.randrange(3, 120)) if rng.random() < 0.75 else None
        if closed and closed > today:
            closed = None
        case_id = len(self.cases) + 1
        self.cases.append({
            "id": case_id, "child_id": child["id"], "station_id": child["station_id"], "status": "closed" if closed else "open",
            "cycle": 1, "opened_at": aware(opened, 6), "triggered_at": aware(opened - timedelta(days=1)),
            "closed_at": aware(closed, 14) if closed else None, "close_reason": rng.choice(self.close_reasons) if closed else "",
            "close_note": "", "last_contact": "",
        })
        reached = rng.choice([1, 1, 1, 2, 2, 3, 4, 5, 8])
        for seq in range(1, reached + 1):
            active = seq == reached and not closed
            self.casesteps.append({
                "id": len(self.casesteps) + 1, "case_id": case_id, "cycle": 1, "seq": seq, "order": seq, "kind": self.ladder[seq - 1],
                "name": self.ladder[seq - 1], "owner_role": "clerk", "started_at": aware(opened + timedelta(days=seq)),
                "deadline": opened + timedelta(days=seq + 5), "status": "active" if active else "done", "overdue": False,
                "evidence": "", "skip_reason": "",
            })
        if reached == 8 and rng.random() < 0.5:
            self.decisions.append({
                "id": len(self.decisions) + 1, "case_id": case_id, "step_id": len(self.casesteps), "decision": "concern_report",
                "concern_report_date": opened + timedelta(days=30), "concern_report_reference": "BV",
                "note": "Benchmark", "decided_by_id": self.nurse.pk, "decided_at": aware(opened + timedelta(days=30)),
            })

    def write(self) -> None:
        from django.db import connection, transaction

        from attendance.models import Appointment, Consultation, OutcomeEvent
        from followup.models import Case, CaseClosure, CaseStep, LeaderDecision
        from helsestasjon.models import Child

        closures = [
            {"id": i, "case_id": row["id"], "child_id": row["child_id"], "cycle": 1, "opened_at": row["opened_at"],
             "closed_at": row["closed_at"], "reason": row["close_reason"], "closed_by_id": None}
            for i, row in enumerate((row for row in self.cases if row["closed_at"]), start=1)
        ]
        tables = [(Child, self.children), (Consultation, self.consultations), (Appointment, self.appointments),
                  (OutcomeEvent, self.events), (Case, self.cases), (CaseStep, self.casesteps),
                  (LeaderDecision, self.decisions), (CaseClosure, closures)]
        with transaction.atomic():
            for model, rows in tables:
                copy_rows(model, rows)
            reset_sequences(*(model for model, _rows in tables))
        with connection.cursor() as cursor:
            # The triggers wrote the summary child by child; laid out again in time order, as a
            # municipality's appointments accrue (followup/migrations/0014_statistics_summary.py).
            cursor.execute("SELECT followup_statistics_rebuild()")
            cursor.execute("ANALYZE")


def _empty_tables() -> None:
    from django.db import connection

    from attendance.models import Appointment, Consultation, OutcomeEvent
    from followup.models import Case, CaseClosure, CaseStep, LeaderDecision
    from followup.statistics.models import StatisticsAppointment, StatisticsChild, StatisticsConsultation
    from helsestasjon.models import Child

    # The statistics summary has no foreign keys (triggers keep it), so CASCADE does not reach it.
    summary = (StatisticsAppointment, StatisticsConsultation, StatisticsChild)
    tables = ", ".join(
        m._meta.db_table for m in (CaseClosure, LeaderDecision, CaseStep, Case, OutcomeEvent, Appointment, Consultation, Child, *summary)
    )
    with connection.cursor() as cursor:
        # The followup tables reference each other (case.current_step); TRUNCATE handles the cycle.
        cursor.execute(f"TRUNCATE {tables}, helsestasjon_accesslog RESTART IDENTITY CASCADE")


def build(children: int, seed: int = 8) -> None:
    from attendance.models import ProgrammeStep
    from helsestasjon.models import Municipality, Role, Station, User

    _empty_tables()
    municipality, _ = Municipality.objects.get_or_create(number=MUNICIPALITY[0], defaults={"name": MUNICIPALITY[1]})
    stations = [
        Station.objects.get_or_create(municipality=municipality, name=f"Helsestasjon bydel {i:02d}")[0] for i in range(1, STATIONS + 1)
    ]
    nurse, _ = User.objects.get_or_create(username="bench_nurse", defaults={"role": Role.NURSE})
    nurse.stations.set(stations)
    # A professional is never booked twice at once (an exclusion constraint): the day's
    # appointments are spread over a pool of nurses, each in its own half-hour slot.
    nurses = [User.objects.get_or_create(username=f"bench_nurse_{i:02d}", defaults={"role": Role.NURSE})[0] for i in range(NURSES)]
    data = _Dataset(rng=random.Random(seed), stations=stations, nurse=nurse, nurses=nurses, steps=list(ProgrammeStep.objects.order_by("order")))
    for index in range(1, children + 1):
        data.child(index)
    data.write()
    print(
        f"built: {len(data.children)} children, {len(data.consultations)} consultations, {len(data.appointments)} appointments, "
        f"{len(data.events)} outcome events, {len(data.cases)} cases, {len(data.casesteps)} case steps, "
        f"{len(data.decisions)} reports of concern"
    )


# --- measuring ------------------------------------------------------------------------------------


def measure(client, url: str, params: dict, runs: int = RUNS) -> tuple[list[float], int, int, float]:
    """Server times of ``runs`` requests, then one more request's query count and database time."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url, params)  # warm caches and the session
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        response = client.get(url, params)
        times.append(time.perf_counter() - start)
        assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as queries:
        client.get(url, params)
    database = sum(float(q["time"]) for q in queries.captured_queries)
    return times, len(queries), len(response.content), database


def cpu_seconds(client, url: str, params: dict, runs: int = RUNS) -> list[float] | None:
    """CPU seconds per request of this process plus its PostgreSQL backend, with parallel query off.

    On a shared machine wall time includes waiting for the CPU; this is the work
    itself, which on an idle core is the wall time (without parallel workers, so
    it errs on the slow side). None when the backend's /proc entry is not readable.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
        cursor.execute("SET max_parallel_workers_per_gather = 0")
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return None
    tick = os.sysconf("SC_CLK_TCK")

    def backend() -> float:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick  # utime + stime

    client.get(url, params)
    spent = []
    for _ in range(runs):
        before = time.process_time() + backend()
        client.get(url, params)
        spent.append(time.process_time() + backend() - before)
    with connection.cursor() as cursor:
        cursor.execute("RESET max_parallel_workers_per_gather")
    return spent


def _prepare(children: int, rebuild: bool) -> None:
    """Django set up, the schema migrated, the dataset built unless it is there already."""
    import django

    django.setup()
    from django.conf import settings

    # No collectstatic here: plain static storage, as the tests use.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    from django.core.management import call_command

    from helsestasjon.models import Child

    call_command("migrate", verbosity=0)
    if rebuild or Child.objects.filter(family_name="Benchmark").count() != children:
        started = time.perf_counter()
        build(children)
        print(f"build took {time.perf_counter() - started:.1f} s")
    else:
        print(f"reusing {children} children")


def _clients():
    """An administrator's client (all stations) and a leader's (one station), and the stations."""
    from django.test import Client

    from helsestasjon.models import Role, Station, User

    stations = list(Station.objects.filter(municipality__number=MUNICIPALITY[0]).order_by("name"))
    admin, _ = User.objects.get_or_create(username="bench_admin", defaults={"role": Role.ADMIN})
    leader, _ = User.objects.get_or_create(username="bench_leader", defaults={"role": Role.LEADER})
    leader.stations.set(stations[:1])
    admin_client, leader_client = Client(), Client()
    admin_client.force_login(admin)
    leader_client.force_login(leader)
    return admin_client, leader_client, stations


def _report(label: str, times: list[float], queries: int, size: int, database: float) -> None:
    median, worst = statistics.median(times), max(times)
    print(
        f"{label:<56} median {median * 1000:6.0f} ms  worst {worst * 1000:6.0f} ms  "
        f"{queries:3d} queries ({database * 1000:4.0f} ms in the database)  {size // 1024:3d} KiB"
    )


def _measure_pages(admin_client, leader_client, stations, year: int) -> tuple[list[float], int, int]:
    """Wall times of the page, the largest child list and the CSV; the page's times and query counts."""
    from django.urls import reverse

    period = {"fra": f"{year}-01-01", "til": f"{year}-12-31"}
    page = reverse("followup:statistics:page")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    all_times, all_queries, size, database = measure(admin_client, page, period)
    _report(f"page, {year}, all {len(stations)} stations (admin)", all_times, all_queries, size, database)
    this_year = {"fra": f"{year + 1}-01-01", "til": f"{year + 1}-12-31"}
    _report(f"page, {year + 1} (still open windows), all stations", *measure(admin_client, page, this_year))
    times, one_queries, size, database = measure(leader_client, page, period)
    _report(f"page, {year}, one station (leader)", times, one_queries, size, database)
    _report(
        "child list, home visit due (200 per page, access-logged)",
        *measure(admin_client, reverse("followup:statistics:children"),
                 {**period, "tall": "coverage", "kategori": "due", "konsultasjon": "HV"}, runs=3),
    )
    _report("KOSTRA CSV, all stations", *measure(admin_client, reverse("followup:statistics:kostra_csv"), period, runs=3))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return all_times, all_queries, one_queries


def _measure_cpu(admin_client, year: int) -> list[float] | None:
    """CPU per page request for the year and the next; the year's figures."""
    from django.urls import reverse

    page = reverse("followup:statistics:page")
    spent_by_year = {label: cpu_seconds(admin_client, page, {"fra": f"{label}-01-01", "til": f"{label}-12-31"})
                     for label in (year, year + 1)}
    for label, spent in spent_by_year.items():
        if spent:
            print(
                f"CPU per request, page {label}, all stations (Django + PostgreSQL, one core, no parallel query): "
                f"median {statistics.median(spent) * 1000:.0f} ms, worst {max(spent) * 1000:.0f} ms"
            )
    return spent_by_year[year]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--children", type=int, default=45_000)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        print("Set DATABASE_URL to a PostgreSQL database of your own, e.g. .../hs_bench_stat")
        return 2
    ensure_database(url)
    _prepare(args.children, args.rebuild)
    from django.utils import timezone

    admin_client, leader_client, stations = _clients()
    year = timezone.localdate().year - 1
    all_times, all_queries, one_queries = _measure_pages(admin_client, leader_client, stations, year)
    cpu = _measure_cpu(admin_client, year)
    verdict = statistics.median(all_times) <= TARGET_SECONDS and max(all_times) <= TARGET_SECONDS
    if cpu and not verdict and max(cpu) <= TARGET_SECONDS:
        print("wall time is over the target but the work is under it: the machine is busy (see load average)")
    constant = one_queries == all_queries
    print()
    print(f"target: page for a year and all stations <= {TARGET_SECONDS:.1f} s: "
          f"{'MET' if verdict else 'NOT MET'} (worst {max(all_times):.3f} s)")
    print(f"queries constant (one station {one_queries}, all stations {all_queries}): {'yes' if constant else 'NO'}")
    return 0 if verdict and constant else 1


if __name__ == "__main__":
    sys.exit(main())
