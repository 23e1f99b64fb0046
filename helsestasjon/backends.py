"""The authentication backend: Django's ModelBackend, loading the user with the user's stations."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.db import connection

from helsestasjon.models import Role, User

_FIELDS = list(User._meta.concrete_fields)
_ATTNAMES = [f.attname for f in _FIELDS]
_COLUMNS = ", ".join(f"u.{connection.ops.quote_name(f.column)}" for f in _FIELDS)
_LINKS = User.stations.through._meta.db_table


_SQL = (
    f"SELECT {_COLUMNS}, (SELECT array_agg(s.station_id ORDER BY s.station_id) FROM {_LINKS} s WHERE s.user_id = u.id)"
    f" FROM {User._meta.db_table} u WHERE u.id = %s"
)


class StationModelBackend(ModelBackend):
    """Loads the logged-in user and the ids of the user's stations in one statement.

    Every page of a logged-in user asks which stations the user belongs to (the
    station isolation rule); reading them with the user saves a round trip per
    page. They are read fresh on every request, so a change of stations takes
    effect at the user's next click, as before.
    """

    def get_user(self, user_id):
        try:
            pk = User._meta.pk.to_python(user_id)
        except Exception:
            return None
        with connection.cursor() as cursor:
            cursor.execute(_SQL, [pk])
            row = cursor.fetchone()
        if row is None:
            return None
        *values, stations = row
        user = User.from_db(connection.alias, _ATTNAMES, _converted(values))
        if user.role != Role.ADMIN:
            user._station_ids = list(stations or [])
        return user if self.user_can_authenticate(user) else None


_converters: list | None = None


def _converted(values):
    """Values as the ORM hands them to the model: the backend's and the fields' converters applied."""
    global _converters
    converters = _converters
    if converters is None:
        # Built whole, then published: another thread never sees a partial list.
        converters = []
        for field in _FIELDS:
            col = field.get_col(User._meta.db_table)
            converters.append((col, connection.ops.get_db_converters(col) + field.get_db_converters(connection)))
        _converters = converters
    out = []
    for (col, functions), value in zip(converters, values):
        for function in functions:
            value = function(value, col, connection)
        out.append(value)
    return out


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
