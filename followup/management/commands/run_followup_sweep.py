"""Run the follow-up sweep synchronously (the same code the Celery task runs)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from followup.sweep import followup_sweep


class Command(BaseCommand):
    help = "Åpner, flytter og avslutter oppfølgingssaker ut fra oppmøtedata (samme kode som Celery-sveipet)."

    def handle(self, *args, **options):
        started = time.perf_counter()
        report = followup_sweep()
        elapsed = time.perf_counter() - started
        figures = ", ".join(f"{key}={value}" for key, value in report.as_dict().items())
        self.stdout.write(f"Sveip ferdig på {elapsed:.2f} s: {figures}")
