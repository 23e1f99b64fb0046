"""Follow-up pages: the nurse's and the clerk's work lists, the leader's queue,
a case with its chronology (and PDF), and the htmx actions on a case's step."""

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
from followup import services
from followup.chronology import case_chronology, chronology_pdf
from followup.forms import (
    INTERPRETER_LANGUAGES,
    CallForm,
    ConsentForm,
    DecisionForm,
    EvidenceForm,
    GpConfirmedForm,
    HomeVisitForm,
    PauseForm,
    SkipForm,
)
from followup.models import CallLog, CallResult, Case, CaseStatus, CaseStep, LadderSettings, PauseReason, StepKind
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
        case.call_progress = services.CallProgress(len(unanswered), len(working), rule.unanswered_calls, rule.unanswered_days, next_attempt)
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
        "page": page, "fra": fra, "list_role": FROM_PAGE.get(fra), "case_target": target, "call_results": CallResult.choices,
        "today": timezone.localdate(), "interpreter_languages": INTERPRETER_LANGUAGES, "pause_reasons": PauseReason.choices,
    }


def _case_context(request, case: Case) -> dict:
    """What the case page's current section shows besides the case: the decision form's choices,
    the steps a leader may continue on, and the leader's last decision."""
    decisions = _decisions(request.user, case)
    return {
        "decisions": decisions,
        "continue_steps": services.continue_step_choices(case=case) if decisions else [],
        "last_decision": services.latest_decision(case=case),
    }


def _decisions(user, case: Case) -> list[services.DecisionChoice]:
    """The choices of the decision form, each with what follows it; only a leader is shown the form."""
    if not case.is_open or not may_decide(user):
        return []
    return services.leader_decision_choices(case=case)


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
    by risk, then the longest wait at the current step. (The sweep keeps the
    case's særlig-oppfølging flag in step with the child's.)"""
    return (
        Case.objects.filter(status=CaseStatus.OPEN, station_id__in=user.station_ids())
        .filter(Q(current_step__kind__in=LEADER_KINDS) | Q(overdue_since__isnull=False) | Q(special_attention=True))
        .order_by("-risk", "current_step__started_at", "id")
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
    _decorate([case], request.user)
    entries = case_chronology(case=case, include_clinical=may_see_clinical_text(request.user))
    context = _list_context(request, None, "sak", CASE_TARGET) | {"case": case, "entries": entries} | _case_context(request, case)
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


def _errors(form) -> str:
    return " ".join(e for errors in form.errors.values() for e in errors)


def _respond(request, case_id: int, *, queue: str, error: str = "", done: str = ""):
    """Answer an action on a case.

    ``queue`` is the work list the acted-on row sits on, decided by the view from what was acted on
    (a step is on its owner's list, a decision on the leader's queue). An htmx request gets that
    list's row only when it targets a list row and the user may open that list; otherwise the case
    page's section. Nothing the client posts selects the fragment.
    """
    if request.htmx:
        case = _all_cases(request.user).get(pk=case_id)
        on_list = request.htmx.target == f"{ROW_TARGET}-{case_id}" and may_open_list(request.user, queue)
        _decorate([case], request.user, contacts=not (on_list and queue == Role.LEADER))
        if on_list:
            template = LIST_ROWS[queue]
            fra = next(key for key, role in FROM_PAGE.items() if role == queue)
            context = _list_context(request, None, fra)
        else:
            template = CASE_FRAGMENT
            context = _list_context(request, None, "sak", CASE_TARGET) | _case_context(request, case)
            # The chronology beside it is brought up to date in the same answer (an out-of-band swap).
            context["entries"] = case_chronology(case=case, include_clinical=may_see_clinical_text(request.user))
            context["chronology_oob"] = True
        return render(request, template, context | {"case": case, "error": error, "done": done})
    if error:
        messages.error(request, error)
    elif done:
        messages.success(request, done)
    back = FROM_PAGE.get(request.POST.get("fra", ""))
    if back is not None and may_open_list(request.user, back):
        return redirect(LIST_PAGES[back])
    return redirect(reverse("followup:case", args=[case_id]))


def _run(request, case_id: int, call, done: str, *, queue: str):
    """Call a service; its validation errors become the user's message."""
    try:
        call()
    except ValidationError as exc:
        return _respond(request, case_id, queue=queue, error=" ".join(exc.messages))
    return _respond(request, case_id, queue=queue, done=done)


def _booking(request, case: Case, form) -> services.Booking | None:
    """The time a form asks to book, with professionals from the case's station only (else a message)."""
    starts_at, professional_id, duration = form.booking_parts()
    if starts_at is None or professional_id is None:
        return None
    staff = User.objects.filter(is_active=True, stations__id=case.station_id).exclude(role=Role.CLERK)
    professional = staff.filter(pk=professional_id).first()
    if professional is None:
        raise ValidationError(gettext("Velg en fagperson ved barnets helsestasjon."))
    second = None
    second_id = form.cleaned_data.get("second_professional")
    if second_id:
        second = staff.filter(pk=second_id).first()
        if second is None:
            raise ValidationError(gettext("Fagperson nr. 2 må være en annen fagperson ved barnets helsestasjon."))
    return services.Booking(starts_at=starts_at, professional=professional, duration_minutes=duration, second_professional=second)


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
    if not form.is_valid():
        return _respond(request, step.case_id, queue=step.owner_role, error=_errors(form))
    data = form.cleaned_data

    def call():
        booking = _booking(request, step.case, form) if data["result"] == CallResult.REACHED_REBOOKED else None
        logged = services.case_call_log(
            step=step, user=request.user, result=data["result"], note=data["note"], call_again_on=data["call_again_on"],
            booking=booking, guardian_id=data.get("guardian"), language=data.get("language") or "",
        )
        if logged.result == CallResult.WRONG_NUMBER:
            done[0] = (
                gettext("Kontaktregisteret har nummeret %(number)s. Ring det nummeret.") % {"number": logged.register_number}
                if logged.register_number else gettext("Kontaktregisteret har ikke noe annet nummer. Saken går til adressekontroll.")
            )

    done = [str(CALL_DONE[data["result"]])]
    try:
        call()
    except ValidationError as exc:
        return _respond(request, step.case_id, queue=step.owner_role, error=" ".join(exc.messages))
    return _respond(request, step.case_id, queue=step.owner_role, done=done[0])


