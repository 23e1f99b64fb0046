"""Change a person in the running fake register (birth, move, death, ...)."""

from __future__ import annotations

import json

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from registry_sync.fake.server import PREFIX, SCENARIOS


class Command(BaseCommand):
    help = (
        "Endrer en person i det falske folkeregisteret, f.eks. "
        "`register_scenario die --nin 01018512345` eller "
        "`register_scenario move --nin … --json '{\"municipality\": \"0301\"}'`. "
        f"Scenarier: {', '.join(SCENARIOS)}."
    )

    def add_arguments(self, parser):
        parser.add_argument("scenario", choices=sorted([*SCENARIOS, "respool", "fault"]))
        parser.add_argument("--nin", help="personens fødselsnummer")
        parser.add_argument("--person-id", help="personens register-ID")
        parser.add_argument("--json", dest="extra", default="{}", help="flere argumenter som JSON")

    def handle(self, *args, scenario: str, nin: str | None, person_id: str | None, **options):
        try:
            body = json.loads(options["extra"])
        except ValueError as exc:
            raise CommandError(f"--json er ikke gyldig JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise CommandError("--json må være et JSON-objekt.")
        if nin:
            body["nin"] = nin
        if person_id:
            body["personId"] = person_id
        admin = settings.REGISTER_BASE_URL.removesuffix(PREFIX).rstrip("/") + f"/_admin/{scenario}"
        try:
            response = requests.post(admin, json=body, timeout=10)
        except requests.RequestException as exc:
            raise CommandError(f"Fikk ikke kontakt med det falske folkeregisteret: {exc}") from exc
        if response.status_code != 200:
            raise CommandError(f"Det falske folkeregisteret svarte {response.status_code}: {response.text[:300]}")
        self.stdout.write(json.dumps(response.json(), ensure_ascii=False, indent=2))
