"""The Celery settings the fault-tolerance story relies on."""

from __future__ import annotations

from django.conf import settings

from helsestasjon.celery import app


def test_only_json_travels_through_the_broker():
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_serializer == "json"


def test_late_acknowledgement_is_opt_in_and_lost_workers_requeue():
    # Default off: only tasks whose service is idempotent set acks_late themselves.
    assert app.conf.task_acks_late is False
    assert app.conf.task_reject_on_worker_lost is True
    assert app.conf.worker_prefetch_multiplier == 1


def test_every_task_has_a_time_limit_and_bounded_retries():
    assert app.conf.task_time_limit and app.conf.task_time_limit <= 3600
    assert app.conf.task_soft_time_limit <= app.conf.task_time_limit
    app.loader.import_default_modules()
    own = {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}
    assert own, "no project tasks registered"
    for name, task in own.items():
        assert task.max_retries is not None and task.max_retries <= 10, name


def test_no_schedule_or_countdown_outlives_the_visibility_timeout():
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    assert timeout >= 3600
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert "options" not in entry or entry["options"].get("countdown", 0) < timeout


def test_beat_entries_name_registered_tasks():
    app.loader.import_default_modules()
    for key, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert entry["task"] in app.tasks, f"{key} names unknown task {entry['task']}"
