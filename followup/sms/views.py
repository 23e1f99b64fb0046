"""The gateway's delivery-report webhook: signed, idempotent, the only CSRF-exempt view."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from followup.sms import services


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
