"""The chronology of a case: everything that happened, in order, with who did it.

The same entries feed the case page and the PDF (WeasyPrint) that goes with a
report of concern. Entries marked ``clinical`` are left out for users who do not
see clinical details (clerks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext

from attendance.models import Appointment, OutcomeEvent
from followup.letters.models import Letter
from followup.models import CallLog, Case, CaseLogEntry, CaseStep, CaseTrigger, LeaderDecision, SmsMessage, StepStatus


@dataclass
class Entry:
    at: datetime
    kind: str
    text: str
    by: str = ""
    detail: str = ""
    clinical: bool = False


def _name(user) -> str:
    if user is None:
        return gettext("Systemet")
    return user.get_full_name() or user.get_username()


def _without_repeated_prefix(kind: str, text: str) -> str:
    """The text without a label it repeats: the kind beside it, or itself ("Lederbeslutning: Lederbeslutning: …").

    Evidence stored by older versions (and some services) starts with the step's or the kind's name; the
    chronology has a column for that, and a person writing it would not say it twice.
    """
    while text.startswith(f"{kind}: "):
        text = text[len(kind) + 2:]
    head, sep, rest = text.partition(": ")
    while sep and rest.startswith(f"{head}: "):
        rest = rest[len(head) + 2:]
    return f"{head}{sep}{rest}" if sep else text


def case_chronology(*, case: Case, include_clinical: bool = True) -> list[Entry]:
    """All entries of the case and the child's appointments since a year before it opened."""
    entries: list[Entry] = []
    since = case.opened_at - timezone.timedelta(days=365)
    for appointment in (
        Appointment.objects.filter(child_id=case.child_id, booked_at__gte=since)
        .select_related("consultation__step", "booked_by", "professional")
        .order_by("booked_at", "id")
    ):
        when = timezone.localtime(appointment.starts_at)
        entries.append(
            Entry(
                appointment.booked_at, gettext("Innkalling"),
                gettext("Time bestilt: %(step)s %(date)s kl. %(time)s (%(place)s)") % {
                    "step": appointment.consultation.step.name, "date": f"{when:%d.%m.%Y}", "time": f"{when:%H:%M}",
                    "place": appointment.get_place_display().lower(),
                },
                _name(appointment.booked_by),
            )
        )
    for event in (
        OutcomeEvent.objects.filter(appointment__child_id=case.child_id, recorded_at__gte=since)
        .select_related("appointment__consultation__step", "recorded_by", "replaces")
        .order_by("recorded_at", "id")
    ):
        when = timezone.localtime(event.appointment.starts_at)
        text = gettext("%(outcome)s: %(step)s %(date)s kl. %(time)s") % {
            "outcome": event.get_outcome_display(), "step": event.appointment.consultation.step.name,
            "date": f"{when:%d.%m.%Y}", "time": f"{when:%H:%M}",
        }
        if event.replaces_id:
            text = gettext("Rettet til %(text)s") % {"text": text}
        entries.append(Entry(event.recorded_at, gettext("Utfall"), text, _name(event.recorded_by)))
        if event.reason:
            entries.append(Entry(event.recorded_at, gettext("Årsak"), event.get_reason_display(), _name(event.recorded_by), clinical=True))
    for trigger in CaseTrigger.objects.filter(case=case):
        text = trigger.get_kind_display() + (gettext(" (trukket tilbake)") if trigger.withdrawn_at else "")
        entries.append(Entry(trigger.created_at, gettext("Utløser"), text))
    for log in CaseLogEntry.objects.filter(case=case).select_related("by"):
        entries.append(Entry(log.at, log.get_kind_display(), log.text, _name(log.by)))
    decisions = list(LeaderDecision.objects.filter(case=case).select_related("decided_by"))
    # A step a leader's decision ended is told by the decision's own entry, not again as "Utført".
    ended_by_decision = {(d.step_id, d.decided_at) for d in decisions}
    letters = list(Letter.objects.filter(case=case).select_related("produced_by", "sent_by", "returned_by").prefetch_related("delivery_events").order_by("id"))
    # A letter step done by sending its letters is told by the letters' own entries ("… sendt"),
    # not again as "Utført: … sendt til 2 mottaker(e)".
    told_by_letters = {letter.case_step_id for letter in letters if letter.case_step_id and letter.sent_at}
    for step in CaseStep.objects.filter(case=case).select_related("ended_by").order_by("cycle", "seq"):
        round_text = gettext(" (runde %(cycle)s)") % {"cycle": step.cycle} if step.cycle > 1 else ""
        text = gettext("Trinn %(order)s: %(step)s%(round)s, frist %(deadline)s") % {
            "order": step.order, "step": step.name, "round": round_text, "deadline": f"{step.deadline:%d.%m.%Y}",
        }
        entries.append(Entry(step.started_at, gettext("Trinn"), text))
        if (step.id, step.ended_at) in ended_by_decision or (step.status == StepStatus.DONE and step.id in told_by_letters):
            pass
        elif step.status == StepStatus.DONE and step.evidence and step.kind != "phone_call":
            # A call step's evidence is its call, listed below.
            clinical = step.kind in ("home_visit", "discussion", "leader_decision")
            entries.append(Entry(step.ended_at, gettext("Utført"), f"{step.name}: {step.evidence}", _name(step.ended_by), clinical=clinical))
        elif step.status == StepStatus.SKIPPED:
            entries.append(
                Entry(step.ended_at, gettext("Hoppet over"), f"{step.name}: {step.skip_reason}", _name(step.ended_by), clinical=True)
            )
        elif step.status == StepStatus.PASSED:
            entries.append(Entry(step.ended_at, gettext("Over frist"), gettext("%(step)s: fristen gikk ut, saken gikk videre") % {"step": step.name}))
    for sms in SmsMessage.objects.filter(case_step__case=case).select_related("guardian", "created_by"):
        to = sms.guardian.full_name if sms.guardian else sms.to
        entries.append(Entry(sms.created_at, gettext("SMS"), gettext("SMS til %(to)s (%(status)s)") % {"to": to, "status": sms.get_status_display().lower()}, _name(sms.created_by), detail=sms.text))
    for letter in letters:
        # The recipient's name only: an address may be protected and never belongs here.
        name = gettext("%(kind)s til %(recipient)s") % {"kind": letter.get_kind_display(), "recipient": letter.recipient_name}
        if letter.produced_at:
            entries.append(Entry(letter.produced_at, gettext("Brev"), gettext("%(letter)s laget") % {"letter": name}, _name(letter.produced_by)))
        if letter.sent_at:
            entries.append(Entry(letter.sent_at, gettext("Brev"), gettext("%(letter)s sendt") % {"letter": name}, _name(letter.sent_by)))
        if letter.returned_at and (letter.returned_by_id or letter.channel == "local_print"):
            entries.append(Entry(letter.returned_at, gettext("Brev"), gettext("%(letter)s kom i retur") % {"letter": name}, _name(letter.returned_by)))
        # SvarUt's delivery statuses, each with its time (followup/letters/svarut/).
        for event in letter.delivery_events.all():
            entries.append(Entry(event.at, gettext("Brev"), gettext("%(letter)s: %(status)s (SvarUt)") % {
                "letter": name, "status": event.get_status_display().lower()}))
    for call in CallLog.objects.filter(case=case).select_related("called_by"):
        text = call.get_result_display()
        if call.call_again_on:
            text += gettext(" – ring igjen %(date)s") % {"date": f"{call.call_again_on:%d.%m.%Y}"}
        entries.append(Entry(call.called_at, gettext("Telefon"), text, _name(call.called_by), detail=call.note, clinical=bool(call.note)))
    for decision in decisions:
        text = decision.get_decision_display()
        if decision.concern_report_date:
            text += gettext(" – sendt %(date)s, ref. %(reference)s") % {
                "date": f"{decision.concern_report_date:%d.%m.%Y}", "reference": decision.concern_report_reference,
            }
        entries.append(Entry(decision.decided_at, gettext("Lederbeslutning"), text, _name(decision.decided_by), detail=decision.note, clinical=True))
    if case.closed_at and case.close_note:
        entries.append(Entry(case.closed_at, gettext("Merknad"), case.close_note, _name(case.closed_by), clinical=True))
    for entry in entries:
        entry.text = _without_repeated_prefix(entry.kind, entry.text)
    entries.sort(key=lambda e: e.at)
    if not include_clinical:
        entries = [e for e in entries if not e.clinical]
        for e in entries:
            if e.kind == gettext("Telefon"):
                e.detail = ""
    return entries


def chronology_pdf(*, case: Case, user) -> bytes:
    """The chronology as a PDF (WeasyPrint, with the fetcher that reads only our static files)."""
    from followup.letters.rendering import html_document

    html = render_to_string(
        "followup/chronology_pdf.html",
        {"case": case, "child": case.child, "entries": case_chronology(case=case), "printed_at": timezone.now(), "printed_by": _name(user)},
    )
    return html_document(html).write_pdf()
