"""Views of attendance: the nurse's day, the booking worklist, the child's page, registering a child."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from attendance.day_list import Alongside, DayRow, ListAccess, RowControls, column_labels, day_rows
from attendance.forms import (
    AbsenceForm,
    BookingForm,
    ChildRegistrationForm,
    DayForm,
    OutcomeForm,
    RegisterLookupForm,
    SlotForm,
    WeekForm,
    WorkingHoursForm,
)
from attendance.models import (
    CHOSEN_REASONS,
    Absence,
    AbsenceKind,
    Appointment,
    Consultation,
    Outcome,
    OutcomeEvent,
    Place,
    Reason,
    WorkingHours,
)
from attendance.registration import (
    RegisterLookupError,
    child_register_from_register,
    register_child_lookup,
)
from attendance.services import (
    BOOKABLE_STATES,
    AttendanceError,
    NationalIdInUse,
    OutcomeConflict,
    absence_add,
    appointment_book,
    appointment_book_slot,
    appointment_move_to_slot,
    appointment_record_outcome,
    child_register,
    outcome_correct,
    working_hours_add,
    working_hours_remove,
)
from attendance.slots import SlotPlanner, holiday_name, public_holidays, week_slots
from helsestasjon.access import child_for_request
from helsestasjon.permissions import (
    NON_CONSULTING_ROLES,
    holds_consultations,
    may_book,
    may_edit_working_hours,
    may_hold_consultations,
    may_see_address,
    may_see_clinical_text,
    requires,
)
from helsestasjon.models import AccessAction, Child, ChildStatus, Guardianship, Role, Station, User
from helsestasjon.services import access_log_record, access_log_record_many

_COLLEAGUE_FIELDS = ["id", "username", "first_name", "last_name", "role"]


def _colleagues(user):
    """Staff who hold consultations at the user's stations (for "another colleague's day"):
    ``User.objects.holding_consultations()`` at the user's stations, written out.

    Hand-written and loading only the names: it runs on every day-list request, and the
    queryset (filter, exclude, distinct, only) cost 3.7-5.7 ms more per request than this
    statement (docs/decisions.md, "Hand-written reads revisited"; a test checks the two agree).
    """
    read = _colleagues_read(user)
    if read is None:
        return []
    with connection.cursor() as cursor:
        cursor.execute(read.sql, read.params)
        return _colleagues_from(cursor.fetchall())


def _colleagues_read(user) -> Alongside | None:
    """The statement of ``_colleagues``, also sent alongside the rows of the user's own day; None without stations."""
    station_ids = user.station_ids()
    if not station_ids:
        return None
    return Alongside(
        f"SELECT DISTINCT u.id, u.username, u.first_name, u.last_name, u.role"
        f" FROM {User._meta.db_table} u JOIN {User.stations.through._meta.db_table} us ON us.user_id = u.id"
        f" WHERE u.is_active AND u.role <> ALL(%s) AND us.station_id IN ({', '.join(['%s'] * len(station_ids))})"
        f" ORDER BY u.first_name, u.last_name, u.id",
        [[str(role) for role in NON_CONSULTING_ROLES], *station_ids],
    )


def _colleagues_from(values) -> list[User]:
    return [User.from_db(connection.alias, _COLLEAGUE_FIELDS, row) for row in values]


def _reason_options(selected: str = ""):
    # Rendered once per request rather than once per row.
    return format_html_join(
        "", '<option value="{}"{}>{}</option>',
        ((value, mark_safe(" selected") if value == selected else "", label) for value, label in CHOSEN_REASONS),
    )


# The row's panels, by the outcome posted from them (reopened with what was chosen after an error).
MISSED_PANEL = {Outcome.NOT_BROUGHT, Outcome.CANCELLED_BY_GUARDIAN, Outcome.NO_ACCESS}
MENU_PANEL = {Outcome.CANCELLED_BY_SERVICE, Outcome.RESCHEDULED}
# What a redrawn row's outcome control shows of the failed action (attendance.day_list.RowControls).
PANEL_CONTEXT = ("error", "reason_options", "open_panel", "move_error", "move_date", "move_time")


