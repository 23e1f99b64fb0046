"""Celery tasks of the register sync: thin wrappers around idempotent services.

Both are safe to run twice or concurrently: one sync runs at a time per
database (an advisory lock; an event sync that finds a full reconciliation
running is skipped until the next beat), the cursor row is locked while a page
is applied, and findings are unique per register state.
"""

from __future__ import annotations

from celery import shared_task

from registry_sync.runs import SyncFailed, register_full_reconciliation, register_sync


@shared_task(acks_late=True, max_retries=3, autoretry_for=(SyncFailed,), retry_backoff=60, retry_backoff_max=600)
def sync_register() -> str:
    """Follow the register's events (every 10 minutes by beat)."""
    return str(register_sync())


@shared_task(acks_late=True, max_retries=2, autoretry_for=(SyncFailed,), retry_backoff=300, retry_backoff_max=1800)
def full_reconciliation() -> str:
    """Compare every child in scope with the register (weekly by beat)."""
    return str(register_full_reconciliation())
