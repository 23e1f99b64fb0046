"""The register worklist: open findings by kind and age, each with its action."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Min
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import get_text_list
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from helsestasjon.models import AccessAction, Guardian, Station
from helsestasjon.permissions import (
    may_handle_findings,
    may_mark_alert_seen,
    may_see_alerts,
    may_see_register_status,
    requires,
)
from helsestasjon.services import access_log_record_many
from registry_sync.models import Finding, FindingKind, Resolution, SyncCursor, SyncError
from registry_sync.services import (
    FindingActionError,
    finding_alert_seen,
    finding_create_journal,
    finding_move_station,
    finding_resolve,
)

# Alerts already seen stay listed this long (who saw them, and when).
ALERTS_SEEN_DAYS = 30
ALERTS_SHOWN = 200
REGISTER_STATUS = {
    "Disappeared": gettext_lazy("forsvunnet"), "Temporary": gettext_lazy("midlertidig"), "Inactive": gettext_lazy("inaktiv"),
    "NotResident": gettext_lazy("ikke bosatt"), "Discontinued": gettext_lazy("opphørt"), "Active": gettext_lazy("aktiv"),
    "RegisteredAtBirth": gettext_lazy("fødselsregistrert"),
}
PAGE_SIZE = 50
# The register writes a country as its ISO 3166 alpha-3 code; a person reads its Norwegian name.
# The countries families at the stations most often move to; any other is shown by its code.
COUNTRY_NAMES = {
    "SWE": gettext_lazy("Sverige"), "DNK": gettext_lazy("Danmark"), "FIN": gettext_lazy("Finland"),
    "ISL": gettext_lazy("Island"), "GBR": gettext_lazy("Storbritannia"), "DEU": gettext_lazy("Tyskland"),
    "POL": gettext_lazy("Polen"), "LTU": gettext_lazy("Litauen"), "LVA": gettext_lazy("Latvia"),
    "EST": gettext_lazy("Estland"), "NLD": gettext_lazy("Nederland"), "FRA": gettext_lazy("Frankrike"),
    "ESP": gettext_lazy("Spania"), "ITA": gettext_lazy("Italia"), "ROU": gettext_lazy("Romania"),
    "UKR": gettext_lazy("Ukraina"), "USA": gettext_lazy("USA"), "SOM": gettext_lazy("Somalia"),
    "ERI": gettext_lazy("Eritrea"), "SYR": gettext_lazy("Syria"), "AFG": gettext_lazy("Afghanistan"),
    "IRQ": gettext_lazy("Irak"), "PAK": gettext_lazy("Pakistan"), "PHL": gettext_lazy("Filippinene"),
    "THA": gettext_lazy("Thailand"), "TUR": gettext_lazy("Tyrkia"),
}


def country_name(code: str | None) -> str:
    """The Norwegian name of a country the register gives by its alpha-3 code (the code itself if unknown)."""
    if not code:
        return gettext("ukjent land")
    return str(COUNTRY_NAMES.get(code.upper(), code))


def guardian_names(findings) -> dict[str, str]:
    """The names of the guardians that guardian-change findings name by national id, in one query."""
    ids = {nin for f in findings if f.kind == FindingKind.GUARDIANS_CHANGED for nin in (f.details or {}).get("removed", [])}
    if not ids:
        return {}
    return {g.national_id: g.full_name for g in Guardian.objects.filter(national_id__in=ids).only("national_id", "given_name", "family_name")}


def _finding_for_request(request, finding_id: int) -> Finding:
    """The finding, if it belongs to one of the user's stations; otherwise 404."""
    try:
        return Finding.objects.for_user(request.user).select_related("station", "child").get(pk=finding_id)
    except Finding.DoesNotExist:
        raise Http404(gettext("Fant ikke funnet.")) from None


