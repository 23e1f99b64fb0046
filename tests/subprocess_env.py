"""What a subprocess started by a test (a Celery worker, gunicorn) needs to reach the test database."""

from __future__ import annotations

from urllib.parse import quote

from django.db import connection


def database_url_for_subprocess() -> str:
    """The test database as a DATABASE_URL; the host may be a socket directory (the embedded PostgreSQL
    bin/test starts), quoted as a URL needs it."""
    d = connection.settings_dict
    return f"postgres://{d['USER']}@{quote(d['HOST'] or '127.0.0.1', safe='')}:{d['PORT'] or 5432}/{d['NAME']}"
