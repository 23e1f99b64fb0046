"""Views of the shared domain: landing page, children search, access log."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_GET

from helsestasjon.access import child_for_request
from helsestasjon.permissions import may_view_access_log, requires
from helsestasjon.models import AccessAction, AccessLog, Child, Role
from helsestasjon.services import access_log_record_many

LANDING = {
    Role.NURSE: "attendance:day",
    Role.CLERK: "attendance:booking_worklist",
    Role.LEADER: "followup:leader_queue",
    Role.ADMIN: "children",
}


@login_required
@require_GET
def home(request):
    for name in (LANDING.get(request.user.role), "children"):
        try:
            return redirect(reverse(name))
        except (NoReverseMatch, TypeError):
            continue
    return redirect("children")


@login_required
@require_GET
def children(request):
    """Search the station's children by name or national id."""
    query = request.GET.get("q", "").strip()[:100]
    qs = Child.objects.visible_to(request.user).select_related("station")
    if query:
        digits = query.replace(" ", "")
        if digits.isdigit():
            qs = qs.filter(national_id__startswith=digits)
        else:
            for word in query.split()[:4]:
                qs = qs.filter(Q(given_name__icontains=word) | Q(family_name__icontains=word))
    page = Paginator(qs.order_by("family_name", "given_name", "id"), 50).get_page(request.GET.get("side"))
    # Every child a search shows is written to the access log (a national-id prefix names children too).
    shown = list(page.object_list)
    if shown:
        access_log_record_many(
            user=request.user, children=shown, action=AccessAction.VIEW_LIST, what=gettext("Søk i barn"), path=request.get_full_path(),
        )
    template = "helsestasjon/children.html#results" if request.htmx else "helsestasjon/children.html"
    return render(request, template, {"page": page, "query": query})


@login_required
@require_GET
@requires(may_view_access_log)
def child_access_log(request, child_id: int):
    """Who has looked at this child's record (leaders of the child's station)."""
    child = child_for_request(request, child_id, what=gettext("Tilgangslogg"), action=AccessAction.VIEW_RECORD)
    rows = AccessLog.objects.filter(child=child).order_by("-at")[:500]
    return render(request, "helsestasjon/access_log.html", {"child": child, "rows": rows})


def csrf_failure(request, reason=""):
    return render(request, "403_csrf.html", status=403)
