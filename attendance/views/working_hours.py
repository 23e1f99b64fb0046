"""Working hours per weekday and their exceptions (leave, part-day leave, closed days): the leader's and
the clerk's page."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_http_methods

from attendance.working_hours import absence_add
from attendance.forms import (
    add_validation_errors,
    AbsenceForm,
    WeekForm,
    WorkingHoursForm,
)
from attendance.models import (
    Absence,
    AbsenceKind,
    WorkingHours,
)
from attendance.working_hours import working_hours_add, working_hours_remove
from attendance.slots import holiday_name, public_holidays
from attendance.views.booking import professionals_by_station
from helsestasjon.models import Station, User
from helsestasjon.permissions import (
    may_edit_working_hours,
    requires,
)


PAGE = "attendance:working_hours"


@login_required
@require_http_methods(["GET", "POST"])
@requires(may_edit_working_hours)
def working_hours(request):
    """Working hours per weekday and exceptions (leave, part-day leave, closed days) of the professionals at the user's stations.

    A refused form comes back as it was filled in, each message at its field.
    """
    station_ids = request.user.station_ids()
    stations = list(Station.objects.filter(pk__in=station_ids).order_by("name"))
    professionals, professional = _chosen_professional(request, station_ids)
    hours_form = WorkingHoursForm(stations=stations, prefix="tid")
    absence_form = AbsenceForm(stations=stations, prefix="unntak", initial={"kind": AbsenceKind.LEAVE})
    if request.method == "POST" and professional is not None:
        action = request.POST.get("handling")
        if action == "legg_til_tid":
            hours_form = WorkingHoursForm(request.POST, stations=stations, prefix="tid")
        elif action == "legg_til_unntak":
            absence_form = AbsenceForm(request.POST, stations=stations, prefix="unntak")
        done = _post(request, action, professional, hours_form if action == "legg_til_tid" else absence_form)
        if done:
            return redirect(f"{reverse(PAGE)}?fagperson={professional.pk}")
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


def _chosen_professional(request, station_ids) -> tuple[list[User], User | None]:
    """The professionals at the user's stations, and the one asked for (the first when none or a stranger is)."""
    people = {p.pk: p for sid, ps in professionals_by_station(station_ids).items() for p in ps}
    professionals = sorted(people.values(), key=lambda p: (p.last_name, p.first_name, p.pk))
    choice = WeekForm(request.GET)
    wanted = choice.cleaned_data["fagperson"] if choice.is_valid() else None
    professional = people.get(wanted) if wanted else None
    if wanted and professional is None:
        messages.error(request, gettext("Fant ikke fagpersonen ved din helsestasjon."))
    return professionals, professional or (professionals[0] if professionals else None)


def _post(request, action: str | None, professional: User, form) -> bool:
    """Carry out the posted action; True when done (the page is then fetched again), False with the form's errors set."""
    try:
        if action in ("slett_tid", "slett_unntak"):
            working_hours_remove(user=request.user, kind=action, pk=request.POST.get("id", ""))
            messages.success(request, gettext("Slettet."))
            return True
        if action not in ("legg_til_tid", "legg_til_unntak"):
            messages.error(request, gettext("Ukjent handling."))
            return False
        if not form.is_valid():
            return False
        d = form.cleaned_data
        if action == "legg_til_tid":
            working_hours_add(professional=professional, station=d["station"], weekday=d["weekday"], starts=d["starts"], ends=d["ends"])
            messages.success(request, gettext("Arbeidstiden er lagt til."))
        else:
            absence_add(kind=d["kind"], professional=professional, station=d["station"], starts_on=d["starts_on"],
                             ends_on=d["ends_on"], from_time=d["from_time"], until_time=d["until_time"], note=d["note"],
                             created_by=request.user)
            messages.success(request, gettext("Unntaket er registrert."))
        return True
    except ValidationError as exc:
        if action in ("slett_tid", "slett_unntak"):
            for message in exc.messages:
                messages.error(request, message)
            return True
        add_validation_errors(form, exc)
        return False