def _day_url(day, professional_id, user, anchor=""):
    params = {"dato": day.isoformat()}
    if professional_id and professional_id != user.pk:
        params["fagperson"] = professional_id
    return f"{reverse('attendance:day')}?{urlencode(params)}{anchor}"


def _day_row(appointment_id, request) -> DayRow:
    """One day-list row redrawn after an action, limited to the user's stations and written to the access log."""
    user = request.user
    rows = day_rows(
        appointment_id=appointment_id, station_ids=user.station_ids(),
        log=ListAccess(user=user, action=AccessAction.VIEW_LIST, what=gettext("Dagsliste (rad oppdatert)"), path=request.get_full_path()),
    )
    if not rows:
        raise Http404(gettext("Fant ikke timen."))
    return rows[0]


@login_required
@require_GET
@requires(may_hold_consultations)
def day(request):
    """The nurse's day: her (or a colleague's) appointments for one day."""
    form = DayForm(request.GET)
    today = timezone.localdate()
    shown_day, professional_id = today, request.user.pk
    if form.is_valid():
        shown_day = form.cleaned_data["dato"] or today
        professional_id = form.cleaned_data["fagperson"] or request.user.pk
    else:
        problems = " ".join(e for errors in form.errors.values() for e in errors)
        messages.error(request, gettext("%(errors)s Viser dagens liste.") % {"errors": problems})
    # Her own day (the common case) needs no check of whose day it is first, so the colleagues for the
    # picker are read in the same round trip as the rows; a colleague's day is checked against them first.
    colleagues_read = _colleagues_read(request.user) if professional_id == request.user.pk else None
    colleagues = None if colleagues_read else _colleagues(request.user)
    professional = request.user if colleagues is None else next((c for c in colleagues if c.pk == professional_id), None)
    if professional is None:
        if professional_id != request.user.pk:
            messages.error(request, gettext("Fant ikke fagpersonen ved din helsestasjon. Viser din egen liste."))
        professional = request.user
    rows = day_rows(
        professional_id=professional.pk, day=shown_day, station_ids=request.user.station_ids(),
        log=ListAccess(user=request.user, action=AccessAction.VIEW_LIST, what=gettext("Dagsliste %(day)s") % {"day": f"{shown_day:%d.%m.%Y}"},
                       path=request.get_full_path()),
        alongside=colleagues_read,
    )
    if colleagues is None:
        colleagues = _colleagues_from(colleagues_read.rows)
    context = {
        "rows": RowControls(request, reason_options=_reason_options()).fill(rows),
        "day": shown_day,
        "today": today,
        "previous_day": shown_day - timedelta(days=1),
        "next_day": shown_day + timedelta(days=1),
        "professional": professional,
        "colleagues": colleagues,
        "own": professional.pk == request.user.pk,
        "labels": column_labels(),
        # Rows read these; a missing name costs the template engine an exception per row.
        "error": "", "announce": False, "open_panel": "", "move_error": False,
    }
    return render(request, "attendance/day.html", context)


