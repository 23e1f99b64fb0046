"""The home visit of the ladder needs the family's consent before it can be recorded as attended.

The guideline has a home visit announced, planned and agreed to; the consent is recorded on the
home-visit step (``CaseStep.consent_at``, by ``case_home_visit_consent``). Attendance asks this rule
through settings.ATTENDANCE_OUTCOME_CHECKS before it writes an outcome, so it never imports
follow-up. Only "Møtt" waits for consent: "Ingen hjemme" and "Ikke møtt" are what happened at the
door and move the ladder on.
"""

from __future__ import annotations

from django.utils.translation import gettext

from attendance.models import Appointment, Outcome, Place
from followup.models import CaseStatus, CaseStep, StepKind, StepStatus


def attended_without_consent(*, appointment: Appointment, outcome: str) -> str | None:
    """The refusal when ``appointment`` is a ladder's home visit recorded as attended without consent.

    The visit is the ladder's while an open case waits for it on its active home-visit step.
    """
    if outcome != Outcome.ATTENDED or appointment.place != Place.HOME:
        return None
    unconsented = CaseStep.objects.filter(
        case__waiting_for_id=appointment.pk, case__status=CaseStatus.OPEN,
        kind=StepKind.HOME_VISIT, status=StepStatus.ACTIVE, consent_at__isnull=True,
    )
    if not unconsented.exists():
        return None
    return gettext("Familiens samtykke til hjemmebesøket er ikke registrert. Registrer samtykket i saken før du registrerer «Møtt».")
