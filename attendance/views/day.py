"""The nurse's day: her (or a colleague's) appointments for one day, and recording an outcome from a row."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, gettext
from django.views.decorators.http import require_GET, require_POST

from attendance.day_list import Alongside, DayRow, ListAccess, RowControls, column_labels, day_rows
from attendance.forms import (
    DayForm,
    OutcomeForm,
)
from attendance.models import (
    CHOSEN_REASONS,
    Appointment,
    Outcome,
    OutcomeEvent,
    Reason,
)
from attendance.errors import AttendanceError, OutcomeConflict
from attendance.outcomes import appointment_record_outcome, outcome_correct
from helsestasjon.models import AccessAction, User
from helsestasjon.permissions import (
    NON_CONSULTING_ROLES,
    is_alerted,
    may_hold_consultations,
    requires,
)
from registry_sync.context_processors import unseen_alerts_known, unseen_alerts_read

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


def _alerts_read(user) -> Alongside | None:
    """The menu's count of unseen register alerts, for a user whose menu shows it (None otherwise)."""
    if not is_alerted(user):
        return None
    read = unseen_alerts_read(user.station_ids())
    return None if read is None else Alongside(*read)


def _colleagues_from(values) -> list[User]:
    return [User.from_db(connection.alias, _COLLEAGUE_FIELDS, row) for row in values]


_REASON_OPTIONS: dict[tuple[str, str], str] = {}


def _reason_options(selected: str = ""):
    # Rendered once per language and choice rather than once per row (or per request: escaping the
    # translated labels cost 0.2 ms a page).
    key = (get_language(), selected)
    options = _REASON_OPTIONS.get(key)
    if options is None:
        options = _REASON_OPTIONS[key] = format_html_join(
            "", '<option value="{}"{}>{}</option>',
            ((value, mark_safe(" selected") if value == selected else "", label) for value, label in CHOSEN_REASONS),
        )
    return options


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
    # The menu's count of unseen register alerts travels in the same round trip too (registry_sync.context_processors).
    alerts_read = _alerts_read(request.user)
    rows = day_rows(
        professional_id=professional.pk, day=shown_day, station_ids=request.user.station_ids(),
        log=ListAccess(user=request.user, action=AccessAction.VIEW_LIST, what=gettext("Dagsliste %(day)s") % {"day": f"{shown_day:%d.%m.%Y}"},
                       path=request.get_full_path()),
        alongside=[read for read in (colleagues_read, alerts_read) if read is not None],
    )
    if colleagues is None:
        colleagues = _colleagues_from(colleagues_read.rows)
    if alerts_read is not None and alerts_read.rows:
        unseen_alerts_known(request, alerts_read.rows)
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
