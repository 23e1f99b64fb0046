"""Follow-up pages: the nurse's and the clerk's work lists, the leader's queue,
a case with its chronology (and PDF), and the htmx actions on a case's step.

One module past 500 lines on purpose: the lists, the case page and the actions share the row
decoration (``_decorate``) and the choice of the fragment an action answers with (``_respond``);
the actions' forms live in ``followup/case_forms.py``."""

from __future__ import annotations

from collections import defaultdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Case as DbCase, F, IntegerField, Q, Value, When
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from attendance.models import Appointment
from followup import calls, closing, home_visit, steps, waiting
from followup import decisions as leader_decisions
from followup.sms import rebook
from followup.chronology import case_chronology, chronology_pdf
from followup.case_forms import FORMS, CaseForms, add_service_error
from followup.forms import CallForm, HomeVisitForm
from followup.models import CallLog, CallResult, Case, CaseStatus, CaseStep, LadderSettings, StepKind
from followup.workdays import add_working_days, is_working_day
from followup.worklists import worklist_cases, worklist_page
from helsestasjon.access import child_for_request
from helsestasjon.permissions import (
    may_act_on_step,
    may_close_with_gp,
    may_decide,
    may_download_chronology,
    may_open_list,
    may_pause_case,
    may_see_clinical_text,
    may_see_leader_queue,
    require,
    requires,
)
from helsestasjon.models import AccessAction, Guardian, Guardianship, Role, User
from helsestasjon.services import access_log_record_many

PAGE_SIZE = 50
LEADER_KINDS = (StepKind.DISCUSSION, StepKind.LEADER_DECISION)

# The three work lists, by the role whose steps they hold: their row fragment and their page.
# Who may open each is helsestasjon.permissions.may_open_list; an htmx action answers with a
# list's row only to a user who may open that list, so no one gets another role's row.
LIST_ROWS = {
    Role.NURSE: "followup/worklist.html#row",
    Role.CLERK: "followup/worklist.html#row",
    Role.LEADER: "followup/leader_queue.html#row",
}
LIST_PAGES = {Role.NURSE: "followup:nurse_worklist", Role.CLERK: "followup:clerk_worklist", Role.LEADER: "followup:leader_queue"}
CASE_FRAGMENT = "followup/case.html#current"
# The ``fra`` a page puts in its forms, read only to send a plain (non-htmx) POST back to its page.
FROM_PAGE = {"sykepleier": Role.NURSE, "merkantil": Role.CLERK, "leder": Role.LEADER}
# The ids the pages give the element an action swaps: a list row, or the case page's section.
ROW_TARGET = "case"
CASE_TARGET = "sak"


def _open_cases(user):
    return (
        Case.objects.filter(status=CaseStatus.OPEN, station_id__in=user.station_ids())
        .select_related("child", "current_step", "station", "waiting_for")
    )


def _decorate(cases: list[Case], user, *, contacts: bool = True, phone: bool = True) -> list[Case]:
    """Attach what a row shows, in a constant number of queries for any number of rows.

    ``contacts`` adds the guardians and the next booked appointment (the nurse's
    and the clerk's lists, and the case page; the leader's queue does without).
    ``phone`` adds the phone step's attempts and the booking form's professionals (three
    queries); the clerk's list does without, as a clerk owns no phone or home-visit step.
    """
    if not cases:
        return cases
    child_ids = [c.child_id for c in cases]
    now = timezone.now()
    guardians = defaultdict(list)
    next_appointments = {}
    if contacts:
        # The guardians themselves, each with the child it was found for: one row and one model
        # instance per guardian and child, in the order of the guardianships.
        shown = Guardianship.objects.with_responsibility().filter(child_id__in=child_ids)
        for guardian in (
            Guardian.objects.filter(guardianships__in=shown).annotate(for_child=F("guardianships__child_id")).order_by("guardianships__id")
        ):
            guardians[guardian.for_child].append(guardian)
        next_appointments = Appointment.objects.filter(child_id__in=child_ids).next_booked_by_child(now=now)
    # Missed in the last 12 months: a column of the leader's queue only.
    missed = {} if contacts else Appointment.objects.filter(child_id__in=child_ids).missed_counts(now=now)
    today = timezone.localdate()
    if contacts and phone:
        # The phone step's attempts and the booking form's professionals (not on the leader's queue).
        _attach_calls(cases, today)
        _attach_professionals(cases)
    else:
        for case in cases:
            case.attempts, case.call_progress, case.professionals = [], None, []
    for case in cases:
        case.waited_appointment = case.waiting_for  # joined or prefetched by the read
        step = case.current_step
        case.guardian_list = guardians.get(case.child_id, [])
        case.sms_guardians = [g for g in case.guardian_list if g.mobile and not g.sms_reserved]
        case.next_appointment = next_appointments.get(case.child_id)
        case.missed_12m = missed.get(case.child_id, 0)
        case.days_waiting = (today - timezone.localdate(step.started_at)).days if step else 0
        case.step_overdue = bool(step and not case.is_waiting and (step.overdue or step.deadline < today))
        # "Ring igjen" on a later day: on the list, but not due before that day.
        case.call_later = bool(step and step.follow_up_on and step.follow_up_on > today)
        case.can_act = bool(case.is_open and may_act_on_step(user, step))
        case.forms = CaseForms(case, user, today=today)
    return cases


