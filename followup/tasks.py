"""Celery tasks: thin wrappers that take ids and call one idempotent service."""

from __future__ import annotations

from celery import shared_task

from followup import services


@shared_task(name="followup.tasks.sweep", acks_late=True, max_retries=3, autoretry_for=(Exception,), retry_backoff=True)
def sweep() -> dict:
    """Open, join, close and advance cases from the attendance facts."""
    return services.followup_sweep().as_dict()


def enqueue_sweep() -> None:
    """Hook for attendance (settings.ATTENDANCE_OUTCOME_HOOKS): called after an
    outcome was recorded, inside transaction.on_commit, so the sweep sees it."""
    sweep.delay()


@shared_task(name="followup.tasks.send_sms", acks_late=True, max_retries=3, autoretry_for=(ConnectionError,), retry_backoff=True)
def send_sms(sms_id: int) -> None:
    services.sms_send(sms_id=sms_id)
