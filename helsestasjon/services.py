"""Services of the shared domain: the access log."""

from __future__ import annotations

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
    AccessLog.objects.bulk_create(rows)
    return len(rows)
