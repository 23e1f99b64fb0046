"""Booking from free slots: the booking worklist, the week of free slots, booking a consultation (from a
slot or typed on the child's page) and moving a booked appointment to another free slot."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from attendance.forms import (
    errors_text,
    SlotForm,
    WeekForm,
)
from attendance.models import (
    Appointment,
    Consultation,
    Place,
)
from attendance.booking import appointment_book_slot
from attendance.errors import AttendanceError
from attendance.outcomes import appointment_move_to_slot
from attendance.slots import SlotPlanner, holiday_name, week_slots
from attendance.views.day import _day_url
from helsestasjon.models import AccessAction, Role, User
from helsestasjon.permissions import (
    holds_consultations,
    may_book,
    may_hold_consultations,
    requires,
)
from helsestasjon.services import access_log_record, access_log_record_many


def professionals_by_station(station_ids) -> dict[int, list[User]]:
    by_station: dict[int, list[User]] = {sid: [] for sid in station_ids}
    through = User.stations.through.objects.filter(
        station_id__in=station_ids, user__in=User.objects.holding_consultations()
    ).select_related("user").order_by("user__first_name", "user__last_name", "user_id")
    for link in through:
        by_station[link.station_id].append(link.user)
    return by_station


def booking_initial(consultation: Consultation, user) -> dict:
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
    rows = _proposals(consultations, request.user, professionals_by_station(station_ids))
    if consultations:
        access_log_record_many(
            user=request.user, children=[c.child for c in consultations], action=AccessAction.VIEW_LIST,
            what=gettext("Timebestilling"), path=request.get_full_path(),
        )
    return render(request, "attendance/booking_worklist.html", {"page": page, "rows": rows, "error": "", "week_open": False})


def _one_at_users_stations(queryset, message: str, **lookup):
    """The row at one of the user's stations (the queryset is filtered by them), or a 404 with ``message``."""
    try:
        return queryset.get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404(message) from None


def consultation_to_book(request, consultation_id: int) -> tuple[Consultation, list[User]]:
    """The consultation of a child at the user's stations, and the professionals it can be booked with."""
    consultation = _one_at_users_stations(
        Consultation.objects.select_related("child", "step", "child__station").filter(child__station_id__in=request.user.station_ids()),
        gettext("Fant ikke konsultasjonen."), pk=consultation_id,
    )
    return consultation, professionals_by_station([consultation.child.station_id])[consultation.child.station_id]


@login_required
@require_POST
@requires(may_book)
def book_slot(request, consultation_id: int):
    """Book the consultation into a free slot (the worklist's "Bestill" or a time in the week view)."""
    consultation, professionals = consultation_to_book(request, consultation_id)
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
        error = errors_text(form)
    access_log_record(
        user=request.user, child=consultation.child, action=AccessAction.VIEW_LIST,
        what=gettext("Timebestilling (rad oppdatert)"), path=request.get_full_path(),
    )
    if appointment is None:
        # The week the time was chosen from comes back with that professional and week and the time
        # marked: in the row (htmx, only when it was chosen in the week) or as the week's page.
        query, chosen = _chosen_week(request, form)
        week = _booking_week_context(request, consultation, professionals, query=query, chosen=chosen, error=error)
        if not request.htmx:
            return render(request, "attendance/booking_week.html", week)
    if request.htmx:
        consultation.refresh_from_db(fields=["state"])
        context = {"row": {"consultation": consultation, "appointment": appointment, "proposal": None}, "error": error,
                   "week_open": False}
        if appointment is None:
            # The slot went to someone else: offer the next free one at once.
            context["row"] = _proposals([consultation], request.user, {consultation.child.station_id: professionals})[0]
            if "uke" in request.POST:
                context.update(week, error="", week_open=True)
        return render(request, "attendance/booking_worklist.html#booking_row", context)
    when = timezone.localtime(appointment.starts_at)
    messages.success(request, gettext("Time bestilt %(date)s kl. %(time)s for %(name)s.") % {
        "date": f"{when:%d.%m.%Y}", "time": f"{when:%H:%M}", "name": consultation.child.full_name,
    })
    return redirect("attendance:booking_worklist")


def _chosen_week(request, form: SlotForm) -> tuple[dict, datetime | None]:
    """The week view's query for the week and the professional a refused time was chosen from, and that time."""
    chosen = getattr(form, "cleaned_data", {}).get("starts_at")
    week = f"{timezone.localtime(chosen):%Y-%m-%d}" if chosen else request.POST.get("uke", "")
    return {"uke": week, "fagperson": request.POST.get("professional", "")}, chosen


