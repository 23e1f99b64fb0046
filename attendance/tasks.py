"""Celery tasks of attendance: thin wrappers around idempotent services."""

from __future__ import annotations

from celery import shared_task

from attendance.plan import consultations_advance_states


@shared_task(acks_late=True, max_retries=3, autoretry_for=(Exception,), retry_backoff=60, retry_backoff_max=600)
def advance_consultation_states() -> dict[str, int]:
    """Planned -> due -> expired. Safe to run twice or concurrently (conditional updates)."""
    return consultations_advance_states()