@login_required
@require_POST
@requires(may_hold_consultations)
def record_outcome(request, appointment_id: int):
    """One click on a day-list row: record (or correct) the outcome; htmx swaps the row."""
    try:
        appointment = Appointment.objects.only("id", "starts_at", "professional_id").get(
            pk=appointment_id, station_id__in=request.user.station_ids()
        )
    except Appointment.DoesNotExist:
        raise Http404(gettext("Fant ikke timen.")) from None
    form = OutcomeForm(request.POST)
    error = ""
    if not form.is_valid():
        error = " ".join(e for errors in form.errors.values() for e in errors)
    else:
        data = form.cleaned_data
        try:
            if data["replaces"]:
                event = OutcomeEvent.objects.filter(appointment=appointment, pk=data["replaces"]).first()
                if event is None:
                    raise Http404(gettext("Fant ikke utfallet."))
                outcome_correct(event=event, outcome=data["outcome"], reason=data["reason"], recorded_by=request.user)
            else:
                appointment_record_outcome(
                    appointment=appointment, outcome=data["outcome"], reason=data["reason"],
                    recorded_by=request.user, new_starts_at=data["new_starts_at"],
                )
        except OutcomeConflict as conflict:
            error = _conflict_message(conflict)
        except AttendanceError as exc:
            error = exc.message
    if request.htmx:
        row = _day_row(appointment_id, request)
        context = {"row": row, "labels": column_labels(), "error": error, "announce": True, "reason_options": _reason_options(),
                   "open_panel": "", "move_error": False, "move_date": "", "move_time": ""}
        if error:
            # What was chosen and typed stays: the panel it came from open, the reason chosen, the new time.
            posted = request.POST.get("outcome", "")
            reason = request.POST.get("reason", "")
            context.update(
                open_panel="missed" if posted in MISSED_PANEL else ("menu" if posted in MENU_PANEL else ""),
                move_error=posted == Outcome.RESCHEDULED,
                move_date=request.POST.get("new_date", "")[:10], move_time=request.POST.get("new_time", "")[:5],
                reason_options=_reason_options(reason if reason in Reason.values else ""),
            )
        RowControls(request, **{key: context[key] for key in PANEL_CONTEXT}).fill([row])
        return render(request, "attendance/day.html#row", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, gettext("Utfallet er registrert."))
    local_day = timezone.localtime(appointment.starts_at).date()
    return redirect(_day_url(local_day, appointment.professional_id, request.user, f"#time-{appointment.pk}"))


def _conflict_message(conflict: OutcomeConflict) -> str:
    current = conflict.current
    if current is None:
        return conflict.message
    who = current.recorded_by.get_full_name() if current.recorded_by else gettext("systemet")
    when = timezone.localtime(current.recorded_at)
    return gettext(
        "%(who)s registrerte «%(outcome)s» kl. %(time)s før deg. "
        "Ditt valg ble ikke lagret. Rett utfallet om det er feil."
    ) % {"who": who, "outcome": current.get_outcome_display(), "time": f"{when:%H:%M}"}


def _professionals_by_station(station_ids) -> dict[int, list[User]]:
    by_station: dict[int, list[User]] = {sid: [] for sid in station_ids}
    through = User.stations.through.objects.filter(
        station_id__in=station_ids, user__in=User.objects.holding_consultations()
    ).select_related("user").order_by("user__first_name", "user__last_name", "user_id")
    for link in through:
        by_station[link.station_id].append(link.user)
    return by_station


def _booking_initial(consultation: Consultation, user) -> dict:
    today = timezone.localdate()
    start = max(consultation.window_opens, today + timedelta(days=1))
    return {
        "date": start,
        "time": "09:00",
        "duration_minutes": consultation.step.default_duration_minutes,
        "place": Place.HOME if consultation.step.is_home_visit else Place.STATION,
        "professional": user.pk if holds_consultations(user) else None,
    }


def _candidates(user, station_id: int, professionals: list[User]) -> list[int]:
    """Whose slots a booking is proposed from: a nurse books her own; clerks and leaders the station's earliest."""
    if user.role == Role.NURSE and any(p.pk == user.pk for p in professionals):
        return [user.pk]
    return [p.pk for p in professionals]


def _not_before(consultation: Consultation):
    opens = timezone.make_aware(datetime.combine(consultation.window_opens, time.min))
    return max(opens, timezone.now())


def _proposals(consultations, user, professionals: dict[int, list[User]]) -> list[dict]:
    """Worklist rows, each with a different first free slot (one query for the whole page)."""
    station_ids = sorted({c.child.station_id for c in consultations})
    people = {p.pk: p for sid in station_ids for p in professionals.get(sid, [])}
    planner = SlotPlanner.load(professional_ids=list(people), station_ids=station_ids) if consultations else None
    rows = []
    for c in consultations:
        proposal = planner.propose(
            professional_ids=_candidates(user, c.child.station_id, professionals.get(c.child.station_id, [])),
            station_id=c.child.station_id, duration_minutes=c.step.default_duration_minutes, not_before=_not_before(c),
        )
        rows.append({"consultation": c, "appointment": None,
                     "proposal": {"professional": people[proposal[0]], "starts_at": proposal[1]} if proposal else None})
    return rows


