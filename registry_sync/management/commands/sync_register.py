"""Run the register sync synchronously (the same code as the Celery tasks)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from registry_sync.runs import SyncFailed, register_full_reconciliation, register_sync


class Command(BaseCommand):
    help = "Leser hendelser fra folkeregisteret (eller gjør en fullstendig avstemming med --full)."

    def add_arguments(self, parser):
        parser.add_argument("--full", action="store_true", help="sammenlign alle barn i kommunen med folkeregisteret")

    def handle(self, *args, full: bool, **options):
        try:
            result = register_full_reconciliation() if full else register_sync()
        except SyncFailed as exc:
            raise CommandError(f"Synkronisering mot folkeregisteret feilet: {exc}") from exc
        self.stdout.write(str(result))
