"""The appointment figures' conditions on a row of the statistics summary, and each figure's bit.

One definition per figure (``RowCondition``) gives the Q its child list filters by and its bit in
``StatisticsAppointment.bits``, the column the database computes from the row's status and
``by_register`` (a generated column: ``bits_expression``), which the page's one pass counts.
A change here changes that column's expression, so ``makemigrations`` writes a migration for it.

Kept apart from appointments.py, which counts the figures, because the summary's model reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Case, Q, SmallIntegerField, Value, When

from attendance.models import AppointmentStatus

RECORDED_STATUSES = (
    AppointmentStatus.ATTENDED,
    AppointmentStatus.NOT_BROUGHT,
    AppointmentStatus.NO_ACCESS,
    AppointmentStatus.CANCELLED_BY_GUARDIAN,
    AppointmentStatus.CANCELLED_BY_SERVICE,
)
NOT_BROUGHT_STATUSES = (AppointmentStatus.NOT_BROUGHT, AppointmentStatus.NO_ACCESS)


@dataclass(frozen=True)
class RowCondition:
    """A figure's condition on a row of the summary: its statuses (None: any recorded one) and
    whether the register caused it (None: either)."""

    statuses: tuple[str, ...] | None
    by_register: bool | None = None

    def q(self) -> Q:
        condition = Q()
        if self.statuses is not None:
            condition &= Q(status=self.statuses[0]) if len(self.statuses) == 1 else Q(status__in=self.statuses)
        if self.by_register is not None:
            condition &= Q(by_register=self.by_register)
        return condition

    def holds(self, status: str, by_register: bool) -> bool:
        return (self.statuses is None or status in self.statuses) and self.by_register in (None, by_register)


# A time the station cancelled because the register reported a move or a death ("by_register")
# is shown apart and is not a "registered time" of the family.
APPOINTMENT_CONDITIONS: dict[str, RowCondition] = {
    "with_outcome": RowCondition(None, by_register=False),
    "attended": RowCondition((AppointmentStatus.ATTENDED,)),
    "not_brought": RowCondition(NOT_BROUGHT_STATUSES),
    "cancelled_by_guardian": RowCondition((AppointmentStatus.CANCELLED_BY_GUARDIAN,)),
    "cancelled_by_service": RowCondition((AppointmentStatus.CANCELLED_BY_SERVICE,), by_register=False),
    "cancelled_by_register": RowCondition(None, by_register=True),
}
FIGURE_BIT = {key: 1 << i for i, key in enumerate(APPOINTMENT_CONDITIONS)}
assert len(FIGURE_BIT) <= 15  # a smallint


def bits_expression() -> Case:
    """A row's bits: for each recorded status and by_register, the OR of the bits of every figure
    whose condition holds; 0 for a status without an outcome (booked, moved)."""
    arms = []
    for status in RECORDED_STATUSES:
        for by_register in (False, True):
            mask = sum(FIGURE_BIT[key] for key, condition in APPOINTMENT_CONDITIONS.items() if condition.holds(status, by_register))
            arms.append(When(status=str(status), by_register=by_register, then=Value(mask)))
    return Case(*arms, default=Value(0), output_field=SmallIntegerField())
