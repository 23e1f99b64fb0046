"""Letters follow the protection *now* of everyone their address belongs to (issue 13, findings 1
and 8): asked again when a batch claims them and when a file is served, and changed with every
protection change; manual handling never waits for a printable letter; PDFs fetch nothing but our
static files and data: URLs; the chronology's file name names nobody."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from followup.letters import rendering
from followup.letters.batch import letter_batch_mark_sent, letter_batch_start, letter_retry
from followup.letters.making import LetterError, letters_create_due
from followup.letters.models import BatchState, Letter, LetterBatch, LetterBatchPart, LetterKind, LetterState
from followup.models import StepKind
from helsestasjon.models import AddressProtection, Guardian
from helsestasjon.protection import child_set_protection, guardian_set_protection
from tests.followup.letters_support import _media, case_at_step, parent, pdf_text  # noqa: F401
from tests.factories import ChildFactory

pytestmark = pytest.mark.django_db

SECRET = "Gamleveien 3"
OPEN = "Åpenveien 1"
STRICT = AddressProtection.STRICTLY_CONFIDENTIAL
CONFIDENTIAL = AddressProtection.CONFIDENTIAL


def _family(station, **guardian):
    child = ChildFactory(station=station, given_name="Ola", family_name="Nordmann")
    guardian = parent(child, given_name="Kari", family_name="Nordmann", street_address=SECRET, **guardian)
    return child, guardian


def _printable_letter(station):
    """Another family's letter, so the day has a print file."""
    child = ChildFactory(station=station, given_name="Per", family_name="Vanlig")
    parent(child, given_name="Vanlig", family_name="Forelder", street_address=OPEN)
    case_at_step(child)


def _read(file_field) -> str:
    with file_field.open("rb") as handle:
        return pdf_text(handle.read())


def _protect_behind_our_back(guardian, level):
    """A protection written without telling the copies (an old sync, a hand-edited row): the letters
    must still find it when they are used."""
    Guardian.objects.filter(pk=guardian.pk).update(address_protection=level, street_address="", postal_code="", city="")


def _ready_batch(station, user, capture):
    with capture(execute=True):
        batch = letter_batch_start(station=station, user=user)
    batch.refresh_from_db()
    assert batch.state == BatchState.READY
    return batch


def _sent_batch(child, station, user, capture):
    """The child's letter made in a ready batch that the clerk marked as sent."""
    case_at_step(child)
    batch = _ready_batch(station, user, capture)
    letter_batch_mark_sent(batch=batch, user=user)
    return batch


# --------------------------------------------------------------------------- finding 1


@pytest.mark.parametrize("announced", [True, False], ids=["told-by-the-change", "found-when-the-batch-claims"])
def test_a_gp_letter_whose_guardian_became_strictly_confidential_is_not_in_the_print_file(
    login, nurse_a, clerk_a, station_a, django_capture_on_commit_callbacks, announced
):
    child, guardian = _family(station_a)
    case, _ = case_at_step(child, kind=StepKind.PHONE_CALL)
    _printable_letter(station_a)
    with django_capture_on_commit_callbacks(execute=True):
        login(nurse_a).post(reverse("followup:letter_gp_confirmation", args=[case.id]))
    letter = Letter.objects.get(kind=LetterKind.GP_CONFIRMATION)
    assert SECRET in letter.address_lines  # copied while the address was open

    with django_capture_on_commit_callbacks(execute=True):
        if announced:
            guardian_set_protection(guardian=guardian, level=STRICT)
        else:
            _protect_behind_our_back(guardian, STRICT)
        page = login(clerk_a).post(reverse("followup:letter_batch_start"), {"stasjon": station_a.id}, follow=True)

    batch = LetterBatch.objects.get()
    merged = _read(batch.pdf)
    assert OPEN in merged and SECRET not in merged and "Kari" not in merged
    letter.refresh_from_db()
    assert letter.manual_handling and letter.address_lines == [] and letter.batch is None
    assert letter.state == LetterState.PRODUCED and SECRET not in _read(letter.pdf)
    assert SECRET not in page.content.decode()