def _attach_calls(cases: list[Case], today) -> None:
    """The attempts of each phone step shown, and what the municipality's rule makes of them (two queries)."""
    # Read for every current step (not only phone steps), so every page costs the same two queries.
    by_step = {c.current_step_id: c for c in cases if c.current_step_id}
    phone_steps = {step_id: c for step_id, c in by_step.items() if c.current_step.kind == StepKind.PHONE_CALL}
    for case in cases:
        case.attempts, case.call_progress = [], None
    if not by_step:
        return
    for call in CallLog.objects.filter(step_id__in=list(by_step)).select_related("called_by").order_by("called_at", "id"):
        by_step[call.step_id].attempts.append(call)
    municipality_of = {c.station_id: c.station.municipality_id for c in cases}
    rules = {r.municipality_id: r for r in LadderSettings.objects.filter(municipality_id__in=set(municipality_of.values()))}
    for case in phone_steps.values():
        rule = rules.get(municipality_of[case.station_id]) or LadderSettings()
        unanswered = [c for c in case.attempts if c.result == CallResult.NO_ANSWER]
        days = {timezone.localdate(c.called_at) for c in unanswered}
        working = {d for d in days if is_working_day(d)}
        next_attempt = add_working_days(today, 1) if (today in days or not is_working_day(today)) else today
        case.call_progress = calls.CallProgress(len(unanswered), len(working), rule.unanswered_calls, rule.unanswered_days, next_attempt)
        case.register_number = next((c.register_number for c in reversed(case.attempts) if c.register_number), "")


def _attach_professionals(cases: list[Case]) -> None:
    """Who can hold a booked time at each case's station (for booking on the case), in one query."""
    station_ids = {c.station_id for c in cases}
    by_station = defaultdict(list)
    links = (
        User.stations.through.objects.filter(station_id__in=station_ids, user__is_active=True)
        .exclude(user__role=Role.CLERK).select_related("user").order_by("user__first_name", "user__last_name", "user_id")
    )
    for link in links:
        by_station[link.station_id].append(link.user)
    for case in cases:
        case.professionals = by_station.get(case.station_id, [])


def _log_list(request, cases: list[Case], what: str) -> None:
    """Every child a list shows is written to the access log, in one statement."""
    if cases:
        access_log_record_many(
            user=request.user, children=[c.child for c in cases], action=AccessAction.VIEW_LIST, what=what,
            path=request.get_full_path(),
        )


def _page(request, qs, *, what: str, contacts: bool = True, phone: bool = True):
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("side"))
    cases = page.object_list = worklist_page(qs, page)
    _decorate(cases, request.user, contacts=contacts, phone=phone)
    _log_list(request, cases, what)
    return page


def _list_context(request, page, fra: str, target: str = ROW_TARGET) -> dict:
    # list_role: whose list the page (or the row an action answers with) is, from the page's ``fra``.
    return {
        "page": page, "fra": fra, "list_role": FROM_PAGE.get(fra), "case_target": target, "today": timezone.localdate(),
    }


