"""The register worklist: open findings by kind and age, each with its action."""

from __future__ import annotations

from datetime import timedelta
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Min
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from helsestasjon.models import AccessAction, Station
from helsestasjon.permissions import (
    may_handle_findings,
    may_mark_alert_seen,
    may_see_alerts,
    may_see_register_status,
    requires,
)
from helsestasjon.services import access_log_record_many
from registry_sync.finding_text import guardian_names
from registry_sync.models import Finding, FindingKind, Resolution, SyncCursor, SyncError
from registry_sync.worklist import (
    FindingActionError,
    finding_alert_seen,
    finding_create_journal,
    finding_move_station,
    finding_resolve,
)

# Alerts already seen stay listed this long (who saw them, and when).
ALERTS_SEEN_DAYS = 30
ALERTS_SHOWN = 200
PAGE_SIZE = 50


def _finding_for_request(request, finding_id: int) -> Finding:
    """The finding, if it belongs to one of the user's stations; otherwise 404."""
    try:
        return Finding.objects.for_user(request.user).select_related("station", "child").get(pk=finding_id)
    except Finding.DoesNotExist:
        raise Http404(gettext("Fant ikke funnet.")) from None


def _row(finding: Finding, user, *, error: str = "", names: dict[str, str] | None = None) -> dict:
    actions = finding.actions_for(user)
    return {
        "finding": finding,
        "protection": finding.current_protection_label if finding.is_protected else "",
        "description": finding.describe(show_address=finding.address_visible_to(user), names=names),
        "age_days": (timezone.now() - finding.detected_at).days,
        "can_create": actions.create,
        "target_station_id": actions.move_station,
        "can_transfer": actions.transfer,
        "can_update": actions.update,
        "error": error,
    }


@login_required
@require_GET
@requires(may_handle_findings)
def worklist(request):
    base = Finding.objects.for_user(request.user).open()
    kind = request.GET.get("type", "")
    if kind and kind not in FindingKind.values:
        kind = ""
    counts = {
        row["kind"]: row
        for row in base.values("kind").annotate(count=Count("id"), oldest=Min("detected_at")).order_by()
    }
    summary = [
        {"kind": value, "label": label, "count": counts[value]["count"], "oldest": counts[value]["oldest"]}
        for value, label in FindingKind.choices if value in counts
    ]
    qs = base.select_related("station", "child").order_by("detected_at", "id")
    if kind:
        qs = qs.filter(kind=kind)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("side"))
    findings = list(page.object_list)
    children = [f.child for f in findings if f.child is not None]
    if children:
        access_log_record_many(user=request.user, children=children, action=AccessAction.VIEW_LIST,
                               what=gettext("Folkeregisteret: arbeidsliste"), path=request.get_full_path())
    names = guardian_names(findings)
    context = {
        "page": page,
        "rows": [_row(f, request.user, names=names) for f in findings],
        "summary": summary,
        "kind": kind,
        "kind_label": FindingKind(kind).label if kind else "",
    }
    if may_see_register_status(request.user):
        cursor = SyncCursor.objects.filter(name="events").first()
        last_ok = max([t for t in (cursor.last_event_sync_at, cursor.last_full_at) if t], default=None) if cursor else None
        errors = SyncError.objects.all()
        if last_ok:
            errors = errors.filter(at__gt=last_ok)
        context.update(cursor=cursor, last_ok=last_ok, sync_errors=list(errors[:10]))
    template = "registry_sync/worklist.html#findings" if request.htmx else "registry_sync/worklist.html"
    return render(request, template, context)


