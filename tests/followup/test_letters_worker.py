"""A real Celery worker is killed with SIGKILL in the middle of a batch, again and again, and the
broker loses its messages (as when Redis restarts without persistence); the
resume sweep finishes the batch with every letter produced exactly once."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from followup.letters.batch import letter_batch_start, letters_resume
from followup.letters.printing import MAX_ATTEMPTS, STALE_AFTER
from followup.letters.tasks import render_batch
from followup.letters.models import BatchState, Letter, LetterBatch, LetterState
from tests.followup.letters_support import children_at_step, parent, pdf_text
from tests.subprocess_env import killed_worker, redis_client, wait_until, worker_env

pytestmark = [
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (bin/test sets REDIS_URL)"),
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]

# The suite's short form: 12 letters, the worker killed twice. The full form by hand:
#   LETTER_KILL_LETTERS=1000 LETTER_KILLS=10 bin/test tests/followup/test_letters_worker.py
N = int(os.environ.get("LETTER_KILL_LETTERS", "12"))
KILLS = int(os.environ.get("LETTER_KILLS", "2"))


# Transactional: the worker process must see the committed rows.
@pytest.mark.django_db(transaction=True)
def test_a_batch_survives_a_killed_worker_and_lost_messages(station_a, clerk_a, tmp_path, monkeypatch):
    media = tmp_path / "media"
    monkeypatch.setattr(settings, "MEDIA_ROOT", media)
    children_at_step(station_a, N, lambda child, i: parent(child, preferred_language="ar" if i % 2 else "nb"))
    monkeypatch.setattr(render_batch, "delay", lambda *args: None)
    batch = letter_batch_start(station=station_a, user=clerk_a)
    monkeypatch.undo()
    monkeypatch.setattr(settings, "MEDIA_ROOT", media)

    r = redis_client()
    r.delete("celery")
    from helsestasjon.celery import app

    produced = lambda: Letter.objects.filter(batch=batch, state=LetterState.PRODUCED).count()  # noqa: E731
    step = max(1, N // (KILLS + 1))
    for kill in range(KILLS):
        before = produced()
        env = worker_env(media, LETTER_CHUNK_SIZE="2")  # several commits, so the kill lands mid-batch
        with killed_worker(f"killtest-{kill}", env):  # the parent and its pool child, killed mid-batch
            if kill == 0:
                app.send_task("followup.letters.render_batch", args=[batch.id])
            else:
                # What beat's resume sweep does after a lost worker: release stale claims, send the batch again.
                with monkeypatch.context() as m:
                    m.setattr(settings, "CELERY_TASK_ALWAYS_EAGER", False)
                    m.setattr(app.conf, "task_always_eager", False)
                    letters_resume(now=timezone.now() + STALE_AFTER + timedelta(seconds=1))
            assert wait_until(lambda: produced() >= min(N - 1, before + step), timeout=600), f"kill {kill}: no progress"
        r.delete("celery", "unacked", "unacked_index")  # the broker forgot everything

    states = set(Letter.objects.filter(batch=batch).values_list("state", flat=True))
    assert LetterState.PRODUCED in states and states & {LetterState.PENDING, LetterState.RENDERING}
    batch.refresh_from_db()
    assert batch.state == BatchState.RUNNING

    # The beat schedule's resume sweep, once the claims are stale; tasks run in-process here.
    letters_resume(now=timezone.now() + STALE_AFTER + timedelta(seconds=1))

    batch.refresh_from_db()
    assert batch.state == BatchState.READY
    letters = list(Letter.objects.filter(batch=batch))
    assert len(letters) == N and {l.state for l in letters} == {LetterState.PRODUCED}
    assert all(1 <= l.attempts <= MAX_ATTEMPTS for l in letters)
    with batch.pdf.open("rb") as f:
        text = pdf_text(f.read())
    for i in range(N):
        assert text.count(f"Barn{i} Hansen, født") == 1
    assert LetterBatch.objects.count() == 1
