"""Move the fake SvarUt's clock (the demo: a clerk watches statuses arrive), then poll the statuses."""

from __future__ import annotations

import requests
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Flytter klokka i den falske SvarUt fram (timer), og henter statusene for brevene."

    def add_arguments(self, parser):
        parser.add_argument("--hours", type=float, default=1.0)
        parser.add_argument("--url", default=None, help="den falske SvarUt (standard: fra SVARUT_BASE_URL)")
        parser.add_argument("--no-poll", action="store_true", help="bare flytt klokka")

    def handle(self, *args, hours: float, url: str | None, no_poll: bool, **options):
        if not 0 < hours <= 24 * 60:
            raise CommandError("--hours må være mellom 0 og 1440.")
        root = url or settings.SVARUT_BASE_URL.rsplit("/api", 1)[0]
        try:
            response = requests.post(f"{root.rstrip('/')}/_admin/clock", json={"hours": hours}, timeout=5)
            response.raise_for_status()
        except requests.RequestException as exc:
            raise CommandError(f"Den falske SvarUt svarer ikke på {root}: {exc}") from exc
        self.stdout.write(f"Klokka i falsk SvarUt er nå {response.json()['now']}.")
        if not no_poll:
            from followup.letters.svarut.services import svarut_poll

            self.stdout.write(f"Statuser: {svarut_poll()}")
