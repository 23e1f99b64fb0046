"""Starting the day's letter batch answers at once, also where Celery runs tasks in-process (the
demo), and the page shows the batch's progress until it is ready, the button disabled meanwhile."""

from __future__ import annotations

import re
import threading
import time

import pytest
from django.urls import reverse

from followup.letters.models import BatchState, Letter, LetterBatch, LetterState
from tests.factories import ChildFactory
from tests.followup.letters_support import _media, case_at_step, parent  # noqa: F401 (fixture)

LETTERS = 50


def _wait_for_threads(timeout=180.0):
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread.name.startswith("task-"):
            thread.join(max(0.0, deadline - time.monotonic()))


@pytest.mark.django_db(transaction=True)
def test_a_fifty_letter_batch_starts_in_under_a_second_and_reports_progress_until_ready(login, settings, clerk_a, station_a):
    settings.EAGER_TASKS_IN_THREADS = True  # as in the demo: eager Celery, the batch in a thread of the web process
    for n in range(LETTERS):
        child = ChildFactory(station=station_a, given_name=f"Barn{n}")
        parent(child)
        case_at_step(child)
    client = login(clerk_a)
    try:
        started = time.monotonic()
        response = client.post(reverse("followup:letter_batch_start"), {"stasjon": station_a.id})
        elapsed = time.monotonic() - started
        assert response.status_code == 302
        assert elapsed < 1.0, f"starting the batch took {elapsed:.2f} s"
        batch = LetterBatch.objects.get()
        assert batch.state in (BatchState.PREPARING, BatchState.RUNNING)

        page = client.get(response["Location"]).content.decode()
        assert "er startet" in page
        progress_url = reverse("followup:letter_batch_progress", args=[batch.pk])
        seen = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            body = client.get(progress_url, HTTP_HX_REQUEST="true").content.decode()
            if "Finner brevene som skal lages" in body:
                seen.append(-1)  # preparing: the letters are being made
            else:
                seen.append(int(re.search(r"(\d+) av %d brev" % LETTERS, body).group(1)))
            if "hx-trigger" not in body:
                break
            # Still running: it says so, keeps polling, and the start button stays away.
            assert 'hx-trigger="every 1s"' in body and 'id="batch-start"' not in body
            time.sleep(0.2)
        else:
            pytest.fail(f"the batch did not finish; progress seen: {seen}")
    finally:
        _wait_for_threads()
    # The page was answered while the letters were made: progress was seen before the end.
    assert seen[0] < LETTERS and seen[-1] == LETTERS and len(seen) > 1
    assert batch.letters.count() == LETTERS
    assert seen == sorted(seen)
    # Done: the start button comes back, enabled, out of band, and says what happened.
    assert 'id="batch-start" class="batch-start" hx-swap-oob="true"' in body
    assert "disabled" not in body.split('id="batch-start"')[1]
    assert "Klar til utskrift" in body
    batch.refresh_from_db()
    assert batch.state == BatchState.READY
    assert set(Letter.objects.filter(batch=batch).values_list("state", flat=True)) == {LetterState.PRODUCED}


@pytest.mark.django_db(transaction=True)
def test_the_start_button_is_disabled_while_a_batch_runs(login, clerk_a, station_a):
    child = ChildFactory(station=station_a)
    parent(child)
    case_at_step(child)
    batch = LetterBatch.objects.create(station=station_a, created_by=clerk_a, state=BatchState.RUNNING)
    page = login(clerk_a).get(reverse("followup:letters")).content.decode()
    form = re.search(r'<form[^>]*id="batch-start".*?</form>', page, re.DOTALL).group(0)
    assert "disabled" in form and "En brevbunke lages nå" in form
    assert f'hx-get="{reverse("followup:letter_batch_progress", args=[batch.pk])}"' in page
