"""PostgreSQL restarted under load: the application recovers without manual action.

The test runs its own PostgreSQL cluster (initdb into a temporary folder, a free
port), so the shared server the suite uses is never touched. gunicorn serves the
nurse's day list while requests keep coming; the cluster is restarted in the
middle. Requests during the restart may fail, but the same gunicorn processes
answer 200 again afterwards, and data written before the restart is intact.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")

pytestmark = pytest.mark.skipif(
    not (PG_BIN / "initdb").exists() or os.geteuid() != 0, reason="needs PostgreSQL 15 binaries and root to switch user"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(*args: str, check=True) -> subprocess.CompletedProcess:
    return subprocess.run(["runuser", "-u", "postgres", "--", *args], check=check, capture_output=True, text=True, timeout=120)


@pytest.fixture
def private_cluster():
    folder = Path(tempfile.mkdtemp(prefix="hs-pg-"))
    shutil.chown(folder, "postgres")
    data = folder / "data"
    port = _free_port()
    _as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    ctl = [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-w",
           "-o", f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"]
    _as_postgres(*ctl, "start")
    _as_postgres(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "helsestasjon")
    try:
        yield {"port": port, "ctl": ctl, "url": f"postgres://postgres@127.0.0.1:{port}/helsestasjon"}
    finally:
        _as_postgres(*ctl, "stop", "-m", "immediate", check=False)
        shutil.rmtree(folder, ignore_errors=True)


def test_the_application_recovers_after_a_postgres_restart(private_cluster):
    env = {
        **os.environ, "DATABASE_URL": private_cluster["url"], "DEBUG": "true", "ALLOW_SYNTHETIC_IDS": "true",
        "LOG_LEVEL": "ERROR", "DJANGO_SETTINGS_MODULE": "helsestasjon.settings",
    }
    env.pop("REDIS_URL", None)  # In-process tasks: this test is about the database only.
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([sys.executable, "manage.py", "seed_demo", "--children", "60"], cwd=ROOT, env=env, check=True, capture_output=True)

    port = _free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "helsestasjon.wsgi:application", "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--timeout", "30", "--log-level", "critical"],
        cwd=ROOT, env=env,
    )
    base = f"http://127.0.0.1:{port}"
    results: list[tuple[float, int]] = []
    stop = threading.Event()

    def nurse():
        session = requests.Session()
        page = session.get(f"{base}/logg-inn/", timeout=10)
        token = page.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
        session.post(f"{base}/logg-inn/", data={"username": "sykepleier_a", "password": "helsestasjon-demo",
                                                 "csrfmiddlewaretoken": token}, timeout=10)
        deadline = time.monotonic() + 60  # bounded however the test goes
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                status = session.get(f"{base}/dag/", timeout=10, allow_redirects=False).status_code
            except requests.RequestException:
                status = 0
            results.append((time.monotonic(), status))
            time.sleep(0.05)

    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/logg-inn/", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.2)
        thread = threading.Thread(target=nurse)
        thread.start()
        # The nurse's day list answers a few times before the restart (a loaded host warms gunicorn slowly).
        warm_until = time.monotonic() + 60
        while sum(1 for _, status in results if status == 200) < 3 and time.monotonic() < warm_until and thread.is_alive():
            time.sleep(0.1)
        restarted_at = time.monotonic()
        _as_postgres(*private_cluster["ctl"], "restart", "-m", "fast")
        back_at = time.monotonic()
        time.sleep(4)
        stop.set()
        thread.join(30)
    finally:
        web.terminate()
        web.wait(30)

    before = [s for t, s in results if t < restarted_at]
    after = [s for t, s in results if t > back_at + 1]
    assert before and set(before) == {200}, before
    assert after, "no requests after the restart"
    # Recovered by itself: every request a second after the restart succeeds.
    assert set(after) == {200}, after
