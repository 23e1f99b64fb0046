"""The one access helper every child-related view goes through.

Staff see only the children of the stations they work at. Another station's
child is a 404, so a guessed id does not reveal that the child exists.
"""

from __future__ import annotations

from django.http import Http404
from django.utils.translation import gettext

from helsestasjon.models import AccessAction, Child
from helsestasjon.services import access_log_record


def child_for_request(request, child_id, *, what: str, action: str = AccessAction.VIEW_RECORD, queryset=None) -> Child:
    """Return the child the user may see and write the access log, or raise 404."""
    qs = (queryset if queryset is not None else Child.objects.select_related("station")).visible_to(request.user)
    try:
        child = qs.get(pk=child_id)
    except (Child.DoesNotExist, ValueError, TypeError):
        raise Http404(gettext("Fant ikke barnet.")) from None
    access_log_record(user=request.user, child=child, action=action, what=what, path=request.get_full_path())
    return child

