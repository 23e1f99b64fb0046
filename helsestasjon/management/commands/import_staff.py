"""Create or update staff from a CSV file (the bulk form of the admin's staff page)."""

from __future__ import annotations

import csv

from django.core.management.base import BaseCommand, CommandError

from helsestasjon.services import STAFF_COLUMNS, StaffImportError, staff_import


class Command(BaseCommand):
    help = ("Oppretter eller oppdaterer ansatte fra en CSV-fil med kolonnene "
            f"{', '.join(STAFF_COLUMNS)} (helsestasjoner skilt med semikolon). HelseID oppretter aldri brukere.")

    def add_arguments(self, parser):
        parser.add_argument("path", help="CSV-fil (UTF-8, komma- eller semikolonseparert)")
        parser.add_argument("--dry-run", action="store_true", help="sjekk filen uten å lagre noe")

    def handle(self, *args, path: str, dry_run: bool, **options):
        try:
            with open(path, encoding="utf-8-sig", newline="") as handle:
                sample = handle.read(4096)
                handle.seek(0)
                dialect = csv.Sniffer().sniff(sample, delimiters=",;") if sample else csv.excel
                rows = list(csv.DictReader(handle, dialect=dialect))
        except OSError as exc:
            raise CommandError(f"Kan ikke lese {path}: {exc}") from exc
        except csv.Error as exc:
            raise CommandError(f"{path} er ikke en lesbar CSV-fil: {exc}") from exc
        try:
            counts = staff_import(rows=rows, dry_run=dry_run)
        except StaffImportError as exc:
            raise CommandError(f"Ingenting lagret: {exc}") from exc
        prefix = "Sjekket (ingenting lagret)" if dry_run else "Lagret"
        self.stdout.write(f"{prefix}: {counts['created']} nye og {counts['updated']} oppdaterte ansatte.")
