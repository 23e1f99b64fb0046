"""The ladder's first step: the SMS about the child's new time (tiltakstrappens trinn 1)."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from attendance.models import Appointment
from followup.ladder import ladder_advance
from followup.models import CaseStep, SmsMessage, StepKind, StepStatus
from followup.recipients import sms_withheld
from followup.sms.sending import sms_queue_for_step
from followup.steps import case_record_contact, step_end, step_lock_active
from helsestasjon.models import User


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


@transaction.atomic
def case_sms_rebook(*, step: CaseStep, user: User, now: datetime | None = None) -> list[SmsMessage]:
    """Step 1: a new appointment is booked; an SMS goes to each guardian with a mobile number."""
    now = _now(now)
    case = step_lock_active(step)
    if step.kind != StepKind.SMS_REBOOK:
        raise ValidationError(gettext("Dette trinnet sender ikke SMS."))
    if case.is_waiting:
        raise ValidationError(gettext("Saken står stille (pause eller avtalt time): ingen SMS fra tiltakstrappen nå."))
    appointment = (
        Appointment.objects.filter(child_id=case.child_id).select_related("station", "consultation__step")
        .next_booked_appointment(now=now)
    )
    if appointment is None:
        raise ValidationError(gettext("Barnet har ingen ny time. Bestill en ny time først."))
    messages = sms_queue_for_step(case=case, step=step, appointment=appointment, user=user, now=now)
    withheld = sms_withheld(child_id=case.child_id)
    if messages:
        case_record_contact(case, gettext("SMS om ny time"), now)
    evidence = _rebook_evidence(appointment=appointment, sent=len(messages), withheld=len(withheld))
    step_end(case=case, step=step, status=StepStatus.DONE, user=user, evidence=evidence, now=now)
    ladder_advance(case=case, step=step, now=now)
    return messages


def _rebook_evidence(*, appointment: Appointment, sent: int, withheld: int) -> str:
    """What the step's evidence says: the new time, who got the SMS, and who did not because of protection."""
    when = f"{timezone.localtime(appointment.starts_at):%d.%m.%Y %H:%M}"
    if sent:
        evidence = gettext("Ny time %(when)s. SMS sendt til %(count)s foresatt(e).") % {"when": when, "count": sent}
    elif withheld:
        evidence = gettext("Ny time %(when)s. Ingen SMS sendt.") % {"when": when}
    else:
        evidence = gettext("Ny time %(when)s. Ingen mobilnummer kjent (eller reservert), ingen SMS sendt.") % {"when": when}
    if withheld:
        # The child's address is protected: no automatic SMS to a guardian who does not share it.
        evidence += " " + ngettext(
            "%(count)d foresatt fikk ikke SMS fordi barnets adresse er beskyttet: manuell avgjørelse trengs (se barnets side).",
            "%(count)d foresatte fikk ikke SMS fordi barnets adresse er beskyttet: manuell avgjørelse trengs (se barnets side).",
            withheld,
        ) % {"count": withheld}
    return evidence
