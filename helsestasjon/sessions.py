"""Django's database session store, refusing a session key PostgreSQL cannot compare."""

from __future__ import annotations

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore


class SessionStore(DatabaseSessionStore):
    """Sessions stay in the database (revocable, no cache needed to log in).

    Django's store, read with its own query. Only a key with a NUL character is
    turned away before the query: PostgreSQL refuses NUL in text (a DataError,
    a 500, where an unknown key means a new session).
    """

    def _get_session_from_db(self):
        if self.session_key and "\x00" in self.session_key:
            self._session_key = None
            return None
        return super()._get_session_from_db()
