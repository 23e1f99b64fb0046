"""What a subprocess started by a test (a Celery worker, gunicorn) needs to reach the test database,
and the killed-worker tests' shared steps: the worker's environment, starting and killing it, waiting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def database_url_for_subprocess() -> str:
    """The test database as a DATABASE_URL; the host may be a socket directory (the embedded PostgreSQL
    bin/test starts), quoted as a URL needs it."""
    d = connection.settings_dict
    return f"postgres://{d['USER']}@{quote(d['HOST'] or '127.0.0.1', safe='')}:{d['PORT'] or 5432}/{d['NAME']}"


def redis_client():
    """The suite's Redis (REDIS_URL), for the tests that empty the broker as a restart would."""
    import redis

    return redis.Redis.from_url(os.environ["REDIS_URL"])


def worker_env(media_root, **extra: str) -> dict:
    """This process's environment for a real Celery worker: the test database, tasks not eager, the
    test's MEDIA_ROOT, plus the test's own settings."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url_for_subprocess(), CELERY_TASK_ALWAYS_EAGER="false", MEDIA_ROOT=str(media_root),
        DEBUG="true", LOG_LEVEL="WARNING", **extra,
    )
    return env


@contextmanager
def killed_worker(name: str, env: dict):
    """A one-process prefork Celery worker named `name` that is killed with SIGKILL (the parent and its
    pool child, in mid-task) when the block ends."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "helsestasjon", "worker", "--concurrency", "1", "--pool", "prefork",
         "--loglevel", "WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat",
         "-n", f"{name}-{os.getpid()}@%h"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        yield worker
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)


def wait_until(predicate, timeout: float = 90.0, interval: float = 0.05) -> bool:
    """True as soon as predicate() is, False when `timeout` seconds pass first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
