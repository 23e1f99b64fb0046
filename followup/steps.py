"""A person's actions on a case's step: complete it, skip it, or book a new time from it.

Each action locks the case and claims the step with a conditional UPDATE (``step_end``), so two
people acting at once never both move the case; the loser gets ``StepNotActive``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from attendance.models import Appointment, Consultation
from followup.ladder import ladder_advance
from followup.models import Case, CaseStep, CaseTrigger, StepKind, StepStatus
from helsestasjon.models import User


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


class StepNotActive(ValidationError):
    """The step was already done, skipped or passed (someone else got there first)."""


def step_lock_active(step: CaseStep) -> Case:
    """Lock the step's case; StepNotActive unless the step is still the open case's current one."""
    case = Case.objects.select_for_update().get(id=step.case_id)
    if not case.is_open or case.current_step_id != step.id:
        raise StepNotActive(gettext("Saken har allerede gått videre fra dette trinnet."))
    return case


def step_end(*, case: Case, step: CaseStep, status: str, user: User | None, evidence: str = "", skip_reason: str = "", now: datetime) -> None:
    """End the active step (done or skipped) with its evidence; StepNotActive if someone got there first."""
    changed = CaseStep.objects.filter(id=step.id, status=StepStatus.ACTIVE).update(
        status=status, ended_at=now, ended_by=user, evidence=evidence, skip_reason=skip_reason
    )
    if not changed:
        raise StepNotActive(gettext("Saken har allerede gått videre fra dette trinnet."))
    step.status, step.ended_at, step.ended_by, step.evidence, step.skip_reason = status, now, user, evidence, skip_reason
    # Someone is acting on the case again.
    case.overdue_since = None


def case_record_contact(case: Case, text: str, now: datetime) -> None:
    """The case's last contact with the family, shown on the work lists."""
    case.last_contact_at = now
    case.last_contact = text[:120]
    case.save(update_fields=["last_contact_at", "last_contact"])


@transaction.atomic
def case_step_complete(*, step: CaseStep, user: User, evidence: str, now: datetime | None = None) -> CaseStep | None:
    """The step's work is done (with its evidence): the case moves to the next step."""
    now = _now(now)
    evidence = (evidence or "").strip()
    if not evidence:
        raise ValidationError(gettext("Skriv hva som ble gjort."))
    case = step_lock_active(step)
    step_end(case=case, step=step, status=StepStatus.DONE, user=user, evidence=evidence, now=now)
    return ladder_advance(case=case, step=step, now=now)


@transaction.atomic
def case_step_skip(*, step: CaseStep, user: User, reason: str, now: datetime | None = None) -> CaseStep | None:
    """Skipping a step needs a written reason."""
    now = _now(now)
    reason = (reason or "").strip()
    if step.kind == StepKind.LEADER_DECISION:
        # The last step ends only in a decision: a skip would restart the ladder with nothing decided.
        raise ValidationError(gettext("Lederbeslutningen kan ikke hoppes over. Velg en beslutning."))
    if not reason:
        raise ValidationError(gettext("Skriv en begrunnelse for å hoppe over trinnet."))
    case = step_lock_active(step)
    step_end(case=case, step=step, status=StepStatus.SKIPPED, user=user, skip_reason=reason, now=now)
    return ladder_advance(case=case, step=step, now=now)


@dataclass
class Booking:
    """A time to book from the case page: the same fields the clerk's booking takes."""

    starts_at: datetime
    professional: User
    duration_minutes: int = 30
    second_professional: User | None = None


def consultation_to_book(*, case: Case):
    """The consultation a new time is booked for: the one that opened the case (its latest
    trigger's), or, when that cannot be booked any more, the child's earliest bookable one."""
    from attendance.booking import BOOKABLE_STATES

    ids = list(
        CaseTrigger.objects.filter(case=case, consultation__isnull=False, withdrawn_at__isnull=True)
        .order_by("-occurred_at", "-id").values_list("consultation_id", flat=True)
    )
    for consultation in Consultation.objects.filter(id__in=ids, state__in=BOOKABLE_STATES).select_related("step"):
        return consultation
    return (
        Consultation.objects.filter(child_id=case.child_id, state__in=BOOKABLE_STATES)
        .select_related("step").order_by("window_opens", "id").first()
    )


def case_book(*, case: Case, booking: Booking, user: User, place: str) -> Appointment:
    """Book through attendance's booking service (the clerk's), its refusals as validation errors."""
    from attendance.booking import appointment_book
    from attendance.errors import AttendanceError

    consultation = consultation_to_book(case=case)
    if consultation is None:
        raise ValidationError(gettext("Barnet har ingen konsultasjon som kan bestilles."))
    if booking.starts_at <= timezone.now():
        raise ValidationError(gettext("Den nye timen må være fram i tid."))
    if booking.starts_at > timezone.now() + timedelta(days=366):
        raise ValidationError(gettext("Den nye timen kan ikke være mer enn ett år fram i tid."))
    second = booking.second_professional
    if second is not None and (second.pk == booking.professional.pk or case.station_id not in second.station_ids()):
        raise ValidationError(gettext("Fagperson nr. 2 må være en annen fagperson ved barnets helsestasjon."))
    try:
        # Its own savepoint: a refused booking leaves the case as it was.
        with transaction.atomic():
            appointment = appointment_book(
                consultation=consultation, starts_at=booking.starts_at, duration_minutes=booking.duration_minutes, place=place,
                professional=booking.professional, booked_by=user,
            )
            if second is not None:
                appointment.second_professional = second
                appointment.save(update_fields=["second_professional"])
    except AttendanceError as exc:
        raise ValidationError(exc.message) from None
    return appointment

