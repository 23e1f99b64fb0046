"""Django's database session store, read with a hand-written statement and refusing a session key PostgreSQL cannot compare."""

from __future__ import annotations

from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import connections, router
from django.utils import timezone


class SessionStore(DatabaseSessionStore):
    """Sessions stay in the database (revocable, no cache needed to log in).

    Django's store, but every request's read of the session is one hand-written
    statement, the same as Django's ``Session.objects.get(session_key=...,
    expire_date__gt=now)``: building that queryset cost 0.3-0.4 ms per request,
    as much as running it (docs/decisions.md, "The day view's fixed stack").
    A key with a NUL character is turned away before the query: PostgreSQL
    refuses NUL in text (a DataError, a 500, where an unknown key means a new
    session).
    """

    _sql: str | None = None

    @classmethod
    def _read_sql(cls) -> str:
        if cls._sql is None:
            meta = cls.get_model_class()._meta
            table, (key, data, expires) = meta.db_table, (meta.get_field(name).column for name in ("session_key", "session_data", "expire_date"))
            cls._sql = f'SELECT "{data}", "{expires}" FROM "{table}" WHERE "{key}" = %s AND "{expires}" > %s'
        return cls._sql

    def _get_session_from_db(self):
        if not self.session_key or "\x00" in self.session_key:
            self._session_key = None
            return None
        with connections[router.db_for_read(self.model)].cursor() as cursor:
            cursor.execute(self._read_sql(), [self.session_key, timezone.now()])
            found = cursor.fetchone()
        if found is None:
            self._session_key = None  # unknown or expired: a new session, as in Django's store
            return None
        return self.model(session_key=self.session_key, session_data=found[0], expire_date=found[1])
