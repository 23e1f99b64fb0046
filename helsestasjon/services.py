"""Services of the shared domain: the access log."""

from __future__ import annotations

from django.db import connections, router
from django.utils import timezone

from helsestasjon.models import AccessLog, Child, User


def access_log_record(*, user: User, child: Child, action: str, what: str, path: str = "") -> AccessLog:
    return AccessLog.objects.create(
        at=timezone.now(),
        user=user,
        username=user.get_username(),
        role=user.role,
        child=child,
        station_id=child.station_id,
        action=action,
        what=what[:200],
        path=path[:500],
    )


def access_log_record_many(*, user: User, children, action: str, what: str, path: str = "") -> int:
    """One row per child shown in a list or export, written in one statement."""
    now = timezone.now()
    rows = [
        AccessLog(
            at=now,
            user=user,
            username=user.get_username(),
            role=user.role,
            child_id=child.pk,
            station_id=child.station_id,
            action=action,
            what=what[:200],
            path=path[:500],
        )
        for child in children
    ]
    if not rows:
        return 0
    # bulk_create wraps its INSERT in a transaction: outside one that is three
    # round trips (BEGIN, INSERT, COMMIT) on a list page a nurse opens all day.
    # A single multi-row INSERT is atomic by itself, so when it fits in one
    # statement it is sent alone.
    connection = connections[router.db_for_write(AccessLog)]
    fields = [f for f in AccessLog._meta.concrete_fields if not f.primary_key]
    if connection.get_autocommit() and connection.ops.bulk_batch_size(fields, rows) >= len(rows):
        AccessLog._base_manager._insert(rows, fields=fields, using=connection.alias)
    else:
        AccessLog.objects.bulk_create(rows)
    return len(rows)
