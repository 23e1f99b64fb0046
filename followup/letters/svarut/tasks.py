"""Celery tasks for SvarUt: thin, take ids, safe to run twice (see services)."""

from __future__ import annotations

from celery import shared_task

from followup.letters.svarut import services


@shared_task(name="followup.letters.svarut.dispatch", acks_late=True, max_retries=3, autoretry_for=(Exception,), retry_backoff=10)
def dispatch(station_id: int) -> int:
    """Render a station's SvarUt letters and enqueue one send task per chunk."""
    return len(services.svarut_dispatch(station_id=station_id))


# Not acks_late by design: a redelivered message could only find its letters claimed ("sending")
# and leave them to svarut_resume; never retried automatically (a retry after a lost answer is the
# double send that must not happen; the claim makes it a no-op anyway).
@shared_task(name="followup.letters.svarut.send_chunk", max_retries=0)
def send_chunk(letter_ids: list[int]) -> dict:
    report = services.svarut_send_chunk(letter_ids=letter_ids)
    return report.__dict__


@shared_task(name="followup.letters.svarut.resume", acks_late=True, max_retries=1)
def resume() -> dict:
    return services.svarut_resume()


@shared_task(name="followup.letters.svarut.poll", acks_late=True, max_retries=3, autoretry_for=(Exception,), retry_backoff=30)
def poll() -> dict:
    return services.svarut_poll()