@login_required
@require_GET
@requires(may_book)
def booking_worklist(request):
    """Due consultations without a booked appointment, oldest first, each with its first free slot."""
    station_ids = request.user.station_ids()
    qs = Consultation.objects.needing_booking(station_ids)
    page = Paginator(qs, 50).get_page(request.GET.get("side"))
    consultations = list(page.object_list)
    rows = _proposals(consultations, request.user, _professionals_by_station(station_ids))
    if consultations:
        access_log_record_many(
            user=request.user, children=[c.child for c in consultations], action=AccessAction.VIEW_LIST,
            what=gettext("Timebestilling"), path=request.get_full_path(),
        )
    return render(request, "attendance/booking_worklist.html", {"page": page, "rows": rows, "error": ""})


def _bookable_consultation(request, consultation_id: int) -> Consultation:
    try:
        return (
            Consultation.objects.select_related("child", "step", "child__station")
            .filter(child__station_id__in=request.user.station_ids())
            .get(pk=consultation_id)
        )
    except (Consultation.DoesNotExist, ValueError, TypeError):
        raise Http404(gettext("Fant ikke konsultasjonen.")) from None


@login_required
@require_POST
@requires(may_book)
def book_slot(request, consultation_id: int):
    """Book the consultation into a free slot (the worklist's "Bestill" or a time in the week view)."""
    consultation = _bookable_consultation(request, consultation_id)
    professionals = _professionals_by_station([consultation.child.station_id])[consultation.child.station_id]
    form = SlotForm(request.POST, professionals=professionals)
    appointment, error = None, ""
    if form.is_valid():
        try:
            appointment = appointment_book_slot(
                consultation=consultation, professional=form.cleaned_data["professional"],
                starts_at=form.cleaned_data["starts_at"], booked_by=request.user,
            )
        except AttendanceError as exc:
            error = exc.message
    else:
        error = " ".join(e for errors in form.errors.values() for e in errors)
    access_log_record(
        user=request.user, child=consultation.child, action=AccessAction.VIEW_LIST,
        what=gettext("Timebestilling (rad oppdatert)"), path=request.get_full_path(),
    )
    if request.htmx:
        consultation.refresh_from_db(fields=["state"])
        row = {"consultation": consultation, "appointment": appointment, "proposal": None}
        if appointment is None:
            # The slot went to someone else: offer the next free one at once.
            row = _proposals([consultation], request.user, {consultation.child.station_id: professionals})[0]
        return render(request, "attendance/booking_worklist.html#booking_row", {"row": row, "error": error})
    if error:
        messages.error(request, error)
    else:
        when = timezone.localtime(appointment.starts_at)
        messages.success(request, gettext("Time bestilt %(date)s kl. %(time)s for %(name)s.") % {
            "date": f"{when:%d.%m.%Y}", "time": f"{when:%H:%M}", "name": consultation.child.full_name,
        })
        return redirect("attendance:booking_worklist")
    return redirect("attendance:booking_week", consultation_id=consultation.pk)


def _week_context(request, *, station_id: int, professionals: list[User], default_professional: User | None, duration_minutes: int,
                  not_before: date, ignore_appointment_id: int | None = None) -> dict:
    """The week of free slots the week view shows: which week and whose, from the query string."""
    form = WeekForm(request.GET)
    today = timezone.localdate()
    first = max(today, not_before)
    wanted, professional_id, error = None, None, ""
    if form.is_valid():
        wanted, professional_id = form.cleaned_data["uke"], form.cleaned_data["fagperson"]
    else:
        error = " ".join(e for errors in form.errors.values() for e in errors)
    by_id = {p.pk: p for p in professionals}
    professional = by_id.get(professional_id) if professional_id else None
    if professional_id and professional is None:
        error = gettext("Fant ikke fagpersonen ved helsestasjonen.")
    professional = professional or default_professional or (professionals[0] if professionals else None)
    day = wanted or first
    if (day - today).days > 400:
        day, error = first, gettext("Datoen er mer enn ett år fram i tid.")
    monday = day - timedelta(days=day.weekday())
    days = []
    if professional is not None:
        for shown, slots in week_slots(professional=professional, station=station_id, monday=monday,
                                       duration_minutes=duration_minutes, ignore_appointment_id=ignore_appointment_id):
            days.append({"day": shown, "slots": slots, "holiday": holiday_name(shown)})
    previous = monday - timedelta(days=7)
    return {
        "days": days, "monday": monday, "sunday": monday + timedelta(days=6), "professional": professional,
        "professionals": professionals, "week_error": error, "duration_minutes": duration_minutes,
        "previous_week": previous if previous + timedelta(days=6) >= today else None, "next_week": monday + timedelta(days=7),
    }


