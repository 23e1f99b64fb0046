"""Django's database session store, read with a hand-written statement (with the user's row) and refusing a session key PostgreSQL cannot compare."""

from __future__ import annotations

import hashlib

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import connections, router
from django.utils import timezone

# Whose session each recently loaded session was in this process (a digest of the key -> the user id stored
# in it): only a guess of which user row to read in the same round trip as the session. The row is used only
# when the session just read names that same user (helsestasjon.backends.offer_user_row); nothing is believed
# from here. Bounded; the keys themselves are not kept.
_USER_OF: dict[bytes, str] = {}
_USER_OF_MAX = 10_000


def _digest(session_key: str) -> bytes:
    return hashlib.blake2b(session_key.encode(), digest_size=16).digest()


class SessionStore(DatabaseSessionStore):
    """Sessions stay in the database (revocable, no cache needed to log in).

    Django's store, but every request's read of the session is one hand-written
    statement, the same as Django's ``Session.objects.get(session_key=...,
    expire_date__gt=now)``: building that queryset cost 0.3-0.4 ms per request,
    as much as running it. When this process has loaded the session before, the
    statement of the authentication backend for the user it named is sent in the
    same round trip, and the backend takes that row if the session still names
    the user: one round trip per request fewer (docs/decisions.md, "The day
    view's fixed stack"). A key with a NUL character is turned away before the
    query: PostgreSQL refuses NUL in text (a DataError, a 500, where an unknown
    key means a new session).
    """

    _sql: str | None = None

    @classmethod
    def _read_sql(cls) -> str:
        if cls._sql is None:
            meta = cls.get_model_class()._meta
            table, (key, data, expires) = meta.db_table, (meta.get_field(name).column for name in ("session_key", "session_data", "expire_date"))
            cls._sql = f'SELECT "{data}", "{expires}" FROM "{table}" WHERE "{key}" = %s AND "{expires}" > %s'
        return cls._sql

    def _valid_key(self) -> bool:
        if not self.session_key or "\x00" in self.session_key:
            self._session_key = None
            return False
        return True

    def _get_session_from_db(self):
        if not self._valid_key():
            return None
        with connections[router.db_for_read(self.model)].cursor() as cursor:
            cursor.execute(self._read_sql(), [self.session_key, timezone.now()])
            return self._found(cursor.fetchone())

    def _found(self, found):
        if found is None:
            self._session_key = None  # unknown or expired: a new session, as in Django's store
            return None
        return self.model(session_key=self.session_key, session_data=found[0], expire_date=found[1])

    def load(self):
        from helsestasjon.backends import offer_user_row, user_read

        guess = _USER_OF.get(_digest(self.session_key)) if self._valid_key() else None
        if guess is None:
            data = super().load()
        else:
            user_sql, user_params = user_read(guess)
            with connections[router.db_for_read(self.model)].cursor() as cursor:
                # Two statements in one execute: Django's psycopg cursor binds on the client, which allows it.
                cursor.execute(f"{self._read_sql()};\n{user_sql}", [self.session_key, timezone.now(), *user_params])
                session = self._found(cursor.fetchone())
                cursor.nextset()
                user_row = cursor.fetchone()
            data = self.decode(session.session_data) if session else {}
            if user_row is not None and data.get(SESSION_KEY) == guess:
                offer_user_row(guess, user_row)
        user_id = data.get(SESSION_KEY)
        if user_id is not None and self.session_key:
            if len(_USER_OF) >= _USER_OF_MAX:
                _USER_OF.clear()
            _USER_OF[_digest(self.session_key)] = str(user_id)
        return data