def test_protection_arriving_while_the_batch_renders_keeps_the_address_out(
    station_a, clerk_a, django_capture_on_commit_callbacks, monkeypatch
):
    child, guardian = _family(station_a)
    case_at_step(child)
    _printable_letter(station_a)
    real_render = rendering.render_chunk
    changed = []

    def render_while_the_register_changes(letters):
        # The sync commits strict confidentiality while the worker is laying out its claimed chunk.
        if not changed:
            changed.append(guardian_set_protection(guardian=Guardian.objects.get(pk=guardian.pk), level=STRICT))
        return real_render(letters)

    monkeypatch.setattr(rendering, "render_chunk", render_while_the_register_changes)
    batch = _ready_batch(station_a, clerk_a, django_capture_on_commit_callbacks)

    letter = Letter.objects.get(recipient=guardian)
    assert changed and letter.manual_handling and letter.address_lines == [] and letter.batch is None
    assert letter.state == LetterState.PRODUCED and SECRET not in _read(letter.pdf)
    assert not any(letter.pk in part.letter_ids for part in LetterBatchPart.objects.all())
    merged = _read(batch.pdf)
    assert OPEN in merged and SECRET not in merged


def test_a_ready_print_file_is_rebuilt_without_a_letter_whose_recipient_became_protected(
    login, clerk_a, leader_a, station_a, django_capture_on_commit_callbacks
):
    child, guardian = _family(station_a)
    case_at_step(child)
    _printable_letter(station_a)
    batch = _ready_batch(station_a, clerk_a, django_capture_on_commit_callbacks)
    assert SECRET in _read(batch.pdf)

    with django_capture_on_commit_callbacks(execute=True):
        guardian_set_protection(guardian=guardian, level=CONFIDENTIAL)

    batch.refresh_from_db()
    assert batch.state == BatchState.READY and SECRET not in _read(batch.pdf)
    response = login(leader_a).get(reverse("followup:letter_batch_pdf", args=[batch.pk]))
    served = pdf_text(b"".join(response.streaming_content))
    assert OPEN in served and SECRET not in served
    letter = Letter.objects.get(recipient=guardian)
    assert letter.manual_handling and letter.batch is None and SECRET not in _read(letter.pdf)


def test_a_ready_print_file_is_never_served_while_it_holds_an_address_protected_now(
    login, clerk_a, station_a, django_capture_on_commit_callbacks
):
    child, guardian = _family(station_a)
    case_at_step(child)
    _printable_letter(station_a)
    batch = _ready_batch(station_a, clerk_a, django_capture_on_commit_callbacks)
    _protect_behind_our_back(guardian, STRICT)
    client = login(clerk_a)
    url = reverse("followup:letter_batch_pdf", args=[batch.pk])

    with django_capture_on_commit_callbacks(execute=True):
        refused = client.get(url, follow=True)
    assert refused["Content-Type"].startswith("text/html")
    assert "utskriftsfilen lages på nytt" in refused.content.decode()

    again = client.get(url)
    assert again.status_code == 200
    served = pdf_text(b"".join(again.streaming_content))
    assert OPEN in served and SECRET not in served
    assert Letter.objects.get(recipient=guardian).manual_handling


def test_an_unsent_letter_is_not_served_with_an_address_protected_now(login, clerk_a, leader_a, station_a, django_capture_on_commit_callbacks):
    child, guardian = _family(station_a)
    case_at_step(child)
    _ready_batch(station_a, clerk_a, django_capture_on_commit_callbacks)
    letter = Letter.objects.get(recipient=guardian)
    _protect_behind_our_back(guardian, CONFIDENTIAL)
    with django_capture_on_commit_callbacks(execute=True):
        refused = login(leader_a).get(reverse("followup:letter_pdf", args=[letter.pk]), follow=True)
    assert "flyttet til manuell behandling" in refused.content.decode()
    letter.refresh_from_db()
    assert letter.manual_handling and letter.address_lines == [] and letter.batch is None
    remade = login(leader_a).get(reverse("followup:letter_pdf", args=[letter.pk]))
    assert remade.status_code == 200 and SECRET not in pdf_text(b"".join(remade.streaming_content))


