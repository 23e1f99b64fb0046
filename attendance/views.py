"""Views of attendance: the nurse's day, the booking worklist, the child's page, registering a child."""

from __future__ import annotations

from datetime import timedelta
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
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from attendance.day_list import DayRow, ListAccess, day_rows
from attendance.forms import BookingForm, ChildRegistrationForm, DayForm, OutcomeForm
from attendance.models import CHOSEN_REASONS, Appointment, Consultation, OutcomeEvent, Place, Reason
from attendance.services import (
    BOOKABLE_STATES,
    AttendanceError,
    NationalIdInUse,
    OutcomeConflict,
    appointment_book,
    appointment_record_outcome,
    child_register,
    outcome_correct,
)
from helsestasjon.access import child_for_request, require_role
from helsestasjon.models import AccessAction, Child, ChildStatus, Guardianship, Role, Station, User
from helsestasjon.services import access_log_record, access_log_record_many

CLINICAL_ROLES = (Role.NURSE, Role.LEADER)
BOOKING_ROLES = (Role.CLERK, Role.NURSE, Role.LEADER)


_COLLEAGUE_FIELDS = ["id", "username", "first_name", "last_name", "role"]


def _colleagues(user):
    """Staff who hold consultations at the user's stations (for "another colleague's day").

    Hand-written and loading only the names: it runs on every day-list request, and the
    queryset (filter, exclude, distinct, only) cost 3.7-5.7 ms more per request than this
    statement (docs/decisions.md, "Hand-written reads revisited"; a test checks the two agree).
    """
    station_ids = user.station_ids()
    if not station_ids:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT DISTINCT u.id, u.username, u.first_name, u.last_name, u.role"
            f" FROM {User._meta.db_table} u JOIN {User.stations.through._meta.db_table} us ON us.user_id = u.id"
            f" WHERE u.is_active AND u.role <> %s AND us.station_id IN ({', '.join(['%s'] * len(station_ids))})"
            f" ORDER BY u.first_name, u.last_name, u.id",
            [Role.CLERK.value, *station_ids],
        )
        return [User.from_db(connection.alias, _COLLEAGUE_FIELDS, row) for row in cursor.fetchall()]


def _reason_options():
    # Rendered once per request rather than once per row.
    return format_html_join("", '<option value="{}">{}</option>', CHOSEN_REASONS)


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
def day(request):
    """The nurse's day: her (or a colleague's) appointments for one day."""
    require_role(request.user, *CLINICAL_ROLES)
    form = DayForm(request.GET)
    today = timezone.localdate()
    shown_day, professional_id = today, request.user.pk
    if form.is_valid():
        shown_day = form.cleaned_data["dato"] or today
        professional_id = form.cleaned_data["fagperson"] or request.user.pk
    else:
        problems = " ".join(e for errors in form.errors.values() for e in errors)
        messages.error(request, gettext("%(errors)s Viser dagens liste.") % {"errors": problems})
    colleagues = _colleagues(request.user)
    professional = next((c for c in colleagues if c.pk == professional_id), None)
    if professional is None:
        if professional_id != request.user.pk:
            messages.error(request, gettext("Fant ikke fagpersonen ved din helsestasjon. Viser din egen liste."))
        professional = request.user
    rows = day_rows(
        professional_id=professional.pk, day=shown_day, station_ids=request.user.station_ids(),
        log=ListAccess(user=request.user, action=AccessAction.VIEW_LIST, what=gettext("Dagsliste %(day)s") % {"day": f"{shown_day:%d.%m.%Y}"},
                       path=request.get_full_path()),
    )
    context = {
        "rows": rows,
        "day": shown_day,
        "today": today,
        "previous_day": shown_day - timedelta(days=1),
        "next_day": shown_day + timedelta(days=1),
        "professional": professional,
        "colleagues": colleagues,
        "own": professional.pk == request.user.pk,
        "reason_options": _reason_options(),
        # Rows read it; a missing name costs the template engine an exception per row.
        "error": "",
    }
    return render(request, "attendance/day.html", context)


