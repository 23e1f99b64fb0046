"""The authentication backend: Django's ModelBackend, loading the user with the user's stations."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.contrib.postgres.expressions import ArraySubquery
from django.db.models import OuterRef

from helsestasjon.models import Role, User

_LINKS = User.stations.through


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
        stations = _LINKS.objects.filter(user_id=OuterRef("pk")).order_by("station_id").values("station_id")
        try:
            user = User._default_manager.annotate(station_list=ArraySubquery(stations)).get(pk=pk)
        except User.DoesNotExist:
            return None
        if user.role != Role.ADMIN:
            user._station_ids = list(user.station_list)
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
