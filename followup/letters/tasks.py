"""Celery tasks for letters: thin, take ids, safe to run twice (see services)."""

from __future__ import annotations

from celery import shared_task

from followup.letters.batch import letter_batch_prepare, letters_resume
from followup.letters.printing import letters_render


@shared_task(name="followup.letters.prepare_batch", acks_late=True, max_retries=3, autoretry_for=(Exception,), retry_backoff=10)
def prepare_batch(batch_id: int) -> int:
    """Make and claim the letters of a batch the clerk started; then its rendering is enqueued."""
    return letter_batch_prepare(batch_id=batch_id)


@shared_task(name="followup.letters.render_batch", acks_late=True, max_retries=3, autoretry_for=(Exception,), retry_backoff=10)
def render_batch(batch_id: int) -> int:
    """Render the batch's pending letters, then join the print PDF. Several run side by side."""
    return letters_render(batch_id=batch_id)


@shared_task(name="followup.letters.render_manual", acks_late=True, max_retries=3, autoretry_for=(Exception,), retry_backoff=10)
def render_manual(station_id: int) -> int:
    """Render a station's manual-handling letters (protected addresses), outside any batch."""
    return letters_render(station_id=station_id)


@shared_task(name="followup.letters.resume", acks_late=True, max_retries=1)
def resume() -> dict:
    """The safety net: stale claims, lost messages, interrupted merges."""
    return letters_resume()
