"""The authentication backend: Django's ModelBackend, loading the user with the user's stations."""

from __future__ import annotations

import time
from contextvars import ContextVar

from django.contrib.auth.backends import ModelBackend
from django.db import connection, connections, router

from helsestasjon.models import Role, User

_COLUMNS = ", ".join(f"u.{connection.ops.quote_name(f.column)}" for f in User._meta.concrete_fields)
_LINKS = User.stations.through._meta.db_table
_FIELD_NAMES = [f.attname for f in User._meta.concrete_fields]

# Hand-written, and the user built with Model.from_db as a queryset builds it: the
# same statement as a queryset with an ArraySubquery cost 2.9 ms more per request,
# compiling it (docs/decisions.md, "Hand-written reads revisited"), and going through
# User.objects.raw another 0.3 ms ("The day view's fixed stack").
_SQL = (
    f"SELECT {_COLUMNS}, (SELECT array_agg(s.station_id ORDER BY s.station_id) FROM {_LINKS} s WHERE s.user_id = u.id)"
    f" AS station_list FROM {User._meta.db_table} u WHERE u.id = %s"
)


_CONVERTERS: dict[str, list[tuple[int, list, object]]] = {}


def _converters(conn) -> list[tuple[int, list, object]]:
    """The fields' and the backend's converters, as a queryset applies them (none for today's columns);
    worked out once per database alias, not on every request."""
    known = _CONVERTERS.get(conn.alias)
    if known is not None:
        return known
    found = []
    for index, f in enumerate(User._meta.concrete_fields):
        column = f.get_col(User._meta.db_table)
        converters = conn.ops.get_db_converters(column) + column.get_db_converters(conn)
        if converters:
            found.append((index, converters, column))
    _CONVERTERS[conn.alias] = found
    return found


# The user's row as read in the same round trip as the session (helsestasjon.sessions): (the session's user id,
# the row, when). get_user takes it instead of reading the row again, once, only for that user id and only
# moments after it was read; anything else reads the row as before.
_offered: ContextVar[tuple[str, tuple, float] | None] = ContextVar("user_row_read_with_session", default=None)
OFFER_SECONDS = 1.0


def user_read(user_id: str) -> tuple[str, list]:
    """The statement that get_user runs for this session user id, for the session store to send with its own read."""
    return _SQL, [User._meta.pk.to_python(user_id)]


def offer_user_row(user_id: str, row: tuple) -> None:
    """The row ``user_read(user_id)`` returned during this request, for the get_user that follows the session's load."""
    _offered.set((user_id, row, time.monotonic()))


def _take_offered(user_id) -> tuple | None:
    offered = _offered.get()
    if offered is None:
        return None
    _offered.set(None)
    offered_id, row, at = offered
    return row if offered_id == str(user_id) and time.monotonic() - at < OFFER_SECONDS else None


class StationModelBackend(ModelBackend):
    """Loads the logged-in user and the ids of the user's stations in one statement.

    Every page of a logged-in user asks which stations the user belongs to (the
    station isolation rule); reading them with the user saves a round trip per
    page. They are read fresh on every request, so a change of stations takes
    effect at the user's next click, as before. Usually the row arrives with the
    session, read in the same round trip (helsestasjon.sessions), still fresh.
    """

    def get_user(self, user_id):
        try:
            pk = User._meta.pk.to_python(user_id)
        except Exception:
            return None
        conn = connections[router.db_for_read(User)]
        row = _take_offered(user_id)
        if row is None:
            with conn.cursor() as cursor:
                cursor.execute(_SQL, [pk])
                row = cursor.fetchone()
        if row is None:
            return None
        *values, station_list = row
        for index, converters, column in _converters(conn):
            for converter in converters:
                values[index] = converter(values[index], column, conn)
        user = User.from_db(conn.alias, _FIELD_NAMES, values)
        if user.role != Role.ADMIN:
            user._station_ids = list(station_list or [])
        return user if self.user_can_authenticate(user) else None


def client_ip_address(request) -> str | None:
    """The address of the client behind settings.TRUSTED_PROXY_COUNT proxies (login throttling, AXES_CLIENT_IP_CALLABLE).

    Each trusted proxy appends the address it received the request from to X-Forwarded-For, so with
    N proxies the client is the N-th entry from the right; anything further left was written by the
    client and is not believed. A request that did not come through the proxies (fewer entries than
    proxies, or an entry that is not an address) is known by its own peer address.
    """
    import ipaddress

    from django.conf import settings

    peer = request.META.get("REMOTE_ADDR") or None
    count = settings.TRUSTED_PROXY_COUNT
    if count <= 0:
        return peer
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < count:
        return peer
    candidate = forwarded[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer
