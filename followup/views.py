"""Follow-up pages: the nurse's and the clerk's work lists, the leader's queue,
a case with its chronology (and PDF), and the htmx actions on a case's step."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from attendance.models import MISSED_OUTCOMES, Appointment, AppointmentStatus
from followup import services
from followup.chronology import case_chronology, chronology_pdf
from followup.forms import CallForm, DecisionForm, EvidenceForm, GpConfirmedForm, SkipForm
from followup.models import CallResult, Case, CaseStatus, CaseStep, StepKind
from followup.worklists import worklist_cases
from helsestasjon.access import child_for_request, require_role
from helsestasjon.models import AccessAction, Guardianship, Role
from helsestasjon.services import access_log_record_many

PAGE_SIZE = 50
LEADER_KINDS = (StepKind.DISCUSSION, StepKind.LEADER_DECISION)

# The three work lists, by the role whose steps they hold: who may open each list, its row
# fragment and its page. The list views check LIST_ROLES, and an htmx action answers with a
# list's row only to a user who may open that list, so no one gets another role's row.
LIST_ROLES = {
    Role.NURSE: (Role.NURSE, Role.LEADER),
    Role.CLERK: (Role.CLERK, Role.LEADER),
    Role.LEADER: (Role.LEADER,),
}
LIST_ROWS = {
    Role.NURSE: "followup/nurse_worklist.html#row",
    Role.CLERK: "followup/clerk_worklist.html#row",
    Role.LEADER: "followup/leader_queue.html#row",
}
LIST_PAGES = {Role.NURSE: "followup:nurse_worklist", Role.CLERK: "followup:clerk_worklist", Role.LEADER: "followup:leader_queue"}
CASE_FRAGMENT = "followup/case.html#current"
# The ``fra`` a page puts in its forms, read only to send a plain (non-htmx) POST back to its page.
FROM_PAGE = {"sykepleier": Role.NURSE, "merkantil": Role.CLERK, "leder": Role.LEADER}
# The ids the pages give the element an action swaps: a list row, or the case page's section.
ROW_TARGET = "case"
CASE_TARGET = "sak"


def _may_open_list(user, queue: str) -> bool:
    return queue in LIST_ROLES and user.is_authenticated and (user.role in LIST_ROLES[queue] or user.role == Role.ADMIN)


def _open_cases(user):
    return (
        Case.objects.filter(status=CaseStatus.OPEN, station_id__in=user.station_ids())
        .select_related("child", "current_step", "station")
    )


def _decorate(cases: list[Case], user, *, contacts: bool = True) -> list[Case]:
    """Attach what a row shows, in a constant number of queries for any number of rows.

    ``contacts`` adds the guardians and the next booked appointment (the nurse's
    and the clerk's lists, and the case page; the leader's queue does without).
    """
    if not cases:
        return cases
    child_ids = [c.child_id for c in cases]
    now = timezone.now()
    guardians = defaultdict(list)
    next_appointments = {}
    if contacts:
        for g in (
            Guardianship.objects.with_responsibility().filter(child_id__in=child_ids).select_related("guardian").order_by("id")
        ):
            guardians[g.child_id].append(g.guardian)
        for a in Appointment.objects.filter(
            child_id__in=child_ids, status=AppointmentStatus.BOOKED, starts_at__gt=now
        ).order_by("-starts_at"):
            next_appointments[a.child_id] = a  # Ordered so the earliest wins.
    missed = dict(
        Appointment.objects.filter(
            child_id__in=child_ids, status__in=[o.value for o in MISSED_OUTCOMES], starts_at__gte=now - timedelta(days=365)
        )
        .values("child_id")
        .annotate(n=Count("id"))
        .values_list("child_id", "n")
    )
    today = timezone.localdate()
    for case in cases:
        step = case.current_step
        case.guardian_list = guardians.get(case.child_id, [])
        case.sms_guardians = [g for g in case.guardian_list if g.mobile and not g.sms_reserved]
        case.next_appointment = next_appointments.get(case.child_id)
        case.missed_12m = missed.get(case.child_id, 0)
        case.days_waiting = (today - timezone.localdate(step.started_at)).days if step else 0
        case.step_overdue = bool(step and (step.overdue or step.deadline < today))
        case.can_act = bool(
            case.is_open and step and (user.role == step.owner_role or user.role in (Role.LEADER, Role.ADMIN))
        )
    return cases


def _log_list(request, cases: list[Case], what: str) -> None:
    """Every child a list shows is written to the access log, in one statement."""
    if cases:
        access_log_record_many(
            user=request.user, children=[c.child for c in cases], action=AccessAction.VIEW_LIST, what=what,
            path=request.get_full_path(),
        )


def _page(request, qs, *, what: str, contacts: bool = True):
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("side"))
    cases = list(page.object_list)
    _decorate(cases, request.user, contacts=contacts)
    _log_list(request, cases, what)
    return page


def _list_context(request, page, fra: str, target: str = ROW_TARGET) -> dict:
    return {"page": page, "fra": fra, "case_target": target, "call_results": CallResult.choices, "today": timezone.localdate()}


def _decisions(user, case: Case) -> list[services.DecisionChoice]:
    """The choices of the decision form, each with what follows it; only a leader is shown the form."""
    if not case.is_open or not (user.is_leader or user.is_admin_role):
        return []
    return services.leader_decision_choices(case=case)


@login_required
@require_GET
def nurse_worklist(request):
    """Cases at steps the nurse owns: calls, home visits, discussions."""
    require_role(request.user, *LIST_ROLES[Role.NURSE])
    qs = worklist_cases(request.user, Role.NURSE)
    page = _page(request, qs, what=gettext("Oppfølging: helsesykepleiers liste"))
    return render(request, "followup/nurse_worklist.html", _list_context(request, page, "sykepleier"))


@login_required
@require_GET
def clerk_worklist(request):
    """Cases needing a new appointment and SMS, an address check, or a letter."""
    require_role(request.user, *LIST_ROLES[Role.CLERK])
    qs = worklist_cases(request.user, Role.CLERK)
    page = _page(request, qs, what=gettext("Oppfølging: merkantils liste"))
    return render(request, "followup/clerk_worklist.html", _list_context(request, page, "merkantil"))


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
def leader_queue(request):
    require_role(request.user, *LIST_ROLES[Role.LEADER])
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
def decision_form(request, case_id: int):
    """The leader's decision form for one case, fetched by the queue when she opens it."""
    require_role(request.user, Role.LEADER)
    case = _case_for_request(request, case_id, what=gettext("Lederbeslutning"))
    context = _list_context(request, None, "leder") | {"case": case, "decisions": _decisions(request.user, case)}
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
    return Case.objects.filter(station_id__in=user.station_ids()).select_related("child", "current_step", "station", "closed_by")