def _case_context(request, case: Case) -> dict:
    """What the case page's current section shows besides the case: the leader's last decision; and
    the case's forms, with the decision form's choices and the steps a leader may continue on."""
    decisions = _decisions(request.user, case)
    continue_steps = leader_decisions.continue_step_choices(case=case) if decisions else []
    case.forms = CaseForms(case, request.user, today=timezone.localdate(), decisions=decisions, continue_steps=continue_steps)
    return {"last_decision": leader_decisions.latest_decision(case=case)}


def _decisions(user, case: Case) -> list[leader_decisions.DecisionChoice]:
    """The choices of the decision form, each with what follows it; only a leader is shown the form."""
    if not case.is_open or not may_decide(user):
        return []
    return leader_decisions.leader_decision_choices(case=case)


@login_required
@require_GET
@requires(lambda user: may_open_list(user, Role.NURSE))
def nurse_worklist(request):
    """Cases at steps the nurse owns: calls, home visits, discussions."""
    today = timezone.localdate()
    # Due work first; a case waiting (agreed time, pause, "ring igjen" on a later day) after it, with its mark.
    later = DbCase(
        When(Q(waiting_for__isnull=False) | Q(paused_until__isnull=False) | Q(awaiting_child_welfare=True)
             | Q(current_step__follow_up_on__gt=today), then=Value(1)),
        default=Value(0), output_field=IntegerField(),
    )
    # The station's municipality gives the phone step's rule (_attach_calls); the clerk's list does without.
    qs = worklist_cases(request.user, Role.NURSE).select_related("station").annotate(later=later).order_by("later", "current_step__deadline", "id")
    page = _page(request, qs, what=gettext("Oppfølging: helsesykepleiers liste"))
    return render(request, "followup/worklist.html", _list_context(request, page, "sykepleier"))


@login_required
@require_GET
@requires(lambda user: may_open_list(user, Role.CLERK))
def clerk_worklist(request):
    """Cases needing a new appointment and SMS, an address check, or a letter."""
    qs = worklist_cases(request.user, Role.CLERK)
    page = _page(request, qs, what=gettext("Oppfølging: merkantils liste"), phone=False)
    return render(request, "followup/worklist.html", _list_context(request, page, "merkantil"))


def leader_queue_cases(user):
    """The leader's queue: steps 7–8, past deadline at any step, særlig oppfølging;
    by risk (computed, Case.objects.with_risk), then the longest wait at the current step.
    Særlig oppfølging is read from the child."""
    return (
        Case.objects.filter(status=CaseStatus.OPEN, station_id__in=user.station_ids())
        .filter(Q(current_step__kind__in=LEADER_KINDS) | Q(overdue_since__isnull=False) | Q(child__special_attention=True))
        .with_risk()
        .order_by("-risk_now", "current_step__started_at", "id")
    )


@login_required
@require_GET
@requires(may_see_leader_queue)
def leader_queue(request):
    # Two steps: the page's ids from the cases and steps alone, then those rows
    # with their children, so a long queue never joins every child to sort.
    page = Paginator(leader_queue_cases(request.user).values_list("id", flat=True), PAGE_SIZE).get_page(request.GET.get("side"))
    ids = list(page.object_list)
    by_id = _open_cases(request.user).in_bulk(ids)
    page.object_list = [by_id[i] for i in ids if i in by_id]
    _decorate(page.object_list, request.user, contacts=False)
    _log_list(request, page.object_list, gettext("Lederkø"))
    return render(request, "followup/leader_queue.html", _list_context(request, page, "leder"))


@login_required
@require_GET
@requires(may_decide)
def decision_form(request, case_id: int):
    """The leader's decision form for one case, fetched by the queue when she opens it."""
    case = _case_for_request(request, case_id, what=gettext("Lederbeslutning"))
    context = _list_context(request, None, "leder") | {"case": case} | _case_context(request, case)
    return render(request, "followup/leader_queue.html#decision", context)


def _case_for_request(request, case_id: int, *, what: str, action: str = AccessAction.VIEW_RECORD) -> Case:
    try:
        case = _all_cases(request.user).get(pk=case_id)
    except (Case.DoesNotExist, ValueError, TypeError):
        raise Http404(gettext("Fant ikke saken.")) from None
    # Writes the access log (and 404s a child of another station).
    child_for_request(request, case.child_id, what=what, action=action)
    return case


