"""The clerk's letter page: letters due, the print batch and its progress, the print
PDF, manual handling (protected addresses), failed letters and returned mail."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from followup.letters import batch as letter_batches
from followup.letters import making
from followup.letters import printing
from followup.letters.addressing import letters_current_protection
from followup.letters.models import BatchState, Letter, LetterBatch, LetterState
from helsestasjon.access import child_for_request
from helsestasjon.models import AccessAction, Station
from helsestasjon.permissions import may_handle_letters, may_see_address_at_level, may_see_letters, requires
from helsestasjon.services import access_log_record_many

RUNNING_STATES = (BatchState.PREPARING, BatchState.RUNNING, BatchState.MERGING)


def _station(request) -> Station:
    """The station whose letters the page shows: ?stasjon=<id>, else the user's first."""
    stations = Station.objects.filter(id__in=request.user.station_ids()).order_by("name")
    wanted = request.GET.get("stasjon") or request.POST.get("stasjon")
    if wanted:
        try:
            return stations.get(id=int(wanted))
        except (ValueError, Station.DoesNotExist):
            raise Http404(gettext("Fant ikke helsestasjonen.")) from None
    station = stations.first()
    if station is None:
        raise Http404(gettext("Du er ikke knyttet til en helsestasjon."))
    return station


def _letters_url(station: Station) -> str:
    return f"{reverse('followup:letters')}?stasjon={station.id}"


def _pdf_response(file_field, filename: str) -> FileResponse:
    response = FileResponse(file_field.open("rb"), as_attachment=True, filename=filename, content_type="application/pdf")
    # Letters hold names and addresses: never kept by a browser or a proxy.
    response["Cache-Control"] = "no-store, private"
    response["Pragma"] = "no-cache"
    return response


def _with_addresses(letters, user):
    """The address each letter went to, or None when the user may not see it by the protection now
    of its addressees and the child (also when it became protected after the letter was made)."""
    levels = letters_current_protection(letters)
    for letter in letters:
        visible = may_see_address_at_level(user, levels[letter.pk])
        letter.address_shown = (letter.address_lines or letter.recipient.address_lines()) if visible else None
    return letters


@login_required
@require_GET
@requires(may_handle_letters)
def letters(request):
    station = _station(request)
    base = Letter.objects.filter(station=station).select_related("child", "recipient").order_by("-created_at", "-id")
    batches = list(LetterBatch.objects.filter(station=station).select_related("created_by")[:8])
    # A start that found nothing for the post is shown while it is the newest, then left out.
    batches = [batch for i, batch in enumerate(batches) if i == 0 or batch.state != BatchState.EMPTY]
    for batch in batches:
        batch.progress = letter_batches.letter_batch_progress(batch)
    manual = _with_addresses(list(base.filter(manual_handling=True).exclude(state__in=[LetterState.SENT, LetterState.CANCELLED])[:200]), request.user)
    failed = list(base.filter(state=LetterState.FAILED)[:200])
    sent = list(base.filter(state=LetterState.SENT).order_by("-sent_at", "-id")[:50])
    without_recipient = list(making.letter_steps_without_recipient(station=station)[:100])
    shown = {letter.child for letter in manual + failed + sent} | {step.case.child for step in without_recipient}
    access_log_record_many(user=request.user, children=shown, action=AccessAction.VIEW_LIST, what=gettext("Brevoversikten"), path=request.get_full_path())
    due = making.letters_due_count(station=station)
    context = {
        "station": station,
        "batch_running": any(batch.progress.running for batch in batches),
        "manual_waiting": due["manual"],
        "stations": Station.objects.filter(id__in=request.user.station_ids()).order_by("name"),
        "due": due,
        "without_recipient": without_recipient,
        "batches": batches,
        "manual": manual,
        "failed": failed,
        "sent": sent,
    }
    return render(request, "followup/letters_page.html", context)


@login_required
@require_POST
@requires(may_handle_letters)
def letter_batch_start(request):
    station = _station(request)
    try:
        # Returns at once; the letters are made and rendered by tasks while the page shows the progress.
        batch = letter_batches.letter_batch_request(station=station, user=request.user)
    except making.LetterError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, gettext("Brevbunke %(batch)s er startet. Framdriften vises under «Brevbunker».") % {"batch": batch.pk})
    return redirect(_letters_url(station) + "#batches-heading")


def _batch_for_request(request, batch_id: int) -> LetterBatch:
    return get_object_or_404(LetterBatch.objects.select_related("created_by"), id=batch_id, station_id__in=request.user.station_ids())


@login_required
@require_GET
@requires(may_handle_letters)
def letter_batch_progress(request, batch_id: int):
    batch = _batch_for_request(request, batch_id)
    batch.progress = letter_batches.letter_batch_progress(batch)
    manual_waiting = making.letters_manual_waiting_count(station=batch.station) if batch.state == BatchState.EMPTY else 0
    response = render(request, "followup/letters_page.html#batch", {"batch": batch, "station": batch.station, "manual_waiting": manual_waiting})
    if request.htmx and not batch.progress.running:
        # Done: the start button comes back (out of band), unless another batch of the station still runs.
        running = LetterBatch.objects.filter(station_id=batch.station_id, state__in=RUNNING_STATES).exists()
        form = render(request, "followup/letters_page.html#start_form", {
            "station": batch.station, "oob": True, "batch_running": running, "finished_batch": batch,
            "manual_waiting": making.letters_manual_waiting_count(station=batch.station),
        })
        response.content += form.content
    return response