def _week_context(query, *, station_id: int, professionals: list[User], default_professional: User | None, duration_minutes: int,
                  not_before: date, ignore_appointment_id: int | None = None, chosen: datetime | None = None,
                  error: str = "") -> dict:
    """The week of free slots the week view shows: which week and whose, from the query string.

    After a refusal ``chosen`` is the time that was asked for: it is shown in its day, marked, with
    ``error`` beside it (or above the week when that day is not shown).
    """
    form = WeekForm(query)
    today = timezone.localdate()
    first = max(today, not_before)
    wanted, professional_id = None, None
    if form.is_valid():
        wanted, professional_id = form.cleaned_data["uke"], form.cleaned_data["fagperson"]
    else:
        error = error or errors_text(form)
    by_id = {p.pk: p for p in professionals}
    professional = by_id.get(professional_id) if professional_id else None
    if professional_id and professional is None:
        error = error or gettext("Fant ikke fagpersonen ved helsestasjonen.")
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
    marked = _mark_chosen(days, chosen, professional, query) if error else None
    previous = monday - timedelta(days=7)
    return {
        "days": days, "monday": monday, "sunday": monday + timedelta(days=6), "professional": professional,
        "professionals": professionals, "week_error": error if marked is None else "", "chosen_error": error if marked else "",
        "duration_minutes": duration_minutes,
        "previous_week": previous if previous + timedelta(days=6) >= today else None, "next_week": monday + timedelta(days=7),
    }


def _mark_chosen(days: list[dict], chosen: datetime | None, professional: User | None, query) -> dict | None:
    """Put the refused time in its day of the week shown (with the message); the day, or None when not shown."""
    if chosen is None or professional is None or str(professional.pk) != str(query.get("fagperson", professional.pk)):
        return None
    local = timezone.localtime(chosen)
    for day in days:
        if day["day"] == local.date():
            day["chosen"] = local
            return day
    return None


def _booking_week_context(request, consultation: Consultation, professionals: list[User], *, query,
                          chosen: datetime | None = None, error: str = "") -> dict:
    """The week view of one consultation's booking: whose week from ``query``, the user's own by default."""
    default = next((p for p in professionals if p.pk == request.user.pk), None)
    context = _week_context(query, station_id=consultation.child.station_id, professionals=professionals, default_professional=default,
                            duration_minutes=consultation.step.default_duration_minutes,
                            not_before=consultation.window_opens, chosen=chosen, error=error)
    context.update({"consultation": consultation, "action": reverse("attendance:book_slot", args=[consultation.pk]),
                    "week_url": reverse("attendance:booking_week", args=[consultation.pk]),
                    "target": f"uke-{consultation.pk}", "moving": None})
    return context


@login_required
@require_GET
@requires(may_book)
def booking_week(request, consultation_id: int):
    """A week of the chosen professional's free slots for one consultation ("Velg annen tid")."""
    consultation, professionals = consultation_to_book(request, consultation_id)
    access_log_record(user=request.user, child=consultation.child, action=AccessAction.VIEW_LIST,
                      what=gettext("Timebestilling (ledige tider)"), path=request.get_full_path())
    context = _booking_week_context(request, consultation, professionals, query=request.GET)
    if request.htmx:
        return render(request, "attendance/booking_week.html#week", context)
    return render(request, "attendance/booking_week.html", context)


@login_required
@require_http_methods(["GET", "POST"])
@requires(may_book)
def appointment_move(request, appointment_id: int):
    """Move a booked appointment to another free slot of its professional (GET: the week; POST: the slot)."""
    appointment = _one_at_users_stations(
        Appointment.objects.select_related("child", "consultation__step", "professional").filter(station_id__in=request.user.station_ids()),
        gettext("Fant ikke timen."), pk=appointment_id,
    )
    access_log_record(user=request.user, child=appointment.child, action=AccessAction.VIEW_LIST,
                      what=gettext("Flytt timen (ledige tider)"), path=request.get_full_path())
    professional = appointment.professional
    query, chosen, error = request.GET, None, ""
    if request.method == "POST":
        form = SlotForm(request.POST, professionals=[professional])
        error = _move(request, appointment, form)
        if not error:
            when = timezone.localtime(form.cleaned_data["starts_at"])
            messages.success(request, gettext("Timen er flyttet til %(date)s kl. %(time)s.") % {
                "date": f"{when:%d.%m.%Y}", "time": f"{when:%H:%M}"})
            return redirect(_day_url(when.date(), professional.pk, request.user, f"#time-{appointment.rescheduled_to_id or ''}")
                            if may_hold_consultations(request.user) else reverse("attendance:child", args=[appointment.child_id]))
        # Refused: the same week again with the time chosen marked and the message beside it.
        query, chosen = _chosen_week(request, form)
    context = _week_context(query, station_id=appointment.station_id, professionals=[professional],
                            default_professional=professional, duration_minutes=appointment.duration_minutes,
                            not_before=timezone.localdate(), ignore_appointment_id=appointment.pk, chosen=chosen, error=error)
    url = reverse("attendance:appointment_move", args=[appointment.pk])
    context.update({"consultation": appointment.consultation, "action": url, "week_url": url,
                    "target": f"flytt-{appointment.pk}", "moving": appointment})
    if request.htmx:
        return render(request, "attendance/booking_week.html#week", context)
    return render(request, "attendance/booking_week.html", context)


def _move(request, appointment: Appointment, form: SlotForm) -> str:
    """Move the appointment to the slot posted; the message when refused, else ""."""
    if not appointment.is_booked:
        return gettext("Timen er ikke lenger bestilt og kan ikke flyttes.")
    if not form.is_valid():
        return errors_text(form)
    try:
        appointment_move_to_slot(appointment=appointment, starts_at=form.cleaned_data["starts_at"], recorded_by=request.user)
    except AttendanceError as exc:
        return exc.message
    return ""