@login_required
@require_POST
def record_outcome(request, appointment_id: int):
    """One click on a day-list row: record (or correct) the outcome; htmx swaps the row."""
    require_role(request.user, *CLINICAL_ROLES)
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
            current = conflict.current
            if (
                current is not None
                and not data["replaces"]
                and current.outcome == data["outcome"]
                and current.reason == data["reason"]
                and current.recorded_by_id == request.user.pk
            ):
                pass  # A double click or a repeated POST: the first one counts, nothing to tell.
            else:
                error = _conflict_message(conflict)
        except AttendanceError as exc:
            error = exc.message
    if request.htmx:
        row = _day_row(appointment_id, request)
        return render(request, "attendance/day.html#row", {"row": row, "error": error, "reason_options": _reason_options()})
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
    through = User.stations.through.objects.filter(station_id__in=station_ids, user__is_active=True).exclude(
        user__role=Role.CLERK
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
        "professional": user.pk if user.role != Role.CLERK else None,
    }


@login_required
@require_GET
def booking_worklist(request):
    """Due consultations without a booked appointment, oldest first, each bookable in one step."""
    require_role(request.user, *BOOKING_ROLES)
    station_ids = request.user.station_ids()
    qs = Consultation.objects.needing_booking(station_ids)
    page = Paginator(qs, 50).get_page(request.GET.get("side"))
    consultations = list(page.object_list)
    professionals = _professionals_by_station(station_ids)
    rows = [
        {
            "consultation": c,
            "appointment": None,  # names the row reads are defined: a missing one costs an exception per row
            "form": BookingForm(initial=_booking_initial(c, request.user), professionals=professionals.get(c.child.station_id, []),
                                prefix=f"c{c.pk}"),
        }
        for c in consultations
    ]
    if consultations:
        access_log_record_many(
            user=request.user, children=[c.child for c in consultations], action=AccessAction.VIEW_LIST,
            what=gettext("Timebestilling"), path=request.get_full_path(),
        )
    return render(request, "attendance/booking_worklist.html", {"page": page, "rows": rows, "error": ""})


@login_required
@require_POST
def book(request, consultation_id: int):
    """Book one consultation from the worklist (htmx swaps the row) or from the child's page."""
    require_role(request.user, *BOOKING_ROLES)
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
        row = {"consultation": consultation, "form": form, "appointment": appointment}
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
    may_book = request.user.role in BOOKING_ROLES or request.user.role == Role.ADMIN
    bookable = []
    if may_book and child.status == ChildStatus.ACTIVE:
        professionals = _professionals_by_station([child.station_id])[child.station_id]
        bookable = [
            {"consultation": c, "form": BookingForm(initial=_booking_initial(c, request.user), professionals=professionals, prefix=f"c{c.pk}")}
            for c in consultations
            if c.state in BOOKABLE_STATES and c.window_opens <= timezone.localdate() + timedelta(days=60)
        ]
    guardianships = [
        {"link": g, "guardian": g.guardian, "address_visible": g.guardian.address_visible_to(request.user)}
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
            "clinical": request.user.sees_clinical_details,
            "child_address_visible": child.address_visible_to(request.user),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def child_new(request):
    """Register a child by hand (birth notice or move-in); the programme is planned at once."""
    require_role(request.user, *BOOKING_ROLES)
    stations = list(Station.objects.filter(pk__in=request.user.station_ids()).order_by("name"))
    form = ChildRegistrationForm(request.POST or None, stations=stations)
    if request.method == "POST" and form.is_valid():
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
            child = child_register(
                national_id=d["national_id"], given_name=d["given_name"], family_name=d["family_name"],
                birth_date=d["birth_date"], sex=d["sex"], station=d["station"], guardians=[guardian],
                registered_by=request.user, street_address=d["street_address"], postal_code=d["postal_code"],
                city=d["city"], municipality_number=d["station"].municipality.number,
            )
        except NationalIdInUse as exc:
            # The answer is the same for any station's child; the attempt is on that child's log,
            # so its station's leader sees who tried (docs/decisions.md).
            access_log_record(
                user=request.user, child=exc.child, action=AccessAction.VIEW_RECORD,
                what=gettext("Forsøk på registrering med eksisterende fødselsnummer"), path=request.get_full_path(),
            )
            form.add_error("national_id", exc.messages[0])
        except ValidationError as exc:
            for field, errors in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
                target = field if field in form.fields else (f"guardian_{field}" if f"guardian_{field}" in form.fields else None)
                for message in errors:
                    form.add_error(target, message)
        else:
            messages.success(request, gettext("%(name)s er registrert, og programmet er planlagt.") % {"name": child.full_name})
            return redirect("attendance:child", child_id=child.pk)
    return render(request, "attendance/child_new.html", {"form": form})