def _all_cases(user):
    return Case.objects.filter(station_id__in=user.station_ids()).select_related(
        "child", "current_step", "station", "closed_by", "waiting_for"
    )


@login_required
@require_GET
def case_detail(request, case_id: int):
    case = _case_for_request(request, case_id, what=gettext("Oppfølgingssak"))
    return _case_page(request, case)


def _case_page(request, case: Case, *, fra: str = "sak", failed: tuple | None = None):
    """The case page; ``failed`` is a form sent back with its messages (see ``_respond``)."""
    _decorate([case], request.user)
    entries = case_chronology(case=case, include_clinical=may_see_clinical_text(request.user))
    context = _list_context(request, None, fra, CASE_TARGET) | {"case": case, "entries": entries} | _case_context(request, case)
    _send_back(case, failed)
    return render(request, "followup/case.html", context)


@login_required
@require_GET
@requires(may_download_chronology)
def case_chronology_pdf(request, case_id: int):
    """The chronology as a PDF; downloading it writes the access log."""
    case = _case_for_request(request, case_id, what=gettext("Kronologi for oppfølgingssak (PDF)"), action=AccessAction.VIEW_PDF)
    pdf = chronology_pdf(case=case, user=request.user)
    # No names of people in a file name: it ends up in download folders, mail and print queues.
    filename = f"kronologi-sak-{case.pk}-barn-{case.child_id}-{timezone.localdate():%Y%m%d}.pdf"
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


# --------------------------------------------------------------------------- actions


def _step_for_request(request, step_id: int) -> CaseStep:
    try:
        step = CaseStep.objects.select_related("case").get(pk=step_id, case__station_id__in=request.user.station_ids())
    except (CaseStep.DoesNotExist, ValueError, TypeError):
        raise Http404(gettext("Fant ikke trinnet.")) from None
    require(request.user, may_act_on_step, step, message=gettext("Dette trinnet er ikke ditt."))
    child_for_request(request, step.case.child_id, what=gettext("Oppfølging: %(step)s") % {"step": step.name})
    return step


def _respond(request, case_id: int, *, queue: str, error: str = "", done: str = "", failed: tuple | None = None):
    """Answer an action on a case.

    ``queue`` is the work list the acted-on row sits on, decided by the view from what was acted on
    (a step is on its owner's list, a decision on the leader's queue). An htmx request gets that
    list's row only when it targets a list row and the user may open that list; otherwise the case
    page's section. Nothing the client posts selects the fragment.

    ``failed`` is ``(name, form)``: the form the user sent, with its messages, shown again open with
    what was typed. A plain POST with such a form gets the case page itself (a redirect would lose it).
    """
    case = _all_cases(request.user).get(pk=case_id)
    if request.htmx:
        on_list = request.htmx.target == f"{ROW_TARGET}-{case_id}" and may_open_list(request.user, queue)
        _decorate([case], request.user, contacts=not (on_list and queue == Role.LEADER))
        if on_list:
            template = LIST_ROWS[queue]
            fra = next(key for key, role in FROM_PAGE.items() if role == queue)
            context = _list_context(request, None, fra)
            if failed and failed[0] == "decision":
                # The leader's row shows the decision form again, which needs the case's choices.
                context |= _case_context(request, case)
        else:
            template = CASE_FRAGMENT
            context = _list_context(request, None, "sak", CASE_TARGET) | _case_context(request, case)
            # The chronology beside it is brought up to date in the same answer (an out-of-band swap).
            context["entries"] = case_chronology(case=case, include_clinical=may_see_clinical_text(request.user))
            context["chronology_oob"] = True
        _send_back(case, failed)
        return render(request, template, context | {"case": case, "error": error, "done": done})
    if failed:
        fra = request.POST.get("fra", "")
        return _case_page(request, case, fra=fra if fra in FROM_PAGE else "sak", failed=failed)
    if error:
        messages.error(request, error)
    elif done:
        messages.success(request, done)
    back = FROM_PAGE.get(request.POST.get("fra", ""))
    if back is not None and may_open_list(request.user, back):
        return redirect(LIST_PAGES[back])
    return redirect(reverse("followup:case", args=[case_id]))


def _send_back(case: Case, failed: tuple | None) -> None:
    if failed:
        case.forms.sent_back(*failed)