@login_required
@require_GET
def case_detail(request, case_id: int):
    case = _case_for_request(request, case_id, what=gettext("Oppfølgingssak"))
    _decorate([case], request.user)
    entries = case_chronology(case=case, include_clinical=request.user.sees_clinical_details)
    context = _list_context(request, None, "sak", CASE_TARGET) | {"case": case, "entries": entries, "decisions": _decisions(request.user, case)}
    return render(request, "followup/case.html", context)


@login_required
@require_GET
def case_chronology_pdf(request, case_id: int):
    """The chronology as a PDF; downloading it writes the access log."""
    require_role(request.user, Role.NURSE, Role.LEADER)
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
    if request.user.role not in (step.owner_role, Role.LEADER, Role.ADMIN):
        raise PermissionDenied(gettext("Dette trinnet er ikke ditt."))
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
        on_list = request.htmx.target == f"{ROW_TARGET}-{case_id}" and _may_open_list(request.user, queue)
        _decorate([case], request.user, contacts=not (on_list and queue == Role.LEADER))
        if on_list:
            template = LIST_ROWS[queue]
            fra = next(key for key, role in FROM_PAGE.items() if role == queue)
            context = _list_context(request, None, fra)
        else:
            template = CASE_FRAGMENT
            context = _list_context(request, None, "sak", CASE_TARGET) | {"decisions": _decisions(request.user, case)}
        return render(request, template, context | {"case": case, "error": error, "done": done})
    if error:
        messages.error(request, error)
    elif done:
        messages.success(request, done)
    back = FROM_PAGE.get(request.POST.get("fra", ""))
    if back is not None and _may_open_list(request.user, back):
        return redirect(LIST_PAGES[back])
    return redirect(reverse("followup:case", args=[case_id]))


def _run(request, case_id: int, call, done: str, *, queue: str):
    """Call a service; its validation errors become the user's message."""
    try:
        call()
    except ValidationError as exc:
        return _respond(request, case_id, queue=queue, error=" ".join(exc.messages))
    return _respond(request, case_id, queue=queue, done=done)


@login_required
@require_POST
def step_call(request, step_id: int):
    step = _step_for_request(request, step_id)
    form = CallForm(request.POST)
    if not form.is_valid():
        return _respond(request, step.case_id, queue=step.owner_role, error=_errors(form))
    data = form.cleaned_data
    return _run(
        request, step.case_id,
        lambda: services.case_call_log(step=step, user=request.user, result=data["result"], note=data["note"],
                                       call_again_on=data["call_again_on"]),
        gettext("Samtalen er lagret."), queue=step.owner_role,
    )


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
@require_POST
def case_decide(request, case_id: int):
    require_role(request.user, Role.LEADER)
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
        ),
        gettext("Beslutningen er lagret."), queue=Role.LEADER,
    )


@login_required
@require_POST
def case_gp_confirmed(request, case_id: int):
    require_role(request.user, Role.NURSE, Role.LEADER)
    case = _case_for_request(request, case_id, what=gettext("Oppfølging hos fastlege"))
    form = GpConfirmedForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    return _run(
        request, case.pk, lambda: services.case_gp_confirmed(case=case, user=request.user, note=note),
        gettext("Saken er avsluttet: oppfølging hos fastlege er bekreftet."), queue="",
    )
