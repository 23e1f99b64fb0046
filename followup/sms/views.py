"""The gateway's delivery-report webhook (signed, idempotent, the only CSRF-exempt view), and the
nurse's manual decision for a guardian who gets no automatic messages about a protected child."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from followup.models import Case, CaseStatus
from followup.recipients import manual_contact_decide
from followup.sms import services
from followup.templatetags.manual_contact import manual_contact_context
from helsestasjon.access import child_for_request
from helsestasjon.permissions import may_decide_manual_contact, requires


@csrf_exempt  # The gateway cannot hold a CSRF token; the HMAC signature authenticates it.
@require_POST
def delivery_report(request):
    body = request.body
    try:
        services.verify_signature(body=body, signature=request.headers.get("X-Signature", ""))
    except services.BadSignature:
        return HttpResponse("Feil signatur.", status=403, content_type="text/plain; charset=utf-8")
    try:
        result = services.sms_delivery_report(body=body)
    except services.BadReport as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    return JsonResponse({"ok": True, "duplicate": not result.created})


@login_required
@require_POST
# The decision and its reason are the clinical roles' (nurse, leader); others see that one is needed.
@requires(may_decide_manual_contact, message=gettext_lazy("Bare helsesykepleier eller leder kan gjøre denne avgjørelsen."))
def manual_contact(request, child_id: int):
    """Record who is told what for one guardian of a protected child, with the reason."""
    child = child_for_request(request, child_id, what=gettext("Manuell avgjørelse om varsling"))
    error = done = ""
    try:
        guardian_id = int(request.POST.get("guardian", ""))
    except ValueError:
        error = gettext("Velg en foresatt.")
    else:
        try:
            manual_contact_decide(
                child=child, guardian_id=guardian_id, decision=request.POST.get("decision", ""),
                reason=request.POST.get("reason", ""), user=request.user,
            )
            done = gettext("Avgjørelsen er lagret.")
        except ValidationError as exc:
            error = " ".join(exc.messages)
    # "fra" only picks which of this child's own pages to show next; both are the server's.
    fra = "sak" if request.POST.get("fra") == "sak" else "barn"
    if request.htmx:
        context = manual_contact_context(child=child, user=request.user, fra=fra, error=error, done=done)
        return render(request, "followup/_manual_contact.html", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, done)
    case = Case.objects.filter(child=child, station_id__in=request.user.station_ids(), status=CaseStatus.OPEN).first()
    if fra == "sak" and case is not None:
        return redirect("followup:case", case_id=case.pk)
    return redirect("attendance:child", child_id=child.pk)