@login_required
@require_GET
@requires(may_handle_letters)
def letter_batch_pdf(request, batch_id: int):
    batch = _batch_for_request(request, batch_id)
    if batch.state not in (BatchState.READY, BatchState.SENT) or not batch.pdf:
        raise Http404(gettext("Utskriftsfilen er ikke klar."))
    try:
        pdf = printing.letter_batch_print_file(batch=batch, user=request.user)
    except making.LetterAddressProtected as exc:
        raise PermissionDenied(exc.messages[0]) from None
    except making.LetterError as exc:
        # Rebuilt without a letter whose recipient became protected: never served as it was.
        messages.error(request, exc.messages[0])
        return redirect(_letters_url(batch.station))
    children = {letter.child for letter in batch.letters.filter(state__in=[LetterState.PRODUCED, LetterState.SENT]).select_related("child")}
    access_log_record_many(
        user=request.user, children=children, action=AccessAction.VIEW_LETTER, what=gettext("Utskriftsfil for brevbunke %(batch)s") % {"batch": batch.pk},
        path=request.get_full_path(),
    )
    return _pdf_response(pdf, f"brevbunke-{batch.pk}.pdf")


@login_required
@require_POST
@requires(may_handle_letters)
def letter_batch_sent(request, batch_id: int):
    batch = _batch_for_request(request, batch_id)
    try:
        count = letter_batches.letter_batch_mark_sent(batch=batch, user=request.user)
    except making.LetterError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, gettext("%(count)s brev er merket som sendt.") % {"count": count})
    return redirect(_letters_url(batch.station))


def _letter_for_request(request, letter_id: int, *, what: str, action: str = AccessAction.VIEW_RECORD) -> Letter:
    letter = get_object_or_404(Letter.objects.select_related("recipient", "station"), id=letter_id)
    # 404 for another station's letter (the access helper also writes the access log).
    child_for_request(request, letter.child_id, what=what, action=action)
    return letter


@login_required
@require_GET
@requires(may_see_letters)
def letter_pdf(request, letter_id: int):
    letter = _letter_for_request(request, letter_id, what=gettext("Brev (PDF)"), action=AccessAction.VIEW_LETTER)
    if not letter.pdf:
        raise Http404(gettext("Brevet er ikke laget ennå."))
    try:
        pdf = printing.letter_file_for_user(letter=letter, user=request.user)
    except making.LetterAddressProtected as exc:
        raise PermissionDenied(exc.messages[0]) from None
    except making.LetterError as exc:
        messages.error(request, exc.messages[0])
        return redirect("followup:child_letters", child_id=letter.child_id)
    return _pdf_response(pdf, letter.download_name())


def _letter_action(request, letter_id: int, call, done: str, what: str):
    letter = _letter_for_request(request, letter_id, what=what)
    try:
        call(letter)
    except making.LetterError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, done)
    return redirect(_letters_url(letter.station))


@login_required
@require_POST
@requires(may_handle_letters)
def letter_sent(request, letter_id: int):
    return _letter_action(
        request, letter_id, lambda letter: letter_batches.letter_mark_sent(letter=letter, user=request.user), gettext("Brevet er merket som sendt."),
        gettext("Brev merket som sendt"),
    )


@login_required
@require_POST
@requires(may_handle_letters)
def letter_returned(request, letter_id: int):
    return _letter_action(
        request, letter_id, lambda letter: letter_batches.letter_register_returned(letter=letter, user=request.user),
        gettext("Returen er registrert. Saken går til adressekontroll."), gettext("Brev registrert som returnert"),
    )


@login_required
@require_POST
@requires(may_handle_letters)
def letter_retry(request, letter_id: int):
    return _letter_action(
        request, letter_id, lambda letter: letter_batches.letter_retry(letter=letter), gettext("Brevet lages på nytt i neste bunke."), gettext("Brev prøvd på nytt"),
    )


@login_required
@require_POST
@requires(may_see_letters)
def letter_gp_confirmation(request, case_id: int):
    """The family prefers follow-up by the GP: make the letter asking for the GP's confirmation."""
    from followup.models import Case

    case = get_object_or_404(Case, id=case_id)
    child_for_request(request, case.child_id, what=gettext("Brev: bekreftelse fra fastlege"))
    try:
        created = making.letter_gp_confirmation_create(case=case)
    except making.LetterError as exc:
        messages.error(request, exc.messages[0])
    else:
        if created:
            messages.success(request, gettext("Brevet om bekreftelse fra fastlegen kommer med i neste brevbunke."))
        else:
            messages.info(request, gettext("Brevet om bekreftelse fra fastlegen er allerede laget."))
    return redirect("followup:case", case_id=case.id)


@login_required
@require_GET
@requires(may_see_letters)
def child_letters(request, child_id: int):
    """The child's archive of letters: what was sent, to whom, when and by whom."""
    child = child_for_request(request, child_id, what=gettext("Brevarkiv"))
    letters = _with_addresses(
        list(
            Letter.objects.filter(child=child)
            .select_related("recipient", "produced_by", "sent_by", "returned_by")
            .order_by("-created_at", "-id")
        ),
        request.user,
    )
    return render(request, "followup/letters_child.html", {"child": child, "letters": letters})
