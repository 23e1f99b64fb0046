"""The sweep as a Celery task, as a management command, and nudged by attendance's outcome hook."""

from __future__ import annotations

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from attendance.hooks import outcome_recorded_notify
from followup.models import Case
from followup.tasks import sweep

pytestmark = pytest.mark.django_db


def test_the_beat_runs_the_sweep_every_15_minutes():
    entry = settings.CELERY_BEAT_SCHEDULE["followup-sweep"]
    assert entry["task"] == "followup.tasks.sweep"
    assert entry["schedule"].minute == {0, 15, 30, 45}


def test_the_task_opens_cases(child_a, outcome):
    outcome(child_a, "not_brought")
    result = sweep.delay().get()
    assert result["cases_opened"] == 1
    assert Case.objects.filter(child=child_a).exists()


def test_the_command_runs_the_same_sweep(child_a, outcome):
    outcome(child_a, "not_brought")
    out = StringIO()
    call_command("run_followup_sweep", stdout=out)
    assert "cases_opened=1" in out.getvalue()
    assert Case.objects.filter(child=child_a).exists()


def test_attendance_s_hook_runs_the_sweep_after_commit(child_a, outcome, django_capture_on_commit_callbacks):
    assert "followup.tasks.enqueue_sweep" in settings.ATTENDANCE_OUTCOME_HOOKS
    outcome(child_a, "not_brought")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        outcome_recorded_notify()
        assert not Case.objects.exists(), "nothing runs before the commit"
    assert len(callbacks) == 1
    assert Case.objects.filter(child=child_a).exists()


def test_a_failing_hook_never_breaks_recording(settings, django_capture_on_commit_callbacks):
    settings.ATTENDANCE_OUTCOME_HOOKS = ["followup.no_such_module.hook"]
    with django_capture_on_commit_callbacks(execute=True):
        outcome_recorded_notify()


def test_outcomes_close_together_share_one_sweep(monkeypatch):
    from django.core.cache import cache

    from followup import tasks

    sent = []
    monkeypatch.setattr(tasks.sweep, "apply_async", lambda **kwargs: sent.append(kwargs))
    cache.delete(tasks.SWEEP_PENDING_KEY)
    for _ in range(3):
        tasks.enqueue_sweep()
    assert sent == [{"countdown": tasks.SWEEP_COALESCE_SECONDS}]
    # Once the sweep starts (the real one, over an empty day), the next outcome schedules the next sweep.
    tasks.sweep.run()
    tasks.enqueue_sweep()
    assert len(sent) == 2
    cache.delete(tasks.SWEEP_PENDING_KEY)