@login_required
@require_POST
def step_home_visit(request, step_id: int):
    step = _step_for_request(request, step_id)
    form = HomeVisitForm(request.POST)
    if not form.is_valid():
        return _respond(request, step.case_id, queue=step.owner_role, error=_errors(form))
    return _run(
        request, step.case_id,
        lambda: services.case_home_visit_book(step=step, user=request.user, booking=_booking(request, step.case, form)),
        gettext("Hjemmebesøket er bestilt, og familien får SMS og brev."), queue=step.owner_role,
    )


@login_required
@require_POST
def step_consent(request, step_id: int):
    step = _step_for_request(request, step_id)
    form = ConsentForm(request.POST)
    if not form.is_valid():
        return _respond(request, step.case_id, queue=step.owner_role, error=_errors(form))
    return _run(
        request, step.case_id,
        lambda: services.case_home_visit_consent(step=step, user=request.user, note=form.cleaned_data["note"]),
        gettext("Samtykket er registrert."), queue=step.owner_role,
    )


@login_required
@require_POST
@requires(may_pause_case)
def case_pause(request, case_id: int):
    case = _case_for_request(request, case_id, what=gettext("Pause i oppfølgingen"))
    form = PauseForm(request.POST)
    if not form.is_valid():
        return _respond(request, case.pk, queue="", error=_errors(form))
    data = form.cleaned_data
    return _run(
        request, case.pk,
        lambda: services.case_pause(case=case, user=request.user, reason=data["reason"], until=data["until"], note=data["note"]),
        gettext("Saken er satt på pause."), queue="",
    )


@login_required
@require_POST
@requires(may_pause_case)
def case_pause_end(request, case_id: int):
    case = _case_for_request(request, case_id, what=gettext("Pause i oppfølgingen"))
    return _run(request, case.pk, lambda: services.case_pause_end(case=case, user=request.user),
                gettext("Pausen er avsluttet, og oppfølgingen fortsetter."), queue="")


@login_required
@require_POST
def step_complete(request, step_id: int):
    step = _step_for_request(request, step_id)
    if step.kind in (StepKind.PHONE_CALL, StepKind.SMS_REBOOK, StepKind.LEADER_DECISION):
        return _respond(request, step.case_id, queue=step.owner_role, error=gettext("Bruk skjemaet for dette trinnet."))
    form = EvidenceForm(request.POST)
    if not form.is_valid():
        return _respond(request, step.case_id, queue=step.owner_role, error=_errors(form))
    return _run(
        request, step.case_id,
        lambda: services.case_step_complete(step=step, user=request.user, evidence=form.cleaned_data["evidence"]),
        gettext("Trinnet er utført."), queue=step.owner_role,
    )


@login_required
@require_POST
def step_sms(request, step_id: int):
    step = _step_for_request(request, step_id)
    return _run(request, step.case_id, lambda: services.case_sms_rebook(step=step, user=request.user), gettext("SMS er sendt og trinnet utført."),
                queue=step.owner_role)


@login_required
@require_POST
def step_skip(request, step_id: int):
    step = _step_for_request(request, step_id)
    form = SkipForm(request.POST)
    if not form.is_valid():
        return _respond(request, step.case_id, queue=step.owner_role, error=_errors(form))
    return _run(
        request, step.case_id,
        lambda: services.case_step_skip(step=step, user=request.user, reason=form.cleaned_data["reason"]),
        gettext("Trinnet er hoppet over."), queue=step.owner_role,
    )


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
    context = {"case": case, "step": step, "fra": fra if fra in FROM_PAGE else "", "case_target": ROW_TARGET}
    return render(request, "followup/_actions.html#skip_form", context)


@login_required
@require_POST
@requires(may_decide)
def case_decide(request, case_id: int):
    case = _case_for_request(request, case_id, what=gettext("Lederbeslutning"))
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _respond(request, case.pk, queue=Role.LEADER, error=_errors(form))
    data = form.cleaned_data
    return _run(
        request, case.pk,
        lambda: services.case_leader_decide(
            case=case, user=request.user, decision=data["decision"], note=data["note"],
            concern_report_date=data["concern_report_date"], concern_report_reference=data["concern_report_reference"],
            continue_step=data["continue_step"],
        ),
        gettext("Beslutningen er lagret."), queue=Role.LEADER,
    )


@login_required
@require_POST
@requires(may_close_with_gp)
def case_gp_confirmed(request, case_id: int):
    case = _case_for_request(request, case_id, what=gettext("Oppfølging hos fastlege"))
    form = GpConfirmedForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    return _run(
        request, case.pk, lambda: services.case_gp_confirmed(case=case, user=request.user, note=note),
        gettext("Saken er avsluttet: oppfølging hos fastlege er bekreftet."), queue="",
    )
