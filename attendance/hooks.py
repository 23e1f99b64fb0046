"""Talk to the parts above attendance about outcomes, without importing them.

settings.ATTENDANCE_OUTCOME_HOOKS lists dotted paths of functions taking no
arguments (followup.tasks.enqueue_sweep by default). Each is called after the
current transaction commits, so whatever it starts sees the new outcome. A hook
that fails is logged and never undoes the recorded outcome.

settings.ATTENDANCE_OUTCOME_CHECKS lists dotted paths of functions asked before an
outcome is written (``appointment=``, ``outcome=``); each returns the Norwegian reason
the outcome is refused, or None. The follow-up part holds a rule of its own there: a
home visit of the ladder is not "Møtt" before the family's consent is recorded.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


def _call(path: str) -> None:
    try:
        import_string(path)()
    except Exception:  # A lost nudge is caught by the periodic sweep.
        logger.exception("Outcome hook %s failed", path)


def outcome_recorded_notify() -> None:
    """Call every hook in settings.ATTENDANCE_OUTCOME_HOOKS once the transaction commits."""
    for path in getattr(settings, "ATTENDANCE_OUTCOME_HOOKS", []):
        transaction.on_commit(lambda path=path: _call(path))


def outcome_refusal(*, appointment, outcome: str) -> str | None:
    """The first refusal of the checks in settings.ATTENDANCE_OUTCOME_CHECKS, or None when all allow it."""
    for path in getattr(settings, "ATTENDANCE_OUTCOME_CHECKS", []):
        refusal = import_string(path)(appointment=appointment, outcome=outcome)
        if refusal:
            return str(refusal)
    return None