def _act(request, case_id: int, *, queue: str, done, act, form=None, name: str = ""):
    """Check the form, call one service, answer.

    ``act`` takes the form's cleaned data and calls the service; ``done`` is what to say then, or a
    function making it from what the service returned. A refusal, the form's or the service's, sends the form back with its messages at
    their fields; an action without a form shows the service's message above the step.
    """
    if form is not None and not form.is_valid():
        return _respond(request, case_id, queue=queue, failed=(name, form))
    try:
        result = act(form.cleaned_data if form is not None else {})
    except ValidationError as exc:
        if form is None:
            return _respond(request, case_id, queue=queue, error=" ".join(exc.messages))
        add_service_error(name, form, exc)
        return _respond(request, case_id, queue=queue, failed=(name, form))
    return _respond(request, case_id, queue=queue, done=done(result) if callable(done) else done)


def _with_form(request, name: str, done: str, service, *fields: str, queue: str, case_id: int, **target):
    """An action with one of the case's forms: the service gets ``target`` (``step=`` or ``case=``),
    the user, and the form's ``fields`` under their own names."""
    return _act(
        request, case_id, queue=queue, form=FORMS[name](request.POST), name=name, done=done,
        act=lambda data: service(user=request.user, **target, **{field: data[field] for field in fields}),
    )


def _booking(request, case: Case, form) -> steps.Booking | None:
    """The time a form asks to book, with professionals from the case's station only (else a message at the field)."""
    starts_at, professional_id, duration = form.booking_parts()
    if starts_at is None or professional_id is None:
        return None
    staff = User.objects.filter(is_active=True, stations__id=case.station_id).exclude(role=Role.CLERK)
    professional = staff.filter(pk=professional_id).first()
    if professional is None:
        raise ValidationError({"professional": gettext("Velg en fagperson ved barnets helsestasjon.")})
    second = None
    second_id = form.cleaned_data.get("second_professional")
    if second_id:
        second = staff.filter(pk=second_id).first()
        if second is None:
            raise ValidationError({"second_professional": gettext("Fagperson nr. 2 må være en annen fagperson ved barnets helsestasjon.")})
    return steps.Booking(starts_at=starts_at, professional=professional, duration_minutes=duration, second_professional=second)


CALL_DONE = {
    CallResult.NO_ANSWER: gettext_lazy("Forsøket er lagret."),
    CallResult.CALL_AGAIN: gettext_lazy("Samtalen er lagret. Saken kommer på listen igjen den dagen."),
    CallResult.NEEDS_INTERPRETER: gettext_lazy("Tolkebehov og språk er lagret hos den foresatte."),
    CallResult.WRONG_NUMBER: gettext_lazy("Samtalen er lagret."),
    CallResult.DECLINES: gettext_lazy("Samtalen er lagret, og saken er sendt til leder."),
    CallResult.REACHED_REBOOKED: gettext_lazy("Ny time er bestilt. Saken venter på timen."),
}


@login_required
@require_POST
def step_call(request, step_id: int):
    step = _step_for_request(request, step_id)
    form = CallForm(request.POST)

    def act(data) -> CallLog:
        booking = _booking(request, step.case, form) if data["result"] == CallResult.REACHED_REBOOKED else None
        return calls.case_call_log(
            step=step, user=request.user, result=data["result"], note=data["note"], call_again_on=data["call_again_on"],
            booking=booking, guardian_id=data.get("guardian"), language=data.get("language") or "",
        )

    return _act(request, step.case_id, queue=step.owner_role, form=form, name="call", act=act, done=_call_done)


def _call_done(logged: CallLog) -> str:
    """What the nurse is told after a call; a wrong number says what the contact register had."""
    if logged.result != CallResult.WRONG_NUMBER:
        return str(CALL_DONE[logged.result])
    if logged.register_number:
        return gettext("Kontaktregisteret har nummeret %(number)s. Ring det nummeret.") % {"number": logged.register_number}
    return gettext("Kontaktregisteret har ikke noe annet nummer. Saken går til adressekontroll.")