@login_required
@require_GET
@requires(may_book)
def booking_week(request, consultation_id: int):
    """A week of the chosen professional's free slots for one consultation ("Velg annen tid")."""
    consultation = _bookable_consultation(request, consultation_id)
    access_log_record(user=request.user, child=consultation.child, action=AccessAction.VIEW_LIST,
                      what=gettext("Timebestilling (ledige tider)"), path=request.get_full_path())
    professionals = _professionals_by_station([consultation.child.station_id])[consultation.child.station_id]
    default = next((p for p in professionals if p.pk == request.user.pk), None)
    context = _week_context(request, station_id=consultation.child.station_id, professionals=professionals, default_professional=default,
                            duration_minutes=consultation.step.default_duration_minutes,
                            not_before=consultation.window_opens)
    context.update({"consultation": consultation, "action": reverse("attendance:book_slot", args=[consultation.pk]),
                    "week_url": reverse("attendance:booking_week", args=[consultation.pk]),
                    "target": f"uke-{consultation.pk}", "moving": None})
    if request.htmx:
        return render(request, "attendance/booking_week.html#week", context)
    return render(request, "attendance/booking_week.html", context)


@login_required
@require_POST
@requires(may_book)
def book(request, consultation_id: int):
    """Book one consultation from the worklist (htmx swaps the row) or from the child's page."""
    try:
        consultation = (
            Consultation.objects.select_related("child", "step", "child__station")
            .filter(child__station_id__in=request.user.station_ids())
            .get(pk=consultation_id)
        )
    except (Consultation.DoesNotExist, ValueError):
        raise Http404(gettext("Fant ikke konsultasjonen.")) from None
    professionals = _professionals_by_station([consultation.child.station_id])[consultation.child.station_id]
    form = BookingForm(request.POST, professionals=professionals, prefix=f"c{consultation.pk}")
    appointment, error = None, ""
    if form.is_valid():
        data = form.cleaned_data
        try:
            appointment = appointment_book(
                consultation=consultation, starts_at=data["starts_at"], duration_minutes=data["duration_minutes"],
                place=data["place"], room=data["room"], professional=data["professional"], booked_by=request.user,
            )
        except AttendanceError as exc:
            error = exc.message
    else:
        error = " ".join(e for errors in form.errors.values() for e in errors)
    # Only the worklist books with htmx, so an htmx request gets its row; the child's page posts a plain
    # form. ``fra`` only chooses where a plain POST is sent back to, never a fragment.
    if request.htmx:
        consultation.refresh_from_db(fields=["state"])
        access_log_record(
            user=request.user, child=consultation.child, action=AccessAction.VIEW_LIST,
            what=gettext("Timebestilling (rad oppdatert)"), path=request.get_full_path(),
        )
        row = {"consultation": consultation, "form": form, "appointment": appointment, "proposal": None}
        return render(request, "attendance/booking_worklist.html#booking_row", {"row": row, "error": error})
    if error:
        messages.error(request, error)
    else:
        when = timezone.localtime(appointment.starts_at)
        messages.success(request, gettext("Time bestilt %(date)s kl. %(time)s for %(name)s.") % {
            "date": f"{when:%d.%m.%Y}", "time": f"{when:%H:%M}", "name": consultation.child.full_name,
        })
    if request.POST.get("fra") == "barn":
        return redirect("attendance:child", child_id=consultation.child_id)
    return redirect("attendance:booking_worklist")