def _safe_next(request) -> str:
    """Where to go after an action: a posted ``next`` on this site, otherwise the worklist."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("registry_sync:worklist")


def _after_action(request, finding: Finding, *, error: str = "", success: str = ""):
    if request.htmx:
        finding.refresh_from_db()
        if finding.child_id is not None:
            access_log_record_many(user=request.user, children=[finding.child], action=AccessAction.VIEW_LIST,
                                   what=gettext("Folkeregisteret: arbeidsliste"), path=request.get_full_path())
        return render(request, "registry_sync/worklist.html#finding_row", {"row": _row(finding, request.user, error=error)})
    if error:
        messages.error(request, error)
    elif success:
        messages.success(request, success)
    return redirect(_safe_next(request))


def _finding_action(action):
    """A worklist action's view: signed in, POST, a role that handles findings (403 before anything is
    read), the finding if the user's stations hold it (else 404), then the action, which returns the
    success message or raises FindingActionError with the one to show, and the answer."""

    @wraps(action)
    def view(request, finding_id: int):
        finding = _finding_for_request(request, finding_id)
        try:
            success = action(request, finding)
        except FindingActionError as exc:
            return _after_action(request, finding, error=str(exc))
        return _after_action(request, finding, success=success)

    return login_required(require_POST(requires(may_handle_findings)(view)))


@_finding_action
def create_journal(request, finding: Finding) -> str:
    child = finding_create_journal(finding=finding, user=request.user)
    return gettext("Journal opprettet for %(name)s, og programmet er planlagt.") % {"name": child.full_name}


@_finding_action
def move_station(request, finding: Finding) -> str:
    target = finding.actions_for(request.user).move_station
    station = Station.objects.filter(pk=target).first() if target else None
    if station is None:
        raise FindingActionError(gettext("Fant ikke helsestasjonen barnet skal flyttes til."))
    finding_move_station(finding=finding, user=request.user, station=station)
    return gettext("Barnet er flyttet til %(station)s.") % {"station": station.name}


@_finding_action
def resolve(request, finding: Finding) -> str:
    resolution = request.POST.get("resolution", "")
    comment = request.POST.get("comment", "").strip()[:2000]
    finding_resolve(finding=finding, user=request.user, resolution=resolution, comment=comment)
    label = dict(Resolution.choices).get(resolution, gettext("Behandlet"))
    return f"{label}."


# ------------------------------------------------------------------ the nurses' alerts


def _alert_row(finding: Finding, *, error: str = "", names: dict[str, str] | None = None) -> dict:
    # No address is part of an alert, whatever the user may see.
    return {"finding": finding, "description": finding.describe(show_address=False, names=names), "error": error}


@login_required
@require_GET
@requires(may_see_alerts)
def alerts(request):
    """The nurses' alerts from the register for the user's stations: not seen
    first (oldest first), then those seen in the last 30 days."""
    mine = Finding.objects.for_user(request.user).alerts().select_related("child", "alert_seen_by")
    unseen_all = mine.filter(alert_seen_at__isnull=True)
    unseen = list(unseen_all.order_by("detected_at", "id")[:ALERTS_SHOWN])
    unseen_total = len(unseen) if len(unseen) < ALERTS_SHOWN else unseen_all.count()
    seen = list(mine.filter(alert_seen_at__gte=timezone.now() - timedelta(days=ALERTS_SEEN_DAYS))
                .order_by("-alert_seen_at", "-id")[:100])
    children = [f.child for f in (*unseen, *seen)]
    if children:
        access_log_record_many(user=request.user, children=children, action=AccessAction.VIEW_LIST,
                               what=gettext("Varsler fra folkeregisteret"), path=request.get_full_path())
    names = guardian_names([*unseen, *seen])
    return render(request, "registry_sync/alerts.html", {
        "oob": False,
        "unseen": [_alert_row(f, names=names) for f in unseen],
        "unseen_total": unseen_total,
        "seen": [_alert_row(f, names=names) for f in seen],
        "seen_days": ALERTS_SEEN_DAYS,
    })


@login_required
@require_POST
# The leader reads the alerts; marking one seen is for the nurses it is meant for.
@requires(may_mark_alert_seen, message=gettext_lazy("Bare helsesykepleiere markerer varsler som sett."))
def alert_seen(request, alert_id: int):
    try:
        finding = Finding.objects.for_user(request.user).alerts().select_related("child").get(pk=alert_id)
    except Finding.DoesNotExist:
        raise Http404(gettext("Fant ikke varselet.")) from None
    error = ""
    try:
        if not finding_alert_seen(finding=finding, user=request.user):
            seen_by = finding.alert_seen_by
            error = (
                gettext("Allerede markert som sett av %(name)s.") % {"name": seen_by.get_full_name() or seen_by.username}
                if seen_by else ""
            )
    except FindingActionError as exc:
        error = str(exc)
    if request.htmx:
        access_log_record_many(user=request.user, children=[finding.child], action=AccessAction.VIEW_LIST,
                               what=gettext("Varsler fra folkeregisteret"), path=request.get_full_path())
        # The menu's count of unseen alerts is updated with the row (an out-of-band swap).
        return render(request, "registry_sync/alerts.html#alert_row", {"row": _alert_row(finding, error=error), "oob": True})
    if error:
        messages.info(request, error)
    else:
        messages.success(request, gettext("Varselet om %(name)s er markert som sett.") % {"name": finding.name})
    return redirect(reverse("registry_sync:alerts"))