def test_a_childs_protection_withdraws_every_guardians_waiting_letter(station_a):
    child = ChildFactory(station=station_a)
    mother = parent(child, street_address=SECRET)
    father = parent(child, relation="father", street_address=OPEN)
    case_at_step(child)
    letters_create_due(station=station_a)
    assert Letter.objects.filter(manual_handling=False).count() == 2

    child_set_protection(child=child, level=CONFIDENTIAL)

    for guardian in (mother, father):
        letter = Letter.objects.get(recipient=guardian)
        assert letter.manual_handling and letter.address_lines == []


def test_a_failed_letter_loses_its_address_when_the_guardian_is_protected(station_a, clerk_a, django_capture_on_commit_callbacks):
    child, guardian = _family(station_a)
    case_at_step(child)
    letters_create_due(station=station_a)
    Letter.objects.update(state=LetterState.FAILED, attempts=3, error="RuntimeError")

    guardian_set_protection(guardian=guardian, level=CONFIDENTIAL)

    letter = Letter.objects.get()
    assert letter.manual_handling and letter.address_lines == [] and letter.state == LetterState.FAILED
    with django_capture_on_commit_callbacks(execute=True):
        letter_retry(letter=letter)
    letter.refresh_from_db()
    assert letter.state == LetterState.PRODUCED and letter.batch is None and SECRET not in _read(letter.pdf)


def test_protection_going_down_addresses_a_waiting_manual_letter_again(station_a, clerk_a, django_capture_on_commit_callbacks):
    child, guardian = _family(station_a, address_protection=CONFIDENTIAL)
    case_at_step(child)
    letters_create_due(station=station_a)  # not rendered yet: its message is still queued
    assert Letter.objects.get().manual_handling

    guardian_set_protection(guardian=guardian, level=AddressProtection.UNCLASSIFIED)

    letter = Letter.objects.get()
    assert not letter.manual_handling and letter.address_lines == [SECRET, "5003 Bergen"]
    batch = _ready_batch(station_a, clerk_a, django_capture_on_commit_callbacks)
    assert SECRET in _read(batch.pdf)


# --------------------------------------------------------------------------- archived copies


def test_a_sent_letter_to_a_now_strictly_confidential_address_is_opened_by_nobody(
    login, clerk_a, leader_a, station_a, django_capture_on_commit_callbacks
):
    child, guardian = _family(station_a)
    batch = _sent_batch(child, station_a, clerk_a, django_capture_on_commit_callbacks)
    letter = Letter.objects.get()

    guardian_set_protection(guardian=guardian, level=STRICT)

    letter.refresh_from_db()
    assert letter.state == LetterState.SENT and letter.address_lines == [] and letter.pdf  # the record stays
    for user in (clerk_a, leader_a):  # the leader may see confidential addresses, never strictly confidential
        client = login(user)
        assert client.get(reverse("followup:letter_pdf", args=[letter.pk])).status_code == 403
        assert client.get(reverse("followup:letter_batch_pdf", args=[batch.pk])).status_code == 403
        assert SECRET not in client.get(reverse("followup:child_letters", args=[child.pk])).content.decode()


def test_a_sent_print_file_now_holding_a_confidential_address_opens_only_with_the_permission(
    login, clerk_a, leader_a, station_a, django_capture_on_commit_callbacks
):
    child, guardian = _family(station_a)
    batch = _sent_batch(child, station_a, clerk_a, django_capture_on_commit_callbacks)
    guardian_set_protection(guardian=guardian, level=CONFIDENTIAL)
    url = reverse("followup:letter_batch_pdf", args=[batch.pk])
    assert login(clerk_a).get(url).status_code == 403
    assert login(leader_a).get(url).status_code == 200


def test_a_protected_childs_archived_letter_is_closed_to_the_clerk(login, clerk_a, leader_a, station_a, django_capture_on_commit_callbacks):
    child, _ = _family(station_a)
    _sent_batch(child, station_a, clerk_a, django_capture_on_commit_callbacks)
    child_set_protection(child=child, level=CONFIDENTIAL)
    letter = Letter.objects.get()
    assert login(clerk_a).get(reverse("followup:letter_pdf", args=[letter.pk])).status_code == 403
    assert login(leader_a).get(reverse("followup:letter_pdf", args=[letter.pk])).status_code == 200


# --------------------------------------------------------------------------- finding 8


