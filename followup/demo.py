"""Demo data for follow-up: run the sweep over the attendance history, so the work lists and the
leader queue have cases, then walk a few cases of each station up the ladder the way the staff
would have (issue 17): each role sees real work at first login. Called through settings.DEMO_SEEDERS.

Cases are moved only through the public services (a step completed with its evidence, a call
logged, letters made, printed and marked sent), never by writing a step's fields, so every case
holds the chronology it would have in real use. The number of walked cases per station is fixed,
so a large demo (the load benchmark's 40,000 children) costs no more than a small one.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext

from followup.models import CallResult, Case, CaseStatus, StepKind
from followup.calls import case_call_log
from followup.steps import case_step_complete, case_step_skip
from followup.sweep import followup_sweep
from helsestasjon.models import AddressProtection, Guardianship, Role, Station, User

# Where the walked cases of a station end, by ladder step order (1 is where the sweep leaves
# them): one at each of steps 2-6, then steps 8 and 7 fill the leader's queue up to
# LEADER_QUEUE, then a second at each of steps 2-6, as far as the station has cases.
WALK_TO = [2, 3, 4, 5, 6]
LEADER_STEPS = [8, 7, 8, 7]
LEADER_QUEUE = 4
KEEP_AT_FIRST_STEP = 2
INVITATIONS_AHEAD = 4
# The demo station that sends invitation letters for booked appointments (the other does not).
INVITING_STATION = 0

EVIDENCE = {
    StepKind.SMS_REBOOK: "Ingen ny time avtalt: foresatte har ikke svart på henvendelsen.",
    StepKind.ADDRESS_CHECK: "Adressen stemmer med folkeregisteret.",
    StepKind.HOME_VISIT: "Hjemmebesøk avtalt på telefon, men ingen var hjemme.",
    StepKind.DISCUSSION: "Drøftet med kollega: saken legges fram for leder.",
}


def seed(*, children, result, rng: random.Random, today: date) -> None:
    followup_sweep()
    if not children:
        return  # ``seed_demo --if-empty`` on an existing demo: its cases stay where the staff left them.
    stations = list(Station.objects.filter(pk__in=[s.pk for s in result.stations]).order_by("pk"))
    for index, station in enumerate(stations):
        walk_station(station=station)
        if index == INVITING_STATION:
            # After the walk, so the invitations are due on the letters page rather than printed.
            if not station.send_invitation_letters:
                station.send_invitation_letters = True
                station.save(update_fields=["send_invitation_letters"])
            book_ahead(station=station, today=today)


def _staff(station: Station) -> dict[str, User] | None:
    staff = {}
    for role in (Role.NURSE, Role.CLERK, Role.LEADER):
        user = User.objects.filter(role=role, stations=station, is_active=True).order_by("id").first()
        if user is None:
            return None
        staff[role] = user
    return staff


def _candidates(station: Station) -> list[Case]:
    """Open cases at the first step whose letters can go by post: no protected address on the
    child or a guardian, at least one guardian with parental responsibility, no særlig oppfølging
    (those cases start at the leader already)."""
    responsible = Guardianship.objects.filter(child_id=OuterRef("child_id"), parental_responsibility=True)
    protected = responsible.filter(
        guardian__address_protection__in=[AddressProtection.CONFIDENTIAL, AddressProtection.STRICTLY_CONFIDENTIAL]
    )
    return list(
        Case.objects.filter(status=CaseStatus.OPEN, station=station, current_step__order=1)
        .filter(Exists(responsible), ~Exists(protected))
        .exclude(child__address_protection__in=[AddressProtection.CONFIDENTIAL, AddressProtection.STRICTLY_CONFIDENTIAL])
        .exclude(child__special_attention=True)
        .select_related("current_step")
        .order_by("id")
    )


def _leader_queue_count(station: Station) -> int:
    return Case.objects.filter(status=CaseStatus.OPEN, station=station).filter(
        Q(current_step__kind__in=[StepKind.DISCUSSION, StepKind.LEADER_DECISION])
        | Q(overdue_since__isnull=False)
        | Q(child__special_attention=True)
    ).count()


def _order(case: Case) -> int:
    case.refresh_from_db(fields=["current_step", "status"])
    return case.current_step.order if case.current_step_id and case.status == CaseStatus.OPEN else 0


def _move_on(case: Case, staff: dict[str, User]) -> bool:
    """Do the work of the case's current (non-letter) step as its owner would; False if it did not move."""
    step = case.current_step
    before = step.id
    owner = staff.get(step.owner_role) or staff[Role.LEADER]
    now = timezone.now()
    try:
        if step.kind == StepKind.PHONE_CALL:
            # The ladder may keep the step open after an unanswered call (several attempts).
            for _ in range(3):
                case_call_log(step=step, user=owner, result=CallResult.NO_ANSWER, note=gettext("Ringte, ikke svar."), now=now)
                case.refresh_from_db(fields=["current_step"])
                if case.current_step_id != before:
                    return True
            case_step_skip(step=step, user=owner, reason=gettext("Ikke nådd på telefon etter tre forsøk; adressen kontrolleres."))
        else:
            case_step_complete(step=step, user=owner, evidence=EVIDENCE.get(step.kind, step.name), now=now)
    except ValidationError:
        case.refresh_from_db(fields=["current_step"])
        if case.current_step_id == before:
            case_step_skip(step=case.current_step, user=owner, reason=EVIDENCE.get(step.kind, step.name))
    case.refresh_from_db(fields=["current_step"])
    if case.current_step_id:
        case.current_step.refresh_from_db()
    return case.current_step_id != before


