from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from helsestasjon.access import child_for_request


@login_required
@require_GET
def child_detail(request, child_id: int):
    child = child_for_request(request, child_id, what="Barnets side")
    return render(request, "attendance/child.html", {"child": child})
