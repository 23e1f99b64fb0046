"""The phone step: logging each call, the rule for unanswered calls, and the register's number.

``case_call_log`` checks the attempt (``_check_call``), records it once (a double click is the same
attempt), and lets its result decide what happens to the step (``_AFTER_CALL``, one function per
result, as the docstring lists them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from followup.ladder import LadderCache, ladder_advance, ladder_settings, ladder_start_step
from followup.models import CallLog, CallResult, Case, CaseStep, StepKind, StepStatus
from followup.steps import Booking, case_book, case_record_contact, step_end, step_lock_active
from followup.waiting import case_wait_for
from followup.workdays import add_working_days, is_working_day
from helsestasjon.models import Guardian, Language, User


DOUBLE_CLICK = timedelta(seconds=10)


@dataclass(frozen=True)
class CallProgress:
    """The unanswered calls of a phone step, against the municipality's rule."""

    calls: int
    days: int
    calls_needed: int
    days_needed: int
    next_attempt: date

    @property
    def escalates(self) -> bool:
        return self.calls >= self.calls_needed and self.days >= self.days_needed


def call_progress(*, step: CaseStep, municipality_id: int, today: date) -> CallProgress:
    """How many calls went unanswered on how many working days, and when to try next.

    A day counts once however many calls were made on it; a call on a weekend or a
    public holiday counts as a call but not as a working day."""
    rule = ladder_settings(municipality_id=municipality_id)
    days = set()
    calls = 0
    for called_at in CallLog.objects.filter(step=step, result=CallResult.NO_ANSWER).values_list("called_at", flat=True):
        calls += 1
        day = timezone.localdate(called_at)
        if is_working_day(day):
            days.add(day)
    # Another day is what the rule still lacks once enough calls were made today.
    next_attempt = add_working_days(today, 1) if (today in days or not is_working_day(today)) else today
    return CallProgress(calls, len(days), rule.unanswered_calls, rule.unanswered_days, next_attempt)


def call_progress_for(*, case: Case, today: date | None = None) -> CallProgress | None:
    step = case.current_step
    if not case.is_open or step is None or step.kind != StepKind.PHONE_CALL:
        return None
    return call_progress(step=step, municipality_id=case.station.municipality_id, today=today or timezone.localdate())


@transaction.atomic
def case_call_log(
    *,
    step: CaseStep,
    user: User,
    result: str,
    note: str = "",
    call_again_on: date | None = None,
    booking: Booking | None = None,
    guardian_id: int | None = None,
    language: str = "",
    now: datetime | None = None,
) -> CallLog:
    """Log one attempt of the phone step. What happens next depends on the result:

    - "Ikke svar": the step stays open until the municipality's number of unanswered calls on
      enough different working days (default 3 over 2), then the case moves on (the sweep also
      moves it when the deadline passes);
    - "Ring igjen": the step stays open, the case is on the nurse's list again on that day;
    - "Trenger tolk": the guardian's interpreter need and language are set, the step stays open;
    - "Feil nummer": the contact register's number is looked up and shown; with none, the case
      goes to the address check;
    - "Takker nei": the refusal and its reason go to the leader;
    - "Nådd, ny time avtalt": the new time is booked here and the case waits for it.
    """
    now = now or timezone.now()
    note = (note or "").strip()
    call = _Call(
        step=step, user=user, result=result, note=note, call_again_on=call_again_on, booking=booking, language=language, now=now,
    )
    call.guardian = _check_call(call, guardian_id)
    case = step_lock_active(step)
    # A double click logs one attempt: the same result by the same nurse seconds ago is that attempt.
    recent = (
        CallLog.objects.filter(step=step, called_by=user, result=result, called_at__gte=now - DOUBLE_CLICK, called_at__lte=now)
        .order_by("-called_at").first()
    )
    if recent is not None:
        return recent
    if case.waiting_for_id is not None:
        raise ValidationError(gettext("Saken venter på en avtalt time. Ny samtale logges når timen er passert."))
    call.case = case
    call.log = _record_call(call)
    _AFTER_CALL[result](call)
    return call.log


@dataclass
class _Call:
    """One attempt as the nurse logged it, carried through the named steps of ``case_call_log``."""

    step: CaseStep
    user: User
    result: str
    note: str
    call_again_on: date | None
    booking: Booking | None
    language: str
    now: datetime
    guardian: Guardian | None = None
    case: Case | None = None
    log: CallLog | None = None

    @property
    def today(self) -> date:
        return timezone.localdate(self.now)


def _check_call(call: _Call, guardian_id: int | None) -> Guardian | None:
    """Refuse an attempt that lacks what its result needs; the guardian who needs an interpreter."""
    today, result = call.today, call.result
    if result not in CallResult.values:
        raise ValidationError(gettext("Velg resultatet av samtalen."))
    if call.step.kind != StepKind.PHONE_CALL:
        raise ValidationError(gettext("Samtaler logges bare på telefontrinnet."))
    if result == CallResult.CALL_AGAIN:
        if call.call_again_on is None:
            raise ValidationError(gettext("Velg datoen du skal ringe igjen."))
        if call.call_again_on < today:
            raise ValidationError(gettext("Datoen for å ringe igjen kan ikke være tilbake i tid."))
        if call.call_again_on > today + timedelta(days=366):
            raise ValidationError(gettext("Datoen for å ringe igjen kan ikke være mer enn ett år fram i tid."))
    if result == CallResult.DECLINES and not call.note:
        raise ValidationError(gettext("Skriv hvorfor familien takker nei."))
    if result == CallResult.REACHED_REBOOKED and call.booking is None:
        raise ValidationError(gettext("Velg tidspunkt og fagperson for den nye timen."))
    if result != CallResult.NEEDS_INTERPRETER:
        return None
    if call.language not in Language.values or call.language in (Language.NB, Language.NN):
        raise ValidationError(gettext("Velg språket det trengs tolk til."))
    guardian = (
        Guardian.objects.filter(pk=guardian_id, guardianships__child_id=call.step.case.child_id).first() if guardian_id else None
    )
    if guardian is None:
        raise ValidationError(gettext("Velg hvilken foresatt som trenger tolk."))
    return guardian


