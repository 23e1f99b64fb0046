"""Create the demo municipality, its staff and children (deterministic per seed)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from helsestasjon.demo import seed_demo
from helsestasjon.models import Child


# --- Follow-up calls (the ladder's phone step) ------------------------------------------------


def seed_followup_calls(*, now=None) -> dict[str, int]:
    """Calls already logged on some demo cases, through the same services a nurse uses: a phone
    step with two unanswered attempts on two working days, one with an agreed time the case
    waits for, and one case paused until a date (the family is abroad)."""
    from datetime import timedelta

    from django.core.exceptions import ValidationError
    from django.utils import timezone

    from followup.calls import case_call_log
    from followup.steps import Booking, case_step_skip
    from followup.waiting import case_pause
    from followup.models import CallResult, Case, CaseStatus, PauseReason, StepKind
    from followup.workdays import add_working_days, is_working_day
    from helsestasjon.models import Role, User

    now = now or timezone.now()
    done = {"unanswered": 0, "waiting": 0, "paused": 0}
    cases = list(
        Case.objects.filter(status=CaseStatus.OPEN, current_step__kind=StepKind.SMS_REBOOK, waiting_for__isnull=True,
                            paused_until__isnull=True).select_related("current_step", "station").order_by("id")[:30]
    )
    for case in cases:
        staff = User.objects.filter(stations=case.station_id, is_active=True)
        nurse, clerk = staff.filter(role=Role.NURSE).order_by("id").first(), staff.filter(role=Role.CLERK).order_by("id").first()
        if nurse is None or clerk is None:
            continue
        wanted = next((kind for kind, n in done.items() if n < 1), None)
        if wanted is None:
            break
        try:
            if wanted == "paused":
                case_pause(case=case, user=nurse, reason=PauseReason.ABROAD, until=timezone.localdate(now) + timedelta(days=45),
                                    note="Familien er på besøk hos slekt")
                done["paused"] += 1
                continue
            step = case_step_skip(step=case.current_step, user=clerk, reason="Foresatte ringte selv; sykepleier ringer tilbake")
            if wanted == "unanswered":
                earlier = now - timedelta(days=1)
                while not is_working_day(timezone.localdate(earlier)):
                    earlier -= timedelta(days=1)
                for at in (earlier, now):
                    case_call_log(step=step, user=nurse, result=CallResult.NO_ANSWER, note="Ingen svar, ingen telefonsvarer", now=at)
            else:
                day = add_working_days(timezone.localdate(now), 3)
                starts_at = timezone.make_aware(timezone.datetime.combine(day, timezone.datetime.min.time())) + timedelta(hours=8 + case.pk % 7, minutes=5)
                case_call_log(step=step, user=nurse, result=CallResult.REACHED_REBOOKED, note="Mor glemte timen",
                                       booking=Booking(starts_at=starts_at, professional=nurse), now=now)
            done[wanted] += 1
        except ValidationError:
            continue  # this child has nothing to book or the time is taken: the next case
    return done


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
            if children:
                seed_followup_calls()
            self.stdout.write(
                f"Laget {result.children} barn og {result.guardians} foresatte på "
                f"{time.monotonic() - started:.1f} s."
            )
        self.stdout.write("\nDemobrukere (brukernavn / passord / rolle / helsestasjon):")
        for username, password, role, station in result.users:
            self.stdout.write(f"  {username:<16} {password:<20} {role:<16} {station}")