@login_required
@require_POST
def step_home_visit(request, step_id: int):
    step = _step_for_request(request, step_id)
    form = HomeVisitForm(request.POST)
    return _act(
        request, step.case_id, queue=step.owner_role, form=form, name="home_visit",
        act=lambda data: home_visit.case_home_visit_book(step=step, user=request.user, booking=_booking(request, step.case, form)),
        done=gettext("Hjemmebesøket er bestilt, og familien får SMS og brev."),
    )


@login_required
@require_POST
def step_consent(request, step_id: int):
    step = _step_for_request(request, step_id)
    return _with_form(request, "consent", gettext("Samtykket er registrert."), home_visit.case_home_visit_consent, "note",
                      queue=step.owner_role, case_id=step.case_id, step=step)


@login_required
@require_POST
@requires(may_pause_case)
def case_pause(request, case_id: int):
    case = _case_for_request(request, case_id, what=gettext("Pause i oppfølgingen"))
    return _with_form(request, "pause", gettext("Saken er satt på pause."), waiting.case_pause, "reason", "until", "note",
                      queue="", case_id=case.pk, case=case)


@login_required
@require_POST
@requires(may_pause_case)
def case_pause_end(request, case_id: int):
    case = _case_for_request(request, case_id, what=gettext("Pause i oppfølgingen"))
    return _act(request, case.pk, queue="", act=lambda data: waiting.case_pause_end(case=case, user=request.user),
                done=gettext("Pausen er avsluttet, og oppfølgingen fortsetter."))


@login_required
@require_POST
def step_complete(request, step_id: int):
    step = _step_for_request(request, step_id)
    if step.kind in (StepKind.PHONE_CALL, StepKind.SMS_REBOOK, StepKind.LEADER_DECISION):
        return _respond(request, step.case_id, queue=step.owner_role, error=gettext("Bruk skjemaet for dette trinnet."))
    return _with_form(request, "complete", gettext("Trinnet er utført."), steps.case_step_complete, "evidence",
                      queue=step.owner_role, case_id=step.case_id, step=step)


@login_required
@require_POST
def step_sms(request, step_id: int):
    step = _step_for_request(request, step_id)
    return _act(request, step.case_id, queue=step.owner_role, act=lambda data: rebook.case_sms_rebook(step=step, user=request.user),
                done=gettext("SMS er sendt og trinnet utført."))


@login_required
@require_POST
def step_skip(request, step_id: int):
    step = _step_for_request(request, step_id)
    return _with_form(request, "skip", gettext("Trinnet er hoppet over."), steps.case_step_skip, "reason",
                      queue=step.owner_role, case_id=step.case_id, step=step)


@login_required
@require_GET
def step_skip_form(request, step_id: int):
    """A list row's skip form, fetched when its "Hopp over trinnet" is opened (the lists do not
    render a rarely used form on every row). Opened without htmx, the URL leads to the case."""
    step = _step_for_request(request, step_id)
    case = step.case
    if not request.htmx:
        return redirect(reverse("followup:case", args=[case.id]))
    if case.current_step_id != step.id or not step.is_active or step.kind == StepKind.LEADER_DECISION or case.is_waiting:
        return HttpResponse(format_html('<p class="error" role="alert">{}</p>', gettext("Trinnet kan ikke hoppes over nå. Last inn siden på nytt.")))
    fra = request.GET.get("fra", "")
    case.forms = CaseForms(case, request.user, today=timezone.localdate())
    context = {"case": case, "step": step, "fra": fra if fra in FROM_PAGE else "", "case_target": ROW_TARGET}
    return render(request, "followup/_actions.html#skip_form", context)


@login_required
@require_POST
@requires(may_decide)
def case_decide(request, case_id: int):
    case = _case_for_request(request, case_id, what=gettext("Lederbeslutning"))
    return _with_form(
        request, "decision", gettext("Beslutningen er lagret."), leader_decisions.case_leader_decide,
        "decision", "note", "concern_report_date", "concern_report_reference", "continue_step",
        queue=Role.LEADER, case_id=case.pk, case=case,
    )


@login_required
@require_POST
@requires(may_close_with_gp)
def case_gp_confirmed(request, case_id: int):
    case = _case_for_request(request, case_id, what=gettext("Oppfølging hos fastlege"))
    return _with_form(request, "gp", gettext("Saken er avsluttet: oppfølging hos fastlege er bekreftet."), closing.case_gp_confirmed,
                      "note", queue="", case_id=case.pk, case=case)