def test_manual_letters_are_made_and_listed_when_nothing_is_printable(login, clerk_a, station_a, django_capture_on_commit_callbacks):
    child, _ = _family(station_a, address_protection=STRICT)
    case_at_step(child)
    client = login(clerk_a)
    with django_capture_on_commit_callbacks(execute=True):
        # The start answers at once; the letters are made after it (letter_batch_prepare).
        client.post(reverse("followup:letter_batch_start"), {"stasjon": station_a.id})
    html = client.get(reverse("followup:letters"), {"stasjon": station_a.id}).content.decode()
    assert "Ingen brev til utskrift" in html and "1 brev venter på manuell behandling." in html
    letter = Letter.objects.get()
    assert letter.manual_handling and letter.state == LetterState.PRODUCED
    assert LetterBatch.objects.get().state == "empty" and letter.batch_id is None
    assert "Kari Nordmann" in html.split('id="manual-heading"')[1]
    assert "Brev som venter på manuell behandling: <strong>1</strong>" in html


def test_the_service_keeps_manual_letters_when_it_refuses_an_empty_batch(clerk_a, station_a):
    child, _ = _family(station_a, address_protection=CONFIDENTIAL)
    case_at_step(child)
    with pytest.raises(LetterError):
        letter_batch_start(station=station_a, user=clerk_a)
    assert Letter.objects.filter(manual_handling=True).count() == 1


def test_the_clerk_is_told_how_many_letters_wait_for_manual_handling(login, clerk_a, station_a, django_capture_on_commit_callbacks):
    child, _ = _family(station_a, address_protection=STRICT)
    case_at_step(child)
    _printable_letter(station_a)
    with django_capture_on_commit_callbacks(execute=True):
        page = login(clerk_a).post(reverse("followup:letter_batch_start"), {"stasjon": station_a.id}, follow=True)
    assert f"Brevbunke {LetterBatch.objects.get().pk} er startet." in page.content.decode()
    # Told when the batch is ready (the progress row brings the start button back with the count).
    batch = LetterBatch.objects.get()
    done = login(clerk_a).get(reverse("followup:letter_batch_progress", args=[batch.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert "1 brev venter på manuell behandling." in done


# --------------------------------------------------------------------------- PDFs fetch nothing of ours


@pytest.fixture
def loopback():
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            body = b"body::after { content: 'LEAKED-HTTP' }"
            self.send_response(200)
            self.send_header("Content-Type", "text/css")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", hits
    server.shutdown()
    server.server_close()


def test_pdf_markup_cannot_read_server_files_or_call_loopback(settings, tmp_path, loopback):
    base, hits = loopback
    secret = tmp_path / "secret.css"
    secret.write_text("body::after { content: 'LEAKED-FILE' }")
    static = tmp_path / "static"
    static.mkdir()
    (static / "ok.css").write_text("p::after { content: 'STATIC-OK' }")
    settings.STATICFILES_DIRS = [static]
    html = (
        f'<html><head><link rel="stylesheet" href="{secret.as_uri()}">'
        f'<link rel="stylesheet" href="{base}/brev.css">'
        f'<link rel="stylesheet" href="{(static / "ok.css").as_uri()}">'
        '<link rel="stylesheet" href="data:text/css,h1::after%7Bcontent:%27DATA-OK%27%7D">'
        f'</head><body><h1>Brev</h1><p>Tekst</p><img src="{base}/bilde.png"><img src="file:///etc/passwd"></body></html>'
    )
    for pdf in (rendering.html_to_pdf(html), rendering.html_document(html).write_pdf()):  # letters, chronology
        text = pdf_text(pdf)
        assert "DATA-OK" in text and "STATIC-OK" in text
        assert "LEAKED" not in text
    assert hits == []


def test_the_chronology_file_name_names_nobody(login, leader_a, station_a):
    child = ChildFactory(station=station_a, given_name="Ola", family_name="Nordmann")
    case, _ = case_at_step(child, kind=StepKind.PHONE_CALL)
    response = login(leader_a).get(reverse("followup:chronology_pdf", args=[case.id]))
    assert response.status_code == 200
    disposition = response["Content-Disposition"]
    assert "nordmann" not in disposition.lower()
    assert f"kronologi-sak-{case.pk}-barn-{child.pk}-" in disposition
