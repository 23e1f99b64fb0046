"""Django's database session store, reading the session with one hand-written query."""

from __future__ import annotations

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import connections, router
from django.utils import timezone


class SessionStore(DatabaseSessionStore):
    """Sessions stay in the database (revocable, no cache needed to log in).

    Only the read differs from Django's store: every request of a logged-in user
    loads the session, and compiling the ORM query for it cost more than running
    it (benchmarks/day_view.py). Writes, expiry and clearing are Django's.
    """

    def _get_session_from_db(self):
        key = self.session_key
        if not key or "\x00" in key:
            self._session_key = None
            return None
        model = self.model
        connection = connections[router.db_for_read(model)]
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT session_data FROM {connection.ops.quote_name(model._meta.db_table)}"
                " WHERE session_key = %s AND expire_date > %s",
                [key, connection.ops.adapt_datetimefield_value(timezone.now())],
            )
            row = cursor.fetchone()
        if row is None:
            self._session_key = None
            return None
        return model(session_key=key, session_data=row[0])
