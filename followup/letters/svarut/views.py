"""The clerk's digital post page: what went digitally, what SvarUt printed, what waits, what needs a hand."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from followup.letters.svarut import services
from followup.letters.svarut.choices import LetterChannel
from followup.letters.views import _letter_for_request, _station
from helsestasjon.permissions import may_handle_letters, requires
from helsestasjon.models import AccessAction
from helsestasjon.services import access_log_record_many


def _page_url(station) -> str:
    return f"{reverse('followup:svarut_letters')}?stasjon={station.id}"


@login_required
@require_GET
@requires(may_handle_letters)
def svarut_letters(request):
    station = _station(request)
    lists = services.svarut_letters(station=station)
    for letter in lists["uncertain"]:
        letter.reference = services.external_reference(letter.pk)
    shown = {letter.child for rows in lists.values() for letter in rows}
    access_log_record_many(user=request.user, children=shown, action=AccessAction.VIEW_LIST, what=gettext("Digital post"),
                           path=request.get_full_path())
    context = {"station": station, "counts": services.svarut_counts(station=station), "channels": LetterChannel.choices, **lists}
    return render(request, "followup/svarut_page.html", context)


@login_required
@require_POST
@requires(may_handle_letters)
def letter_channel(request, letter_id: int):
    letter = _letter_for_request(request, letter_id, what=gettext("Brev: endret kanal"))
    try:
        services.letter_channel_override(letter=letter, channel=request.POST.get("kanal", ""), reason=request.POST.get("grunn", ""),
                                         user=request.user)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, gettext("Kanalen for brevet er endret."))
    return redirect(_page_url(letter.station))


@login_required
@require_POST
@requires(may_handle_letters)
def letter_svarut_resolve(request, letter_id: int):
    letter = _letter_for_request(request, letter_id, what=gettext("Brev: kontrollert i SvarUt"))
    try:
        services.letter_svarut_resolve(letter=letter, user=request.user, forsendelse_id=request.POST.get("forsendelse", "")[:100])
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, gettext("Brevet er oppdatert."))
    return redirect(_page_url(letter.station))