@login_required
@require_GET
def child_detail(request, child_id: int):
    """The child's page: the programme as a timeline, appointments and outcomes, guardians."""
    child = child_for_request(
        request, child_id, what=gettext("Barnets side"),
        queryset=Child.objects.select_related("station").prefetch_related(
            Prefetch("guardianships", queryset=Guardianship.objects.select_related("guardian").order_by("-parental_responsibility", "id"))
        ),
    )
    consultations = list(Consultation.objects.filter(child=child).select_related("step").order_by("step__order"))
    appointments = list(
        Appointment.objects.filter(child=child)
        .select_related("consultation__step", "professional", "rescheduled_to")
        .prefetch_related(Prefetch("events", queryset=OutcomeEvent.objects.select_related("recorded_by", "replaces")))
        .order_by("-starts_at", "-id")
    )
    bookable = []
    if may_book(request.user) and child.status == ChildStatus.ACTIVE:
        professionals = _professionals_by_station([child.station_id])[child.station_id]
        bookable = [
            {"consultation": c, "form": BookingForm(initial=_booking_initial(c, request.user), professionals=professionals, prefix=f"c{c.pk}")}
            for c in consultations
            if c.state in BOOKABLE_STATES and c.window_opens <= timezone.localdate() + timedelta(days=60)
        ]
    guardianships = [
        {"link": g, "guardian": g.guardian, "address_visible": may_see_address(request.user, g.guardian)}
        for g in child.guardianships.all()
    ]
    return render(
        request,
        "attendance/child.html",
        {
            "child": child,
            "consultations": consultations,
            "appointments": appointments,
            "guardianships": guardianships,
            "bookable": bookable,
            "clinical": may_see_clinical_text(request.user),
            "child_address_visible": may_see_address(request.user, child),
            "may_move": may_book(request.user),
        },
    )


def _national_id_in_use(request, exc: NationalIdInUse, form) -> None:
    # The answer is the same for any station's child; the attempt is on that child's log,
    # so its station's leader sees who tried (docs/decisions.md).
    access_log_record(
        user=request.user, child=exc.child, action=AccessAction.VIEW_RECORD,
        what=gettext("Forsøk på registrering med eksisterende fødselsnummer"), path=request.get_full_path(),
    )
    form.add_error("national_id", exc.messages[0])


def _register_hand(request, form) -> Child | None:
    """Register the child typed by hand, marked unverified; None with the form's errors set when refused."""
    d = form.cleaned_data
    guardian = {
        "national_id": d["guardian_national_id"] or None,
        "given_name": d["guardian_given_name"],
        "family_name": d["guardian_family_name"],
        "mobile": d["guardian_mobile"],
        "preferred_language": d["guardian_language"],
        "interpreter_needed": d["guardian_interpreter"],
        "street_address": d["street_address"],
        "postal_code": d["postal_code"],
        "city": d["city"],
        "relation": d["guardian_relation"],
        "parental_responsibility": True,
    }
    try:
        if Child.objects.filter(national_id=d["national_id"]).exists():
            raise NationalIdInUse(Child.objects.only("id", "station_id").get(national_id=d["national_id"]))
        # By hand only for a person the register does not know: ask it now, whatever the browser says.
        if register_child_lookup(national_id=d["national_id"]) is not None:
            form.add_error("national_id", gettext("Folkeregisteret kjenner dette fødselsnummeret. Hent opplysningene fra registeret i stedet."))
            return None
        return child_register(
            national_id=d["national_id"], given_name=d["given_name"], family_name=d["family_name"],
            birth_date=d["birth_date"], sex=d["sex"], station=d["station"], guardians=[guardian],
            registered_by=request.user, street_address=d["street_address"], postal_code=d["postal_code"],
            city=d["city"], municipality_number=d["station"].municipality.number, unverified=True,
        )
    except RegisterLookupError as exc:
        form.add_error(None, exc.message)
    except NationalIdInUse as exc:
        _national_id_in_use(request, exc, form)
    except ValidationError as exc:
        for field, errors in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
            target = field if field in form.fields else (f"guardian_{field}" if f"guardian_{field}" in form.fields else None)
            for message in errors:
                form.add_error(target, message)
    return None


