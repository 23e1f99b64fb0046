"""SMS services: reminders before appointments and the gateway's delivery reports."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from attendance.models import Appointment, AppointmentStatus, local_day_bounds
from followup.models import SmsMessage, SmsStatus
from followup.recipients import sms_recipients
from followup.sms.models import AppointmentCancellationNotice, AppointmentReminder, SmsDeliveryReport
from followup.sms.sending import sms_enqueue
from followup.sms.texts import sms_text
from helsestasjon.models import ChildStatus, Station
from helsestasjon.protection import is_protected

logger = logging.getLogger(__name__)


def sms_reminders_send(*, now: datetime | None = None) -> int:
    """Queue the reminder SMS for appointments within each station's reminder window (idempotent).

    Recipients follow the one rule in followup/recipients.py: for a child with a protected
    address only guardians who share the protection are reminded.

    An appointment is reminded from ``sms_reminder_days_before`` days ahead until
    it starts; a run that was missed catches up, and a unique constraint keeps
    it to one reminder per appointment and guardian. 0 days turns reminders off.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    queued = 0
    for station in Station.objects.filter(sms_reminder_days_before__gt=0):
        _, until = local_day_bounds(today + timedelta(days=station.sms_reminder_days_before))
        appointments = (
            Appointment.objects.filter(
                station=station, status=AppointmentStatus.BOOKED, starts_at__gt=now, starts_at__lt=until, child__status=ChildStatus.ACTIVE
            )
            # A child whose follow-up is paused (abroad, specialist care, the GP) gets no reminder meanwhile.
            .exclude(child__followup_cases__status="open", child__followup_cases__paused_until__gt=today)
            .select_related("station")
            .order_by("starts_at", "id")
        )
        for appointment in appointments:
            queued += _remind(appointment, now)
    return queued


def _remind(appointment: Appointment, now: datetime) -> int:
    return _queue_once(appointment, AppointmentReminder, now)


def _queue_once(appointment: Appointment, notice, now: datetime, purpose: str = "reminder") -> int:
    """One SMS about `appointment` to each of its recipients, at most once per guardian: the `notice` row
    (a model with appointment, guardian and a unique constraint over them) records it in the same
    transaction, and the message is queued when that commits. Returns how many were queued."""
    done = set(notice.objects.filter(appointment=appointment).values_list("guardian_id", flat=True))
    queued = 0
    for guardian in sms_recipients(child_id=appointment.child_id):
        if guardian.id in done:
            continue
        try:
            with transaction.atomic():
                message = SmsMessage.objects.create(
                    to=guardian.mobile, guardian=guardian, created_at=now,
                    text=sms_text(appointment=appointment, language=guardian.preferred_language, purpose=purpose),
                )
                notice.objects.create(appointment=appointment, guardian=guardian, sms=message, created_at=now)
                transaction.on_commit(lambda pk=message.pk: sms_enqueue(pk))
        except IntegrityError:
            continue  # another run got there first
        queued += 1
    return queued


def sms_cancellations_send(*, appointment_ids: list[int], now: datetime | None = None) -> int:
    """Tell the guardians that the station cancelled these booked times because the
    child now belongs to another station (the new station books and invites anew).

    One SMS per time and guardian with parental responsibility, a mobile number and
    no reservation, in the station's Norwegian and the guardian's language; at most
    once (a unique constraint). For a child with a protected address it goes only to the
    guardians who share the protection (followup/recipients.py) and the text gives no
    reason (texts.CANCELLED_NEUTRAL). Runs in the caller's transaction and queues the
    messages when it commits. Returns how many messages were queued."""
    now = now or timezone.now()
    queued = 0
    appointments = Appointment.objects.filter(pk__in=appointment_ids).select_related("station", "child").order_by("starts_at", "id")
    for appointment in appointments:
        purpose = "cancelled_neutral" if is_protected(appointment.child.address_protection) else "cancelled_moved"
        queued += _queue_once(appointment, AppointmentCancellationNotice, now, purpose)
    return queued


# --------------------------------------------------------------------------- delivery reports


class BadSignature(Exception):
    pass


class BadReport(Exception):
    pass


def signature_for(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(*, body: bytes, signature: str) -> None:
    """HMAC-SHA256 over the raw body with settings.SMS_WEBHOOK_SECRET ("sha256=" prefix optional)."""
    secret = settings.SMS_WEBHOOK_SECRET
    if not secret:
        raise BadSignature("SMS_WEBHOOK_SECRET er ikke satt.")
    given = (signature or "").strip()
    if given.startswith("sha256="):
        given = given[len("sha256="):]
    # Compared as bytes: compare_digest refuses a str with non-ASCII characters (a TypeError, so a 500),
    # and a header that is not ASCII is simply a wrong signature.
    try:
        given_bytes = given.lower().encode("ascii")
    except UnicodeEncodeError:
        raise BadSignature("Feil signatur.") from None
    if not hmac.compare_digest(signature_for(body, secret).encode("ascii"), given_bytes):
        raise BadSignature("Feil signatur.")


DELIVERED = {"delivered"}
FAILED = {"failed", "undelivered", "expired", "rejected"}


@dataclass
class ReportResult:
    created: bool
    message_id: int | None


@transaction.atomic
def sms_delivery_report(*, body: bytes) -> ReportResult:
    """Apply one delivery report. A repeated report (same report id) changes nothing."""
    try:
        data = json.loads(body.decode("utf-8"))
        report_id = str(data["report_id"])[:100]
        gateway_id = str(data["message_id"])[:100]
        status = str(data["status"]).lower()[:20]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise BadReport("Ugyldig leveringsrapport.") from None
    error = str(data.get("error", ""))[:300]
    if not report_id or not gateway_id or status not in DELIVERED | FAILED | {"sent", "buffered"}:
        raise BadReport("Ugyldig leveringsrapport.")
    # PostgreSQL cannot store NUL in text; the request middleware refuses it first, this keeps the service safe alone.
    if any("\x00" in value for value in (report_id, gateway_id, error)):
        raise BadReport("Ugyldig leveringsrapport.")
    try:
        with transaction.atomic():
            SmsDeliveryReport.objects.create(report_id=report_id, gateway_id=gateway_id, status=status, error=error)
    except IntegrityError:
        return ReportResult(created=False, message_id=None)
    message = SmsMessage.objects.select_for_update().filter(gateway_id=gateway_id).first()
    if message is None:
        logger.warning("Delivery report %s for unknown message %s", report_id, gateway_id)
        return ReportResult(created=True, message_id=None)
    # A final state (delivered or failed) is never changed by a later report.
    if message.status in (SmsStatus.QUEUED, SmsStatus.SENT):
        if status in DELIVERED:
            message.status, message.error = SmsStatus.DELIVERED, ""
        elif status in FAILED:
            message.status, message.error = SmsStatus.FAILED, (error or gettext("Ikke levert (%(status)s).") % {"status": status})[:300]
        message.save(update_fields=["status", "error"])
    return ReportResult(created=True, message_id=message.id)
