"""Demo data for follow-up: run the sweep over the attendance history, so the
work lists and the leader queue have cases. Called through settings.DEMO_SEEDERS."""

from __future__ import annotations

import random
from datetime import date

from followup.services import followup_sweep


def seed(*, children, result, rng: random.Random, today: date) -> None:
    followup_sweep()
