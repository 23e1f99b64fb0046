"""What attendance refuses: the errors its services raise, each with the message the user sees (Norwegian)."""

from __future__ import annotations

from django.db import IntegrityError
from django.utils.translation import gettext

from attendance.models import Appointment, OutcomeEvent
from helsestasjon.models import User


class AttendanceError(Exception):
    """A rule was broken; ``message`` is shown to the user as it is (Norwegian)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BookingError(AttendanceError):
    pass


class OutcomeError(AttendanceError):
    pass


class ProfessionalBusy(BookingError):
    """The professional already has a booked appointment that overlaps the time asked for.

    Raised when the exclusion constraint refuses the row, so it holds for two clerks booking at
    the same moment as well as for one booking an occupied time.
    """

    def __init__(self, professional: User):
        super().__init__(
            gettext("%(name)s har allerede en time som overlapper dette tidspunktet. Velg et annet tidspunkt.")
            % {"name": professional.get_full_name() or professional.get_username()}
        )
        self.professional = professional


def violated_constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint PostgreSQL refused the row for (psycopg's diagnostics)."""
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


class OutcomeConflict(OutcomeError):
    """Someone else recorded or corrected the outcome first.

    ``current`` is the event that counts now, so the view can show it.
    """

    def __init__(self, message: str, *, appointment: Appointment, current: OutcomeEvent | None):
        super().__init__(message)
        self.appointment = appointment
        self.current = current


class SlotTaken(BookingError):
    """The time asked for is no longer among the professional's free slots."""