@login_required
@require_http_methods(["GET", "POST"])
@requires(may_book)
def child_new(request):
    """Register a child: look the national id up in the register and confirm, or by hand when the register does not know it."""
    stations = list(Station.objects.filter(pk__in=request.user.station_ids()).select_related("municipality").order_by("name"))
    action = request.POST.get("handling", "for_haand") if request.method == "POST" else ""
    lookup = RegisterLookupForm(request.POST if action in ("hent", "bekreft") else None, stations=stations)
    hand = None
    found = None
    if action in ("hent", "bekreft") and lookup.is_valid():
        national_id, station = lookup.cleaned_data["national_id"], lookup.cleaned_data["station"]
        try:
            if action == "bekreft":
                child = child_register_from_register(national_id=national_id, station=station, registered_by=request.user)
                messages.success(request, gettext("%(name)s er registrert fra folkeregisteret, og programmet er planlagt.") % {"name": child.full_name})
                return redirect("attendance:child", child_id=child.pk)
            existing = Child.objects.filter(national_id=national_id).only("id", "station_id").first()
            if existing is not None:
                raise NationalIdInUse(existing)
            found = register_child_lookup(national_id=national_id)
            if found is None:
                messages.info(request, gettext("Folkeregisteret kjenner ikke fødselsnummeret. Registrer barnet for hånd; det merkes «uverifisert»."))
                hand = ChildRegistrationForm(initial={"national_id": national_id, "station": station.pk, "arrival": "birth"}, stations=stations)
        except NationalIdInUse as exc:
            _national_id_in_use(request, exc, lookup)
        except RegisterLookupError as exc:
            lookup.add_error(None, exc.message)
    elif action == "for_haand":
        hand = ChildRegistrationForm(request.POST, stations=stations)
        if hand.is_valid():
            child = _register_hand(request, hand)
            if child is not None:
                messages.success(request, gettext("%(name)s er registrert for hånd (uverifisert), og programmet er planlagt.") % {"name": child.full_name})
                return redirect("attendance:child", child_id=child.pk)
    return render(request, "attendance/child_new.html", {
        "lookup": lookup, "form": hand, "found": found,
        "child_address_visible": found.address_visible_to(request.user) if found else False,
        "guardians": [{"g": g, "address_visible": g.address_visible_to(request.user)} for g in found.guardians] if found else [],
    })


@login_required
@require_http_methods(["GET", "POST"])
@requires(may_book)
def appointment_move(request, appointment_id: int):
    """Move a booked appointment to another free slot of its professional (GET: the week; POST: the slot)."""
    try:
        appointment = Appointment.objects.select_related("child", "consultation__step", "professional").get(
            pk=appointment_id, station_id__in=request.user.station_ids()
        )
    except Appointment.DoesNotExist:
        raise Http404(gettext("Fant ikke timen.")) from None
    access_log_record(user=request.user, child=appointment.child, action=AccessAction.VIEW_LIST,
                      what=gettext("Flytt timen (ledige tider)"), path=request.get_full_path())
    professional = appointment.professional
    if request.method == "POST":
        form = SlotForm(request.POST, professionals=[professional])
        if not appointment.is_booked:
            messages.error(request, gettext("Timen er ikke lenger bestilt og kan ikke flyttes."))
        elif form.is_valid():
            try:
                appointment_move_to_slot(appointment=appointment, starts_at=form.cleaned_data["starts_at"], recorded_by=request.user)
            except AttendanceError as exc:
                messages.error(request, exc.message)
            else:
                when = timezone.localtime(form.cleaned_data["starts_at"])
                messages.success(request, gettext("Timen er flyttet til %(date)s kl. %(time)s.") % {
                    "date": f"{when:%d.%m.%Y}", "time": f"{when:%H:%M}"})
                return redirect(_day_url(when.date(), professional.pk, request.user, f"#time-{appointment.rescheduled_to_id or ''}")
                                if request.user.role != Role.CLERK else reverse("attendance:child", args=[appointment.child_id]))
        else:
            messages.error(request, " ".join(e for errors in form.errors.values() for e in errors))
        return redirect("attendance:appointment_move", appointment_id=appointment.pk)
    context = _week_context(request, station_id=appointment.station_id, professionals=[professional],
                            default_professional=professional, duration_minutes=appointment.duration_minutes,
                            not_before=timezone.localdate(), ignore_appointment_id=appointment.pk)
    url = reverse("attendance:appointment_move", args=[appointment.pk])
    context.update({"consultation": appointment.consultation, "action": url, "week_url": url,
                    "target": f"flytt-{appointment.pk}", "moving": appointment})
    if request.htmx:
        return render(request, "attendance/booking_week.html#week", context)
    return render(request, "attendance/booking_week.html", context)


