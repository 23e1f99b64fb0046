"""Print the open register findings."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from registry_sync.worklist import findings_open_json


class Command(BaseCommand):
    help = "Viser åpne funn fra avstemmingen mot folkeregisteret."

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["json", "text"], default="text")

    def handle(self, *args, format: str, **options):  # noqa: A002 - the option's name
        rows = findings_open_json()
        if format == "json":
            self.stdout.write(json.dumps(rows, ensure_ascii=False, indent=2))
            return
        for row in rows:
            self.stdout.write(f"{row['detected_at'][:16]}  {row['kind']:<22} {row['national_id']}  {row['name']}  ({row['station']})")
        self.stdout.write(f"{len(rows)} åpne funn.")
