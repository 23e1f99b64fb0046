"""Run the daily state change by hand (the beat schedule runs it hourly)."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from attendance.plan import consultations_advance_states


class Command(BaseCommand):
    help = "Flytter konsultasjoner fra planlagt til aktuell og fra aktuell til utløpt. Trygt å kjøre flere ganger."

    def add_arguments(self, parser):
        parser.add_argument("--dato", help="kjør som om det var denne datoen (ÅÅÅÅ-MM-DD); standard i dag")

    def handle(self, *args, dato: str | None = None, **options):
        try:
            today = date.fromisoformat(dato) if dato else None
        except ValueError:
            raise CommandError("Ugyldig dato. Bruk ÅÅÅÅ-MM-DD.") from None
        counts = consultations_advance_states(today=today)
        self.stdout.write(f"Aktuelle: {counts['due']}, utløpte: {counts['expired']}.")
