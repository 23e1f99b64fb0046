"""Run control for the register sync: one sync at a time per database (an advisory lock), the
planner told that the tables are cached, and the garbage collector kept off the heap that was
there before the run."""

from __future__ import annotations

import gc
import logging
import threading
from contextlib import contextmanager

from django.db import Error as DbError, connection

logger = logging.getLogger(__name__)

_gc_lock = threading.Lock()
_gc_runs = 0


@contextmanager
def gc_frozen():
    """Keep the objects that exist when a sync starts (Django, the app, the
    worker's state: hundreds of thousands) out of the garbage collector's
    full collections while it runs. A sync allocates millions of short-lived
    objects and keeps each chunk's records and journal rows for a while; the
    full collections that this triggers rescanned the whole heap, about a
    tenth of a full reconciliation. Unfrozen (and collectable) afterwards;
    nested and concurrent runs unfreeze when the last one ends."""
    global _gc_runs
    with _gc_lock:
        _gc_runs += 1
        if _gc_runs == 1:
            gc.freeze()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_runs -= 1
            if _gc_runs == 0:
                gc.unfreeze()


@contextmanager
def planner_for_cached_tables():
    """Let PostgreSQL's planner price a page read as a cached read while a sync
    runs (``random_page_cost`` 1.1 instead of the default 4, which assumes a
    spinning disk). A sync looks up a thousand persons at a time, scattered
    over tables that sit in memory; at the default the planner preferred
    reading the whole child and guardian tables (10-26 ms a lookup) to the
    indexes (2-4 ms). Only this connection, only for the run: the previous
    value is put back afterwards."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('random_page_cost'), set_config('random_page_cost', '1.1', false)")
        previous = cursor.fetchone()[0]
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('random_page_cost', %s, false)", [previous])
        except DbError:  # A broken connection is closed and replaced anyway.
            logger.warning("Could not restore random_page_cost after a register sync", exc_info=True)



# Any number: a PostgreSQL advisory lock is local to the database it is taken in.
SYNC_LOCK_KEY = 0x48535359


@contextmanager
def one_sync_at_a_time(*, wait: bool):
    """Yields whether this run may go on: one sync at a time per database.

    A full reconciliation fetches a chunk and compares it a moment later. An event
    applied in between by a concurrent event sync (a death, say) would then be
    compared with the person's older document and undone ("death annulled"), and the
    cursor would already be past the event. So the two never overlap: a full run
    waits for the lock (``wait``), an event sync that finds it taken is skipped
    and the next one (10 minutes later) follows the events from the same cursor.
    A session-level advisory lock on PostgreSQL, re-entrant within the session
    (an event sync that turns into a full run keeps it), released when the run
    ends or its connection is lost."""
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_lock(%s)", [SYNC_LOCK_KEY])
            taken = True
        else:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [SYNC_LOCK_KEY])
            taken = cursor.fetchone()[0]
    try:
        yield taken
    finally:
        if taken:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [SYNC_LOCK_KEY])
            except DbError:  # A lost connection has released it.
                logger.warning("Could not release the register sync lock", exc_info=True)
