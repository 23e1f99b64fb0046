"""Create the demo municipality, its staff and children (deterministic per seed)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from helsestasjon.demo import seed_demo
from helsestasjon.models import Child


class Command(BaseCommand):
    help = "Lager demodata: to helsestasjoner, brukere for hver rolle og N barn med foresatte."

    def add_arguments(self, parser):
        parser.add_argument("--children", type=int, default=300, help="antall barn (standard 300)")
        parser.add_argument("--seed", type=int, default=1, help="frø for tilfeldige data (samme frø gir samme data)")
        parser.add_argument("--if-empty", action="store_true", help="gjør ingenting hvis det allerede finnes barn")

    def handle(self, *args, children: int, seed: int, if_empty: bool, **options):
        if children < 0 or children > 200_000:
            raise CommandError("--children må være mellom 0 og 200000.")
        if if_empty and Child.objects.exists():
            self.stdout.write("Demodata finnes allerede; ingenting endret.")
            result = seed_demo(children=0, seed=seed)
        else:
            started = time.monotonic()
            result = seed_demo(children=children, seed=seed)
            self.stdout.write(
                f"Laget {result.children} barn og {result.guardians} foresatte på "
                f"{time.monotonic() - started:.1f} s."
            )
        self.stdout.write("\nDemobrukere (brukernavn / passord / rolle / helsestasjon):")
        for username, password, role, station in result.users:
            self.stdout.write(f"  {username:<16} {password:<20} {role:<16} {station}")
