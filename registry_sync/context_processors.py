"""The number of register alerts not yet seen, for the nurses' and leaders' menu."""

from __future__ import annotations

from django.db import connection

from helsestasjon.permissions import is_alerted
from registry_sync.models import ALERT_KINDS, Finding


def unseen_alerts_read(station_ids) -> tuple[str, list] | None:
    """The statement of ``_unseen_count`` and its parameters (None without stations), for a view that sends
    it in the same round trip as its own read and hands the count over with ``unseen_alerts_known``."""
    station_ids = list(station_ids)
    if not station_ids:
        return None
    kinds = [str(kind) for kind in ALERT_KINDS]
    sql = (f"SELECT count(*) FROM {Finding._meta.db_table} WHERE station_id IN ({', '.join(['%s'] * len(station_ids))}) "
           f"AND alert_seen_at IS NULL AND kind IN ({', '.join(['%s'] * len(kinds))}) AND child_id IS NOT NULL")
    return sql, [*station_ids, *kinds]


def _unseen_count(station_ids) -> int:
    """Finding.objects.for_user(user).unseen_alerts().count(), written by hand: it runs on
    every page a nurse opens, the day view included, and the queryset cost 3.3-4.3 ms more
    per page than this statement, nearly all of it compiling (docs/decisions.md, "Hand-written
    reads revisited"; tests/registry_sync/test_alerts.py checks the two agree). Uses the
    partial index finding_unseen_alerts."""
    read = unseen_alerts_read(station_ids)
    if read is None:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(*read)
        return cursor.fetchone()[0]


_KNOWN = "_unseen_register_alerts"


def unseen_alerts_known(request, rows) -> None:
    """The menu's count as read by the view with ``unseen_alerts_read`` (``rows``: that statement's result), so the
    page does not read it again. Only for the request's own user and stations, read during this request."""
    setattr(request, _KNOWN, int(rows[0][0]))


class _UnseenAlerts:
    """Counted once, and only when a page prints the menu (not for htmx partials)."""

    def __init__(self, user, count: int | None = None):
        self._user = user
        self._count = count

    def _value(self) -> int:
        if self._count is None:
            self._count = _unseen_count(self._user.station_ids())
        return self._count

    def __bool__(self) -> bool:
        return self._value() > 0

    def __int__(self) -> int:
        return self._value()

    def __str__(self) -> str:
        return str(self._value())


def alerts(request):
    user = getattr(request, "user", None)
    if user is None or not is_alerted(user):
        return {"register_alerts": None}  # Defined, so the menu reads no undefined name.
    return {"register_alerts": _UnseenAlerts(user, getattr(request, _KNOWN, None))}
