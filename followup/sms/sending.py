"""Sending SMS: queueing a step's messages, and handing one queued message to the gateway.

Every automatic SMS (the ladder's, the reminders, the cancellations) is a ``SmsMessage`` row
first, queued with ``sms_enqueue`` when its transaction commits; ``sms_send`` (the task
``followup.tasks.send_sms``) claims it by setting ``sent_at`` and checks it again against the
child's status and protection now, so a message queued before a move or a protection change
never goes out.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from attendance.models import Appointment, AppointmentStatus
from followup.models import Case, CaseStep, SmsMessage, SmsStatus
from followup.recipients import shares_protection, sms_recipients
from followup.sms.texts import sms_text
from helsestasjon.models import ChildStatus, User

logger = logging.getLogger(__name__)


def sms_enqueue(sms_id: int) -> None:
    """Send the task for one queued message (call it in ``transaction.on_commit``)."""
    from followup.sms.tasks import send_sms

    send_sms.delay(sms_id)


def sms_queue_for_step(*, case: Case, step: CaseStep, appointment: Appointment, user: User, now: datetime) -> list[SmsMessage]:
    """The SMS about ``appointment`` for a ladder step, one per guardian who may get it (at most once).

    Norwegian first, then the guardian's language (the same texts as the reminders). Returns the
    messages made now; they are sent when the caller's transaction commits."""
    messages = []
    for guardian in sms_recipients(child_id=case.child_id):
        text = sms_text(appointment=appointment, language=guardian.preferred_language, purpose="new_time")
        message, created = SmsMessage.objects.get_or_create(
            case_step=step, guardian=guardian, defaults={"to": guardian.mobile, "text": text, "created_by": user, "created_at": now}
        )
        if created:
            messages.append(message)
            transaction.on_commit(lambda pk=message.pk: sms_enqueue(pk))
    return messages


def _sms_child(message: SmsMessage):
    if message.case_step_id:
        return message.case_step.case.child
    for holder in ("cancellation_notice", "reminder"):
        link = getattr(message, holder, None)
        if link is not None:
            return link.appointment.child
    return None


def _sms_stop_reason(message: SmsMessage) -> str:
    """Why a queued SMS must not go out any more, or "" to send it."""
    child = _sms_child(message)
    if child is None:
        return ""
    if child.status != ChildStatus.ACTIVE:
        return gettext("Stoppet: barnet er ikke lenger aktivt ved helsestasjonen.")
    if message.guardian_id and not shares_protection(
        child_level=child.address_protection, guardian_level=message.guardian.address_protection
    ):
        # The child became protected (or the guardian's protection changed) after the message
        # was queued: the text names a time and a place, so it is checked again now.
        return gettext("Stoppet: barnets adresse er beskyttet, og den foresatte deler ikke beskyttelsen. Manuell avgjørelse trengs.")
    reminder = getattr(message, "reminder", None)
    if reminder is not None and reminder.appointment.status != AppointmentStatus.BOOKED:
        # Cancelled, moved or recorded after the reminder was queued (a move to another
        # station cancels the times and says so): no reminder of a time that is gone.
        return gettext("Stoppet: timen er ikke lenger bestilt.")
    return ""


def sms_send(*, sms_id: int, now: datetime | None = None) -> SmsMessage | None:
    """Hand one queued SMS to the gateway, at most once (claimed by setting sent_at)."""
    from followup.sms.backends import get_backend

    now = now or timezone.now()
    claimed = SmsMessage.objects.filter(id=sms_id, status=SmsStatus.QUEUED, sent_at__isnull=True).update(sent_at=now)
    if not claimed:
        return None
    message = SmsMessage.objects.select_related(
        "guardian", "case_step__case__child", "reminder__appointment__child", "cancellation_notice__appointment__child"
    ).get(id=sms_id)
    error = _sms_stop_reason(message)
    if error:
        # The register reported a death, a move or an emigration after the message was
        # queued (nothing is ever sent about a child who is no longer ours), or the time
        # a reminder is about was cancelled meanwhile.
        SmsMessage.objects.filter(id=sms_id).update(status=SmsStatus.FAILED, error=error)
        message.status, message.error = SmsStatus.FAILED, error
        return message
    try:
        result = get_backend().send(message.to, message.text)
        status, gateway_id, error = result.status, result.id, result.error
    except Exception as exc:  # The gateway's failure is the message's state, not a crash.
        logger.exception("SMS %s failed", sms_id)
        status, gateway_id, error = SmsStatus.FAILED, "", str(exc)[:300]
    SmsMessage.objects.filter(id=sms_id).update(status=status, gateway_id=gateway_id, error=error[:300])
    message.status, message.gateway_id, message.error = status, gateway_id, error
    return message