def _walk(cases: list[Case], target: int, staff: dict[str, User]) -> list[Case]:
    """Move each case until it reaches ``target`` or a letter step; the cases now at a letter step."""
    at_letters = []
    for case in cases:
        for _ in range(12):
            order = _order(case)
            if not order or order >= target:
                break
            if case.current_step.kind in (StepKind.LETTER_NEW_INVITATION, StepKind.LETTER_DUTY_REMINDER):
                at_letters.append(case)
                break
            if not _move_on(case, staff):
                break
    return at_letters


def _send_letters(station: Station, clerk: User) -> None:
    """The clerk's print run, as on the letters page: make the due letters, print, mark sent."""
    from followup.letters.models import LetterBatch
    from followup.letters.batch import letter_batch_mark_sent, letter_batch_start
    from followup.letters.making import LetterError
    from followup.letters.printing import letters_render

    try:
        batch = letter_batch_start(station=station, user=clerk)
    except LetterError:
        return
    letters_render(batch_id=batch.id)
    batch = LetterBatch.objects.get(pk=batch.pk)
    try:
        letter_batch_mark_sent(batch=batch, user=clerk)
    except LetterError:
        pass


def walk_station(*, station: Station) -> dict[int, int]:
    """Walk a fixed number of the station's step-1 cases up the ladder; returns cases per step order."""
    staff = _staff(station)
    if staff is None:
        return {}
    candidates = _candidates(station)
    room = max(0, LEADER_QUEUE - _leader_queue_count(station))
    targets = (WALK_TO + LEADER_STEPS[:room] + WALK_TO)[: max(0, len(candidates) - KEEP_AT_FIRST_STEP)]
    # The deepest first: their letters are printed before the others reach the letter steps,
    # so the cases left at steps 4 and 5 keep their letters due for the clerk.
    plan = sorted(zip(candidates, targets), key=lambda pair: -pair[1])
    for target in sorted(set(targets), reverse=True):
        group = [case for case, t in plan if t == target]
        for _ in range(4):
            at_letters = _walk(group, target, staff)
            if not at_letters:
                break
            if target <= 4 or all(_order(case) >= target for case in group):
                break
            _send_letters(station, staff[Role.CLERK])
    counts: dict[int, int] = {}
    for case in Case.objects.filter(status=CaseStatus.OPEN, station=station).select_related("current_step"):
        counts[case.current_step.order] = counts.get(case.current_step.order, 0) + 1
    return counts


def book_ahead(*, station: Station, today: date, count: int = INVITATIONS_AHEAD) -> int:
    """Book a few due consultations two to three weeks ahead, as the clerk books by letter: far
    enough away for the post, so their invitation letters are due (the attendance demo fills only
    the coming days, which get the SMS reminder alone)."""
    from attendance.models import Consultation, ConsultationState, Place
    from attendance.booking import appointment_book
    from attendance.errors import BookingError

    nurse = User.objects.filter(role=Role.NURSE, stations=station, is_active=True).order_by("id").first()
    clerk = User.objects.filter(role=Role.CLERK, stations=station, is_active=True).order_by("id").first()
    if nurse is None or clerk is None:
        return 0
    due = (
        Consultation.objects.filter(child__station=station, child__status="active", state=ConsultationState.DUE)
        .exclude(child__followup_cases__status=CaseStatus.OPEN)
        .order_by("id")[: count * 3]
    )
    day = today + timedelta(days=max(14, station.invitation_letter_min_days + 1))
    booked = 0
    for consultation in due:
        while day.weekday() >= 5:
            day += timedelta(days=1)
        starts = timezone.make_aware(datetime.combine(day, time(13, 0)) + timedelta(minutes=30 * booked))
        try:
            appointment_book(
                consultation=consultation, starts_at=starts, duration_minutes=30, place=Place.STATION, room="Rom 1",
                professional=nurse, booked_by=clerk,
            )
        except (BookingError, ValidationError):
            continue  # the nurse is busy then, or the consultation cannot be booked: try the next
        booked += 1
        if booked >= count:
            break
    return booked
