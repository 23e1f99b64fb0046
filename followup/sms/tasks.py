"""Celery tasks for SMS: thin and idempotent."""

from __future__ import annotations

from celery import shared_task

from followup.sms import services
from followup.sms.sending import sms_send


@shared_task(name="followup.sms.send_reminders", acks_late=True, max_retries=3, autoretry_for=(Exception,), retry_backoff=60)
def send_reminders() -> int:
    return services.sms_reminders_send()


# Registered under its old name (it lived in followup/tasks.py), so messages already queued still run.
@shared_task(name="followup.tasks.send_sms", acks_late=True, max_retries=3, autoretry_for=(ConnectionError,), retry_backoff=True)
def send_sms(sms_id: int) -> None:
    sms_send(sms_id=sms_id)
