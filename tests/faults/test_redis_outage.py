"""Redis stopped while nurses record outcomes.

A private redis-server is started and stopped by the test (the shared one is
never touched). With it down, the application process records an outcome as
usual: the outcome is committed, the nudge to the follow-up sweep is lost and
logged. When Redis is back, a real Celery worker runs the sweep and the case
appears: nothing was lost, because the sweep derives its work from the tables.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.utils import timezone

from attendance.models import OutcomeEvent
from attendance.booking import appointment_book
from attendance.plan import child_plan
from followup.models import Case
from tests.factories import ChildFactory, GuardianshipFactory
from tests.subprocess_env import database_url_for_subprocess

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.skipif(not shutil.which("redis-server"), reason="no redis-server")]

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _database_url() -> str:
    return database_url_for_subprocess()


class PrivateRedis:
    def __init__(self):
        self.port = _free_port()
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("private redis did not start")

    def stop(self):
        if self.process:
            self.process.kill()
            self.process.wait()
            self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"


@pytest.fixture
def private_redis():
    redis = PrivateRedis()
    redis.start()
    yield redis
    redis.stop()


def _env(redis_url: str) -> dict:
    return {
        **{k: v for k, v in os.environ.items() if k not in ("CELERY_TASK_ALWAYS_EAGER",)},
        "DEBUG": "true", "ALLOW_SYNTHETIC_IDS": "true", "DATABASE_URL": _database_url(), "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "helsestasjon.settings", "ALLOWED_HOSTS": "testserver",
    }


RECORD = """
import time, django
django.setup()
from django.test import Client
from django.urls import reverse
from helsestasjon.models import User
client = Client()
client.force_login(User.objects.get(username="sykepleier_a"))
started = time.monotonic()
response = client.post(reverse("attendance:record_outcome", args=[{appointment_id}]),
                       {{"outcome": "not_brought", "reason": "forgot"}}, HTTP_HX_REQUEST="true")
print(response.status_code, round(time.monotonic() - started, 2))
"""


def test_outcomes_are_recorded_while_redis_is_down_and_followup_catches_up(private_redis, station_a, nurse_a):
    child = ChildFactory(station=station_a, birth_date=timezone.localdate() - timezone.timedelta(days=100))
    GuardianshipFactory(child=child)
    child_plan(child=child)
    consultation = child.consultations.filter(state="due").first()
    appointment = appointment_book(
        consultation=consultation, starts_at=timezone.now() - timezone.timedelta(hours=1), duration_minutes=30,
        place="station", room="1", professional=nurse_a, booked_by=nurse_a,
    )

    private_redis.stop()
    result = subprocess.run(
        [sys.executable, "-c", RECORD.format(appointment_id=appointment.id)], cwd=ROOT, env=_env(private_redis.url),
        capture_output=True, text=True, timeout=120,
    )
    status, seconds = result.stdout.split()[-2:]
    assert status == "200", result.stderr[-3000:]
    assert float(seconds) < 5, f"recording took {seconds} s with Redis down"
    assert OutcomeEvent.objects.filter(appointment=appointment, outcome="not_brought").count() == 1
    assert not Case.objects.filter(child=child).exists()

    private_redis.start()
    env = _env(private_redis.url)
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "helsestasjon", "worker", "--pool", "solo", "--loglevel", "WARNING",
         "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        # What beat does every 15 minutes: send the sweep. The worker runs it.
        subprocess.run(
            [sys.executable, "-c", "import django;django.setup();from followup.tasks import sweep;sweep.delay()"],
            cwd=ROOT, env=env, check=True, timeout=60,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not Case.objects.filter(child=child).exists():
            time.sleep(0.5)
        assert Case.objects.filter(child=child, status="open").count() == 1
    finally:
        worker.kill()
        worker.wait()