def _describe(finding: Finding, show_address: bool, names: dict[str, str] | None = None) -> str:
    """One line saying what the register says, without addresses the user may not see.

    ``names`` are the guardians' names by national id (``guardian_names``), read once for a list.
    """
    d = finding.details or {}
    register = d.get("register") or {}
    address = ""
    if show_address and register.get("street_address"):
        address = f"{register['street_address']}, {register.get('postal_code', '')} {register.get('city', '')}".strip()
    kind = finding.kind
    if kind == FindingKind.UNREGISTERED_RESIDENT:
        text = gettext("Tidligere journal kan gjenåpnes.") if d.get("reopen") else gettext("Bosatt i kommunen, ingen journal.")
        return f"{text} {address}".strip()
    if kind == FindingKind.MOVED_OUT:
        return f"{gettext('Bor nå i kommune %(municipality)s.') % {'municipality': d.get('municipality', '?')}} {address}".strip()
    if kind == FindingKind.MOVED_WITHIN:
        target = (
            gettext("Hører til %(station)s.") % {"station": d["target_station"]} if d.get("target_station")
            else gettext("Ny adresse i kommunen.")
        )
        return f"{target} {address}".strip()
    if kind == FindingKind.ADDRESS_CORRECTED:
        return f"{gettext('Adressen er rettet.')} {address}".strip()
    if kind == FindingKind.EMIGRATED:
        return gettext("Utvandret til %(country)s.") % {"country": country_name(d.get("country"))}
    if kind == FindingKind.DECEASED:
        return (gettext("Død %(date)s. Alle fremtidige timer, brev og SMS er stoppet.") % {"date": d.get("deceased_date") or ""}).replace("  ", " ")
    if kind == FindingKind.DEATH_ANNULLED:
        return gettext("Dødsfallet er annullert i folkeregisteret; journalen er gjenåpnet og programmet planlagt på nytt.")
    if kind == FindingKind.PROTECTION_CHANGED:
        # The level the register changed to is the finding's own; the finding's protection follows the person.
        labels = dict(Finding._meta.get_field("protection").choices)
        after = d.get("after") or finding.fingerprint
        return gettext("Adressebeskyttelse: %(before)s → %(after)s.") % {
            "before": labels.get(d.get("before"), d.get("before")), "after": labels.get(after, after),
        }
    if kind == FindingKind.GUARDIANS_CHANGED:
        parts = []
        if d.get("added"):
            parts.append(gettext("%(count)s ny(e) med foreldreansvar") % {"count": len(d["added"])})
        if d.get("removed"):
            names = guardian_names([finding]) if names is None else names
            named = [names[nin] for nin in d["removed"] if names.get(nin)]
            if len(named) == len(d["removed"]):
                parts.append(gettext("%(names)s har ikke lenger foreldreansvar") % {"names": get_text_list(named, gettext("og"))})
            else:
                parts.append(gettext("%(count)s har ikke lenger foreldreansvar") % {"count": len(d["removed"])})
        if d.get("organisations"):
            parts.append(gettext("foreldreansvar hos %(organisations)s (mulig plassering)") % {"organisations": ", ".join(d["organisations"])})
        text = "; ".join(parts)  # str.capitalize() would lower-case the organisation's name.
        return text[:1].upper() + text[1:] + "." if parts else gettext("Foreldreansvaret er endret.")
    if kind == FindingKind.ID_CHANGED:
        if d.get("merge"):
            return gettext("Nytt nummer %(after)s tilhører en annen journal: mulig sammenslåing, må vurderes.") % {"after": d.get("after")}
        return gettext("Nytt fødselsnummer %(after)s (tidligere %(before)s beholdt som alias).") % {
            "after": d.get("after"), "before": d.get("before"),
        }
    if kind == FindingKind.NAME_CHANGED:
        return gettext("Navnet er endret (tidligere %(before)s).") % {"before": d.get("before", "")}
    if kind == FindingKind.OTHER_STATUS:
        return gettext("Status i folkeregisteret: %(status)s.") % {"status": REGISTER_STATUS.get(d.get("status"), d.get("status"))}
    if kind == FindingKind.UNKNOWN_TO_REGISTER:
        return gettext("Folkeregisteret kjenner ikke fødselsnummeret: uverifisert identitet.")
    if kind == FindingKind.AGED_OUT:
        return gettext("Barnet har fylt 6 år; journalen er avsluttet for programmet.")
    return ""


def _row(finding: Finding, user, *, error: str = "", names: dict[str, str] | None = None) -> dict:
    show_address = finding.address_visible_to(user)
    target = None
    if finding.kind == FindingKind.MOVED_WITHIN and finding.details.get("target_station_id"):
        target = finding.details["target_station_id"]
    return {
        "finding": finding,
        "protection": finding.current_protection_label if finding.is_protected else "",
        "description": _describe(finding, show_address, names),
        "age_days": (timezone.now() - finding.detected_at).days,
        "can_create": finding.kind == FindingKind.UNREGISTERED_RESIDENT,
        "target_station_id": target,
        "can_transfer": finding.kind in (FindingKind.MOVED_OUT, FindingKind.EMIGRATED),
        "can_update": finding.kind not in (FindingKind.UNREGISTERED_RESIDENT, FindingKind.MOVED_OUT, FindingKind.EMIGRATED),
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


@login_required
@require_POST
@requires(may_handle_findings)
def create_journal(request, finding_id: int):
    finding = _finding_for_request(request, finding_id)
    try:
        child = finding_create_journal(finding=finding, user=request.user)
    except FindingActionError as exc:
        return _after_action(request, finding, error=str(exc))
    return _after_action(request, finding, success=gettext("Journal opprettet for %(name)s, og programmet er planlagt.") % {"name": child.full_name})


@login_required
@require_POST
@requires(may_handle_findings)
def move_station(request, finding_id: int):
    finding = _finding_for_request(request, finding_id)
    target = finding.details.get("target_station_id")
    station = Station.objects.filter(pk=target).first() if target else None
    if station is None:
        return _after_action(request, finding, error=gettext("Fant ikke helsestasjonen barnet skal flyttes til."))
    try:
        finding_move_station(finding=finding, user=request.user, station=station)
    except FindingActionError as exc:
        return _after_action(request, finding, error=str(exc))
    return _after_action(request, finding, success=gettext("Barnet er flyttet til %(station)s.") % {"station": station.name})


@login_required
@require_POST
@requires(may_handle_findings)
def resolve(request, finding_id: int):
    finding = _finding_for_request(request, finding_id)
    resolution = request.POST.get("resolution", "")
    comment = request.POST.get("comment", "").strip()[:2000]
    try:
        finding_resolve(finding=finding, user=request.user, resolution=resolution, comment=comment)
    except FindingActionError as exc:
        return _after_action(request, finding, error=str(exc))
    label = dict(Resolution.choices).get(resolution, gettext("Behandlet"))
    return _after_action(request, finding, success=f"{label}.")


# ------------------------------------------------------------------ the nurses' alerts


def _alert_row(finding: Finding, *, error: str = "", names: dict[str, str] | None = None) -> dict:
    # No address is part of an alert, whatever the user may see.
    return {"finding": finding, "description": _describe(finding, show_address=False, names=names), "error": error}


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
