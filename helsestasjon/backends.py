"""The authentication backend: Django's ModelBackend, loading the user with the user's stations."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.db import connection

from helsestasjon.models import Role, User

_COLUMNS = ", ".join(f"u.{connection.ops.quote_name(f.column)}" for f in User._meta.concrete_fields)
_LINKS = User.stations.through._meta.db_table

# Hand-written, run through User.objects.raw (which applies the fields' and the
# backend's converters as a queryset does): the same statement as a queryset
# with an ArraySubquery cost 2.9 ms more per request, compiling it
# (docs/decisions.md, "Hand-written reads revisited").
_SQL = (
    f"SELECT {_COLUMNS}, (SELECT array_agg(s.station_id ORDER BY s.station_id) FROM {_LINKS} s WHERE s.user_id = u.id)"
    f" AS station_list FROM {User._meta.db_table} u WHERE u.id = %s"
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
        user = next(iter(User._default_manager.raw(_SQL, [pk])), None)
        if user is None:
            return None
        if user.role != Role.ADMIN:
            user._station_ids = list(user.station_list or [])
        del user.station_list
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
