"""Exactly once through SvarUt: a real Celery worker is killed with SIGKILL while SvarUt holds its
answer (the forsendelse is taken, the letter's commit has not happened), again and again, and the
broker loses its messages; afterwards no letter was sent twice and every letter is sent once or
listed for the clerk as uncertain. The fake SvarUt counts what it received, which is the proof."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from followup.letters.making import letters_create_due
from followup.letters.models import Letter, LetterState
from followup.letters.svarut import services, tasks
from followup.letters.svarut.choices import SendState
from tests.followup.letters_support import children_at_step
from tests.followup.svarut.conftest import guardian
from tests.subprocess_env import killed_worker, redis_client, wait_until, worker_env

pytestmark = [
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (bin/test sets REDIS_URL)"),
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]

# The suite's short form: 10 letters, the worker killed twice. The full form by hand:
#   SVARUT_KILL_LETTERS=1000 SVARUT_KILLS=10 python -m pytest tests/followup/svarut/test_svarut_worker.py
N = int(os.environ.get("SVARUT_KILL_LETTERS", "10"))
KILLS = int(os.environ.get("SVARUT_KILLS", "2"))
CHUNK = 2


def _worker_env(media_root, svarut) -> dict:
    return worker_env(
        media_root, SVARUT_BASE_URL=svarut.server.base_url, SVARUT_EXTERNAL_REFERENCE_URL=svarut.server.lookup_url,
        SVARUT_ACCOUNT=settings.SVARUT_ACCOUNT, SVARUT_TOKEN=settings.SVARUT_TOKEN, SVARUT_CHUNK_SIZE=str(CHUNK),
        SVARUT_SEND_TIMEOUT_SECONDS="30",
    )


@pytest.mark.django_db(transaction=True)
def test_no_letter_is_sent_twice_when_the_worker_dies_between_send_and_commit(station_a, svarut, tmp_path, monkeypatch):
    media = tmp_path / "media"
    monkeypatch.setattr(settings, "MEDIA_ROOT", media)
    children_at_step(station_a, N, lambda child, i: guardian(child, svarut))
    with monkeypatch.context() as m:  # make and render here; the worker only sends
        m.setattr(tasks.dispatch, "delay", lambda station_id: None)
        letters_create_due(station=station_a)
        ids = list(Letter.objects.values_list("id", flat=True))
        for start in range(0, len(ids), 25):
            services._render_chunk(ids[start : start + 25])
    assert Letter.objects.filter(state=LetterState.PRODUCED).count() == N
    # Every send is taken at once and answered late: the kill lands between send and commit.
    svarut.add_fault("slow_answer", seconds=float(os.environ.get("SVARUT_KILL_ANSWER_DELAY", "0.4")), count=10 * N,
                     path="/forsendelser/person")

    r = redis_client()
    r.delete("celery")
    from helsestasjon.celery import app

    received = lambda: len(svarut.received()["forsendelser"])  # noqa: E731
    step = max(1, N // (KILLS + 1))
    found = caught = 0  # letters a kill left between claim and commit, and those found again by lookup
    for kill in range(KILLS):
        before = received()
        with killed_worker(f"svarutkill-{kill}", _worker_env(media, svarut)):
            with monkeypatch.context() as m:
                m.setattr(settings, "CELERY_TASK_ALWAYS_EAGER", False)
                m.setattr(app.conf, "task_always_eager", False)
                if kill == 0:
                    app.send_task("followup.letters.svarut.dispatch", args=[station_a.id])
                else:
                    # What beat's resume does after a lost worker: resolve stale sends, dispatch again.
                    resolved = services.svarut_resume(now=timezone.now() + timedelta(hours=1))
                    found += resolved["found"]
                    caught += resolved["found"] + resolved["uncertain"]
            # Past the progress mark, and a send is in flight (taken, not answered yet).
            assert wait_until(lambda: received() >= min(N, before + step), timeout=300, interval=0.02), f"kill {kill}: no progress"
            time.sleep(float(os.environ.get("SVARUT_KILL_ANSWER_DELAY", "0.4")) / 3)
        r.delete("celery", "unacked", "unacked_index")  # the broker forgot everything

    caught += Letter.objects.filter(send_state=SendState.SENDING).count()
    assert caught >= 1  # a kill did land between a send and its commit
    svarut.faults.clear()

    # The beat's resume, once the claims are stale (tasks run in-process here), until nothing waits.
    for _ in range(5):
        found += services.svarut_resume(now=timezone.now() + timedelta(hours=1))["found"]
        if not Letter.objects.filter(send_state__in=[SendState.NOT_SENT, SendState.SENDING]).exists():
            break

    per_reference = svarut.received()["per_reference"]
    rows = list(Letter.objects.order_by("id"))
    assert len(rows) == N
    assert all(count == 1 for count in per_reference.values()), "a letter was sent twice"
    by_reference = {f["eksternReferanse"]: f["id"] for f in svarut.received()["forsendelser"]}
    for letter in rows:
        reference = services.external_reference(letter.pk)
        if letter.send_state == SendState.ACCEPTED:
            assert str(letter.forsendelse_id) == by_reference[reference]
        else:
            assert letter.send_state == SendState.UNCERTAIN, letter.send_state
    print(f"\nSvarUt kill test: {N} letters, {KILLS} kills, {caught} letters left between claim and commit, {found} of them "
          f"found again by eksternReferanse, "
          f"{sum(1 for l in rows if l.send_state == SendState.ACCEPTED)} sent once, "
          f"{sum(1 for l in rows if l.send_state == SendState.UNCERTAIN)} uncertain, 0 sent twice")
