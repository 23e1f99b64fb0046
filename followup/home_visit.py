"""The home-visit step: booking the visit at home (with its SMS and letter) and the family's consent."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from attendance.models import Appointment
from followup.letters.making import letter_rows
from followup.letters.models import Letter, LetterKind
from followup.models import CaseLogEntry, CaseLogKind, CaseStep, StepKind
from followup.sms.sending import sms_queue_for_step
from followup.steps import Booking, case_book, case_record_contact, step_lock_active
from followup.waiting import case_wait_for
from helsestasjon.models import User


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


@transaction.atomic
def case_home_visit_book(*, step: CaseStep, user: User, booking: Booking, now: datetime | None = None) -> Appointment:
    """The home-visit step books a visit at home, tells the family by SMS and letter, and waits for it.

    "Ingen hjemme" at the visit moves the case on; attended closes it."""
    now = _now(now)
    if step.kind != StepKind.HOME_VISIT:
        raise ValidationError(gettext("Hjemmebesøk bestilles på hjemmebesøkstrinnet."))
    case = step_lock_active(step)
    if case.waiting_for_id is not None:
        raise ValidationError(gettext("Saken venter allerede på en avtalt time."))
    appointment = case_book(case=case, booking=booking, user=user, place="home")
    appointment = Appointment.objects.select_related("station").get(pk=appointment.pk)
    sent = len(sms_queue_for_step(case=case, step=step, appointment=appointment, user=user, now=now))
    rows = letter_rows(kind=LetterKind.INVITATION, child=case.child, station=case.station, now=now, appointment_id=appointment.id)
    Letter.objects.bulk_create(rows, ignore_conflicts=True)
    when = timezone.localtime(appointment.starts_at)
    case_record_contact(case, gettext("Hjemmebesøk avtalt"), now)
    case_wait_for(case, appointment, by=user, now=now)
    CaseLogEntry.objects.create(
        case=case, kind=CaseLogKind.WAITING, by=user, at=now,
        text=(gettext("Hjemmebesøk %(date)s kl. %(time)s: SMS til %(sms)s foresatt(e), brev til %(letters)s") % {
            "date": f"{when:%d.%m.%Y}", "time": f"{when:%H:%M}", "sms": sent, "letters": len(rows),
        })[:300],
    )
    return appointment


@transaction.atomic
def case_home_visit_consent(*, step: CaseStep, user: User, note: str, now: datetime | None = None) -> CaseStep:
    """The family's consent to the home visit, recorded before the visit."""
    now = _now(now)
    note = (note or "").strip()
    if step.kind != StepKind.HOME_VISIT:
        raise ValidationError(gettext("Samtykke gjelder hjemmebesøkstrinnet."))
    if not note:
        raise ValidationError(gettext("Skriv hvem som samtykket, og hvordan."))
    step_lock_active(step)
    CaseStep.objects.filter(pk=step.pk).update(consent_at=now, consent_by=user, consent_note=note[:300])
    step.consent_at, step.consent_by, step.consent_note = now, user, note[:300]
    return step

