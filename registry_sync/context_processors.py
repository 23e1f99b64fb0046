"""The number of register alerts not yet seen, for the nurses' and leaders' menu."""

from __future__ import annotations

from helsestasjon.models import Role
from registry_sync.models import Finding


def _unseen_count(user) -> int:
    """The user's stations' register alerts not yet seen (the partial index finding_unseen_alerts)."""
    if not user.station_ids():
        return 0
    return Finding.objects.for_user(user).unseen_alerts().count()


class _UnseenAlerts:
    """Counted once, and only when a page prints the menu (not for htmx partials)."""

    def __init__(self, user):
        self._user = user
        self._count = None

    def _value(self) -> int:
        if self._count is None:
            self._count = _unseen_count(self._user)
        return self._count

    def __bool__(self) -> bool:
        return self._value() > 0

    def __int__(self) -> int:
        return self._value()

    def __str__(self) -> str:
        return str(self._value())


def alerts(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or user.role not in (Role.NURSE, Role.LEADER):
        return {"register_alerts": None}  # Defined, so the menu reads no undefined name.
    return {"register_alerts": _UnseenAlerts(user)}
