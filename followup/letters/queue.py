"""Enqueueing the letters' work: the batch's rendering, its preparing, manual letters, SvarUt.

The tasks are imported when called, so the services that enqueue never import Celery at load.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction


def letters_enqueue_render(batch_id: int) -> None:
    """Start the batch's render workers (settings.LETTER_WORKERS of them, side by side)."""
    from followup.letters.tasks import render_batch
    from helsestasjon.background import task_enqueue

    # Never inside the request, also where Celery runs tasks eagerly (the demo): the clerk's page
    # answers at once and polls the progress.
    for _ in range(max(1, settings.LETTER_WORKERS)):
        task_enqueue(render_batch, batch_id)


def letters_enqueue_manual(station_id: int) -> None:
    """Render the station's manual-handling letters once the caller's transaction commits."""
    def enqueue():
        from followup.letters.tasks import render_manual

        render_manual.delay(station_id)

    transaction.on_commit(enqueue)


def letters_enqueue_prepare(batch_id: int) -> None:
    """Make and claim the letters of a batch the clerk started."""
    from followup.letters.tasks import prepare_batch
    from helsestasjon.background import task_enqueue

    task_enqueue(prepare_batch, batch_id)


def letters_enqueue_svarut(station_id: int) -> None:
    """Send the station's digital and SvarUt-printed letters."""
    from followup.letters.svarut.services import svarut_enqueue

    svarut_enqueue(station_id=station_id)
