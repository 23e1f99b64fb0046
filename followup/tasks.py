"""Celery tasks: thin wrappers that take ids and call one idempotent service."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache

from followup.sweep import followup_sweep


# Outcomes recorded within a few seconds of each other share one sweep: twenty nurses
# at work would otherwise start a sweep per click and keep both cores busy with them.
SWEEP_PENDING_KEY = "followup:sweep-pending"
SWEEP_COALESCE_SECONDS = 5


@shared_task(name="followup.tasks.sweep", acks_late=True, max_retries=3, autoretry_for=(Exception,), retry_backoff=True)
def sweep() -> dict:
    """Open, join, close and advance cases from the attendance facts."""
    # Cleared before the sweep reads, so an outcome recorded meanwhile schedules the next one.
    cache.delete(SWEEP_PENDING_KEY)
    return followup_sweep().as_dict()


def enqueue_sweep() -> None:
    """Hook for attendance (settings.ATTENDANCE_OUTCOME_HOOKS): called after an
    outcome was recorded, inside transaction.on_commit, so the sweep sees it.

    Only the first outcome in a short window sends the task. If that message is
    lost, the key expires and the next outcome (or beat's sweep) tries again.
    """
    if cache.add(SWEEP_PENDING_KEY, "1", timeout=SWEEP_COALESCE_SECONDS * 6):
        sweep.apply_async(countdown=SWEEP_COALESCE_SECONDS)
