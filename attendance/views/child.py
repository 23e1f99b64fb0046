"""The child's page, and registering a child (from the population register, or by hand when it does not
know the person)."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Prefetch
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from attendance.forms import (
    add_validation_errors,
    BookingForm,
    errors_text,
    ChildRegistrationForm,
    RegisterLookupForm,
)
from attendance.models import (
    Appointment,
    Consultation,
    OutcomeEvent,
)
from attendance.registration import (
    RegisterLookupError,
    child_register_from_register,
    register_child_lookup,
)
from attendance.booking import BOOKABLE_STATES, appointment_book
from attendance.children import NationalIdInUse, child_register
from attendance.errors import AttendanceError, ProfessionalBusy
from attendance.views.booking import booking_initial, consultation_to_book, professionals_by_station
from helsestasjon.access import child_for_request
from helsestasjon.models import AccessAction, Child, ChildStatus, Guardianship, Station
from helsestasjon.permissions import (
    may_book,
    may_see_address,
    may_see_clinical_text,
    requires,
)
from helsestasjon.services import access_log_record


@login_required
@require_GET
def child_detail(request, child_id: int):
    """The child's page: the programme as a timeline, appointments and outcomes, guardians."""
    return child_page(request, child_id)


def child_page(request, child_id: int, *, booking_form: BookingForm | None = None):
    """The child's page; ``booking_form`` is a booking refused, shown as it was filled in with its messages."""
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
        professionals = professionals_by_station([child.station_id])[child.station_id]
        bookable = [
            {"consultation": c, "form": booking_form if booking_form is not None and booking_form.prefix == f"c{c.pk}"
             else BookingForm(initial=booking_initial(c, request.user), professionals=professionals, prefix=f"c{c.pk}")}
            for c in consultations
            if c.state in BOOKABLE_STATES and c.window_opens <= timezone.localdate() + timedelta(days=60)
        ]
    if booking_form is not None and not any(row["form"] is booking_form for row in bookable):
        # The consultation is no longer bookable here (booked meanwhile): its message goes above the page.
        for message in booking_form.non_field_errors() or [errors_text(booking_form)]:
            messages.error(request, message)
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
        add_validation_errors(form, exc, prefix="guardian_")
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
@require_POST
@requires(may_book)
def book(request, consultation_id: int):
    """Book one consultation from the worklist (htmx swaps the row) or from the child's page."""
    consultation, professionals = consultation_to_book(request, consultation_id)
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
            # The message stands at the field it is about: a clash is about the time chosen.
            form.add_error("time" if isinstance(exc, ProfessionalBusy) else None, exc.message)
    else:
        error = errors_text(form)
    # Only the worklist books with htmx, so an htmx request gets its row; the child's page posts a plain
    # form. ``fra`` only chooses where a plain POST is sent back to, never a fragment.
    if error and not request.htmx and request.POST.get("fra") == "barn":
        # The child's page again with this form as it was filled in, its messages at its fields.
        return child_page(request, consultation.child_id, booking_form=form)
    if request.htmx:
        consultation.refresh_from_db(fields=["state"])
        access_log_record(
            user=request.user, child=consultation.child, action=AccessAction.VIEW_LIST,
            what=gettext("Timebestilling (rad oppdatert)"), path=request.get_full_path(),
        )
        row = {"consultation": consultation, "form": form, "appointment": appointment, "proposal": None}
        return render(request, "attendance/booking_worklist.html#booking_row", {"row": row, "error": error, "week_open": False})
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
