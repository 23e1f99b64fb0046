"""Celery tasks for SMS reminders: thin and idempotent."""

from __future__ import annotations

from celery import shared_task

from followup.sms import services


@shared_task(name="followup.sms.send_reminders", acks_late=True, max_retries=3, autoretry_for=(Exception,), retry_backoff=60)
def send_reminders() -> int:
    return services.sms_reminders_send()
