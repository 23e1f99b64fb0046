"""Enqueue a Celery task so that the request that asks for it never waits for it.

With a broker this is ``task.delay``. Without one (the demo without REDIS_URL, where Celery runs
tasks eagerly in-process) ``delay`` would run the task inside the request: "Lag dagens brev" waited
6.5 s for 68 PDFs. There the task runs in a thread of this process instead (a local worker with
its own database connection), so the page answers at once and shows the progress the task writes
to the database. The service stays the only place the work is done, and stays safe to run twice;
a thread lost with the process is picked up by the sweep that finds work whose message was lost.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import connections

logger = logging.getLogger(__name__)


def task_enqueue(task, *args) -> None:
    """``task.delay(*args)``, or with eager Celery (and EAGER_TASKS_IN_THREADS) the task in a thread."""
    if not task.app.conf.task_always_eager or not getattr(settings, "EAGER_TASKS_IN_THREADS", False):
        task.delay(*args)
        return
    thread = threading.Thread(target=_run, args=(task, args), name=f"task-{task.name}", daemon=True)
    thread.start()


def _run(task, args) -> None:
    try:
        result = task.apply(args=args, throw=False)
        if result.failed():
            logger.error("Task %s%r failed in its thread: %s", task.name, args, result.result, exc_info=result.result)
    except Exception:  # noqa: BLE001 - a thread has nobody else to tell
        logger.exception("Task %s%r failed in its thread", task.name, args)
    finally:
        connections.close_all()