# --- Working hours and their exceptions: the leader's and the clerk's page ----------------------

@login_required
@require_http_methods(["GET", "POST"])
@requires(may_edit_working_hours)
def working_hours(request):
    """Working hours per weekday and exceptions (leave, closed days) of the professionals at the user's stations."""
    station_ids = request.user.station_ids()
    stations = list(Station.objects.filter(pk__in=station_ids).order_by("name"))
    people = {p.pk: p for sid, ps in _professionals_by_station(station_ids).items() for p in ps}
    professionals = sorted(people.values(), key=lambda p: (p.last_name, p.first_name, p.pk))
    choice = WeekForm(request.GET)
    wanted = choice.cleaned_data["fagperson"] if choice.is_valid() else None
    professional = people.get(wanted) if wanted else (professionals[0] if professionals else None)
    if wanted and professional is None:
        messages.error(request, gettext("Fant ikke fagpersonen ved din helsestasjon."))
        professional = professionals[0] if professionals else None
    hours_form = WorkingHoursForm(stations=stations, prefix="tid")
    absence_form = AbsenceForm(stations=stations, prefix="unntak", initial={"kind": AbsenceKind.LEAVE})
    if request.method == "POST" and professional is not None:
        action = request.POST.get("handling")
        try:
            if action == "legg_til_tid":
                hours_form = WorkingHoursForm(request.POST, stations=stations, prefix="tid")
                if hours_form.is_valid():
                    d = hours_form.cleaned_data
                    working_hours_add(professional=professional, station=d["station"], weekday=d["weekday"], starts=d["starts"], ends=d["ends"])
                    messages.success(request, gettext("Arbeidstiden er lagt til."))
                    return redirect(f"{reverse('attendance:working_hours')}?fagperson={professional.pk}")
            elif action == "legg_til_unntak":
                absence_form = AbsenceForm(request.POST, stations=stations, prefix="unntak")
                if absence_form.is_valid():
                    d = absence_form.cleaned_data
                    absence_add(kind=d["kind"], professional=professional, station=d["station"], starts_on=d["starts_on"],
                                ends_on=d["ends_on"], note=d["note"], created_by=request.user)
                    messages.success(request, gettext("Unntaket er registrert."))
                    return redirect(f"{reverse('attendance:working_hours')}?fagperson={professional.pk}")
            elif action in ("slett_tid", "slett_unntak"):
                working_hours_remove(user=request.user, kind=action, pk=request.POST.get("id", ""))
                messages.success(request, gettext("Slettet."))
                return redirect(f"{reverse('attendance:working_hours')}?fagperson={professional.pk}")
            else:
                messages.error(request, gettext("Ukjent handling."))
        except ValidationError as exc:
            if action in ("slett_tid", "slett_unntak"):
                for message in exc.messages:
                    messages.error(request, message)
                return redirect(f"{reverse('attendance:working_hours')}?fagperson={professional.pk}")
            form = hours_form if action == "legg_til_tid" else absence_form
            for field, errors in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
                for message in errors:
                    form.add_error(field if field in form.fields else None, message)
    today = timezone.localdate()
    hours = list(WorkingHours.objects.for_professional(professional.pk).filter(station_id__in=station_ids)) if professional else []
    absences = list(
        Absence.objects.touching(professional_ids=[professional.pk] if professional else [], station_ids=station_ids,
                                 first=today, last=today + timedelta(days=366)).select_related("station")
    )
    upcoming = [(d, holiday_name(d)) for d in public_holidays(today, today + timedelta(days=120))]
    return render(request, "attendance/working_hours.html", {
        "professionals": professionals, "professional": professional, "hours": hours, "absences": absences,
        "hours_form": hours_form, "absence_form": absence_form, "holidays": upcoming,
    })
