"""Cancelling a child's future appointments when the register reports a death or a move."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from attendance.errors import OutcomeConflict
from attendance.models import Appointment, AppointmentStatus, Outcome, Reason
from attendance.outcomes import appointment_record_outcome
from helsestasjon.models import Child, User

# What the register reported (registry_sync's words) -> the reason its cancellations carry.
REGISTER_CAUSES = {
    "deceased": Reason.REGISTER_DECEASED, "emigrated": Reason.REGISTER_MOVED, "moved_out": Reason.REGISTER_MOVED,
    "moved_station": Reason.REGISTER_MOVED,
}


@transaction.atomic
def child_cancel_future(*, child: Child, reason: str, recorded_by: User | None = None, register_cause: str = "") -> list[int]:
    """Cancel every future booked appointment of the child as cancelled by the station.

    Used when the register reports a death or a move. ``reason`` is stored as the
    events' note; ``register_cause`` (a key of REGISTER_CAUSES) gives the events their
    own reason ("Avlyst: flyttet", "Avlyst: død"), so the statistics show them apart
    from the station's own cancellations. Safe to run twice: only appointments still
    booked are touched. Returns the ids of the appointments this call cancelled.
    """
    cause = REGISTER_CAUSES.get(register_cause, "")
    now = timezone.now()
    future = list(
        Appointment.objects.filter(child=child, status=AppointmentStatus.BOOKED, starts_at__gte=now).values_list("pk", flat=True)
    )
    cancelled = []
    for pk in future:
        try:
            appointment_record_outcome(
                appointment=Appointment(pk=pk), outcome=Outcome.CANCELLED_BY_SERVICE, recorded_by=recorded_by, note=reason,
                reason=cause,
            )
            cancelled.append(pk)
        except OutcomeConflict:
            continue  # Recorded meanwhile by someone else.
    return cancelled