def _record_call(call: _Call) -> CallLog:
    """The call log row (with the register's number or the booked time), and the case's last contact."""
    case, result = call.case, call.result
    register_number = contact_register_number(case=case) if result == CallResult.WRONG_NUMBER else ""
    appointment = None
    if result == CallResult.REACHED_REBOOKED:
        appointment = case_book(case=case, booking=call.booking, user=call.user, place="station")
    log = CallLog.objects.create(
        case=case, step=call.step, result=result, call_again_on=call.call_again_on if result == CallResult.CALL_AGAIN else None,
        note=call.note, called_by=call.user, called_at=call.now, register_number=register_number, appointment=appointment,
    )
    case_record_contact(case, gettext("Telefon: %(result)s") % {"result": CallResult(result).label}, call.now)
    return log


def _step_stays_open(call: _Call) -> None:
    CaseStep.objects.filter(id=call.step.id).update(follow_up_on=None)


def _end_call_step(call: _Call, evidence: str) -> None:
    step_end(case=call.case, step=call.step, status=StepStatus.DONE, user=call.user, evidence=evidence, now=call.now)


def _after_call_again(call: _Call) -> None:
    # The nurse's plan moves the deadline to the day she will call again.
    CaseStep.objects.filter(id=call.step.id).update(
        follow_up_on=call.call_again_on, deadline=max(call.step.deadline, call.call_again_on)
    )


def _after_needs_interpreter(call: _Call) -> None:
    Guardian.objects.filter(pk=call.guardian.pk).update(interpreter_needed=True, preferred_language=call.language)
    _step_stays_open(call)


def _after_no_answer(call: _Call) -> None:
    progress = call_progress(step=call.step, municipality_id=call.case.station.municipality_id, today=call.today)
    if not progress.escalates:
        _step_stays_open(call)
        return
    _end_call_step(call, gettext("%(calls)s ubesvarte anrop på %(days)s virkedager") % {"calls": progress.calls, "days": progress.days})
    ladder_advance(case=call.case, step=call.step, now=call.now)


def _after_wrong_number(call: _Call) -> None:
    if call.log.register_number:
        # The nurse calls the register's number next; the step stays open.
        _step_stays_open(call)
        return
    _end_call_step(call, gettext("Feil nummer, og kontaktregisteret har ikke noe annet nummer"))
    case, step = call.case, call.step
    target = LadderCache().of_kind(case.station_id, StepKind.ADDRESS_CHECK)
    if target is not None and target.order > step.order:
        ladder_start_step(case=case, ladder_step=target, now=call.now)
    else:
        ladder_advance(case=case, step=step, now=call.now)


def _after_declines(call: _Call) -> None:
    _end_call_step(call, gettext("Takker nei: %(reason)s") % {"reason": call.note})
    ladder_start_step(case=call.case, ladder_step=LadderCache().leader_step(call.case.station_id), now=call.now)


def _after_reached(call: _Call) -> None:
    # Reached, and a new time agreed: the step waits for that time.
    _step_stays_open(call)
    case_wait_for(call.case, call.log.appointment, by=call.user, now=call.now)


_AFTER_CALL = {
    CallResult.CALL_AGAIN: _after_call_again,
    CallResult.NEEDS_INTERPRETER: _after_needs_interpreter,
    CallResult.NO_ANSWER: _after_no_answer,
    CallResult.WRONG_NUMBER: _after_wrong_number,
    CallResult.DECLINES: _after_declines,
    CallResult.REACHED_REBOOKED: _after_reached,
}


def contact_register_number(*, case: Case) -> str:
    """The mobile number the contact register (KRR, through the population register) holds for
    one of the child's guardians that differs from the one on record; "" when there is none.

    A register that does not answer is a message to the nurse, not a wrong answer."""
    from helsestasjon.models import Guardianship
    from registry_sync.client import RegisterClient, parse_person
    from registry_sync.register_errors import RegisterError

    guardians = [
        g.guardian for g in Guardianship.objects.with_responsibility().filter(child_id=case.child_id).select_related("guardian")
        if g.guardian.register_person_id
    ]
    if not guardians:
        return ""
    try:
        documents = RegisterClient.from_settings().persons_by_id([g.register_person_id for g in guardians])
        records = [parse_person(doc) for doc in documents]
    except RegisterError:
        raise ValidationError(gettext("Kontaktregisteret svarer ikke nå. Prøv igjen om litt.")) from None
    known = {g.mobile for g in guardians}
    for record in records:
        phone = (record.phone or "").replace(" ", "").strip()
        if phone.startswith("+47") and len(phone) == 11:
            phone = phone[3:]
        if phone and phone not in known:
            return phone[:20]
    return ""

