"""Database helpers shared by the hottest pages."""

from __future__ import annotations

from contextlib import contextmanager

from django.db import connection


@contextmanager
def prepared_cursor():
    """A Django cursor whose statements PostgreSQL plans once per connection.

    Django binds parameters on the client, so PostgreSQL plans every statement
    anew; for the day list planning took as long as running the query
    (benchmarks/day_view.py). On PostgreSQL this cursor binds parameters on the
    server, and psycopg prepares a statement after it has run a few times on the
    connection. Queries still go through Django's wrapper: they are logged,
    counted by the tests, and their errors are Django's. Elsewhere (SQLite) it
    is an ordinary cursor.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            import psycopg

            client_side = cursor.cursor
            cursor.cursor = psycopg.Cursor(connection.connection)
            client_side.close()
        yield cursor
