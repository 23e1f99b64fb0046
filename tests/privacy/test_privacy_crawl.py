"""Privacy crawl: every role at every station visits every URL the application has.

The data carry unique marker strings. Whatever a user can reach — pages, htmx
partials, PDFs, CSV/JSON exports, the admin — must never show:
- the strictly confidential address (to anyone),
- the confidential address (to anyone without the protected-address permission),
- another station's child,
- clinical details (no-show reasons, call notes, decisions, skip reasons) to a clerk.
Every response about one child must have written its access-log row.
"""

from __future__ import annotations

import io
import re
from collections import deque
from datetime import timedelta
from html import unescape
from urllib.parse import urljoin, urlsplit

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from pypdf import PdfReader

from attendance.models import Consultation, Outcome, Reason
from attendance.booking import appointment_book
from attendance.outcomes import appointment_record_outcome
from followup.letters.models import Letter, LetterBatch
from followup.letters.batch import letter_batch_start
from followup.letters.making import letters_create_due
from followup.models import Case, CaseStep, StepKind
from followup.calls import case_call_log
from followup.decisions import case_leader_decide
from followup.steps import case_step_skip
from followup.sweep import followup_sweep
from helsestasjon.models import AccessLog, AddressProtection, Child, Guardian, Relation, Role
from registry_sync.models import Finding
from tests.factories import ChildFactory, GuardianFactory, GuardianshipFactory, UserFactory

pytestmark = pytest.mark.django_db

STRICT = "Strengtbeskyttetveien 41"
CONFIDENTIAL = "Fortroligveien 17"
OTHER_STATION = "Annenstasjonsbarn"
CALL_NOTE = "Samtalenotatmarkør"
DECISION = "Beslutningsmarkør"
SKIP = "Hoppeovermarkør"
REASON_LABEL = str(Reason.ILLNESS.label)

# Parameters a URL pattern can take, and where the crawl finds a value for them.
PARAMETERS = {"child_id", "appointment_id", "consultation_id", "case_id", "step_id", "letter_id", "batch_id", "finding_id",
              "alert_id"}
MAX_PAGES_PER_USER = 1500


@pytest.fixture
def world(station_a, station_b, nurse_a, clerk_a, leader_a, nurse_b, django_capture_on_commit_callbacks):
    admin = UserFactory(username="admin_x", role=Role.ADMIN, is_staff=True, is_superuser=True)
    now = timezone.now()
    today = timezone.localdate()

    def child_with_family(station, given, family, born, *, protected=True):
        child = ChildFactory(station=station, given_name=given, family_name=family, birth_date=born)
        GuardianshipFactory(child=child, guardian=GuardianFactory(family_name=family), relation=Relation.FATHER)
        if protected:
            GuardianshipFactory(
                child=child,
                guardian=GuardianFactory(family_name=family, street_address=CONFIDENTIAL,
                                         address_protection=AddressProtection.CONFIDENTIAL),
                relation=Relation.MOTHER,
            )
            GuardianshipFactory(
                child=child,
                guardian=GuardianFactory(family_name="Skjermet", street_address=STRICT,
                                         address_protection=AddressProtection.STRICTLY_CONFIDENTIAL),
                relation=Relation.CO_MOTHER,
            )
        from attendance.plan import child_plan

        child_plan(child=child)
        return child

    born = today - timedelta(days=400)
    child_a = child_with_family(station_a, "Ola", "Nordmann", born)
    letter_child = child_with_family(station_a, "Kari", "Nordmann", born)
    child_b = child_with_family(station_b, OTHER_STATION, "Berg", born, protected=False)

    def missed(child, nurse, *, hour=0):
        consultation = Consultation.objects.filter(child=child, state="due").order_by("step__order").first()
        booked = appointment_book(
            consultation=consultation, starts_at=now - timedelta(hours=2), duration_minutes=30, place="station",
            room="Rom 1", professional=nurse, booked_by=nurse,
        )
        appointment_record_outcome(appointment=booked, outcome=Outcome.NOT_BROUGHT, reason=Reason.ILLNESS, recorded_by=nurse)
        appointment_book(
            consultation=consultation, starts_at=now + timedelta(days=1, hours=hour), duration_minutes=30, place="station",
            room="Rom 2", professional=nurse, booked_by=nurse,
        )

    missed(child_a, nurse_a)
    missed(letter_child, nurse_a, hour=1)  # One nurse is never booked twice at once.
    missed(child_b, nurse_b)
    followup_sweep()

    def climb(case, *, stop_at):
        """Walk a case up the ladder, leaving evidence of every clinical kind on the way."""
        for _ in range(10):
            case.refresh_from_db()
            step = case.current_step
            if step is None or step.kind == stop_at:
                return
            if step.kind == StepKind.PHONE_CALL and not step.calls.exists():
                # One unanswered call keeps the step open (3 over 2 working days move it on); then it is skipped.
                case_call_log(step=step, user=nurse_a, result="no_answer", note=CALL_NOTE)
            else:
                case_step_skip(step=step, user=leader_a, reason=f"{SKIP} {step.kind}")

    case_a = Case.objects.get(child=child_a)
    climb(case_a, stop_at=StepKind.LEADER_DECISION)
    case_leader_decide(case=case_a, user=leader_a, decision="continue", note=DECISION, continue_step=StepKind.SMS_REBOOK)
    climb(Case.objects.get(child=letter_child), stop_at=StepKind.LETTER_NEW_INVITATION)
    climb(Case.objects.get(child=child_b), stop_at=StepKind.LETTER_NEW_INVITATION)

    letters_create_due(station=station_b)
    with django_capture_on_commit_callbacks(execute=True):
        letter_batch_start(station=station_a, user=clerk_a)

    Finding.objects.create(
        kind="moved_within", national_id=child_a.national_id, child=child_a, station=station_a, subject=child_a.national_id,
        fingerprint="crawl", name=child_a.full_name,
        snapshot={"residentialAddress": [{"isValid": True, "streetAddress": {"addressName": STRICT}}]},
    )
    # A nurses' alert: parental responsibility moved to child welfare (the register snapshot holds the strict marker).
    Finding.objects.create(
        kind="guardians_changed", national_id=child_a.national_id, child=child_a, station=station_a,
        subject=child_a.national_id, fingerprint="crawl-alert", name=child_a.full_name,
        details={"added": [], "removed": [], "organisations": ["Barneverntjenesten"], "placement": True,
                 "register": {"street_address": STRICT}},
        snapshot={"residentialAddress": [{"isValid": True, "streetAddress": {"addressName": STRICT}}]},
    )
    return {
        "users": {"nurse_a": nurse_a, "clerk_a": clerk_a, "leader_a": leader_a, "nurse_b": nurse_b, "admin": admin},
        "child_a": child_a, "child_b": child_b, "letter_child": letter_child,
    }


def _patterns(resolvers, prefix="", namespace=None):
    for entry in resolvers:
        if isinstance(entry, URLResolver):
            ns = entry.namespace
            full = f"{namespace}:{ns}" if namespace and ns else (ns or namespace)
            yield from _patterns(entry.url_patterns, prefix + str(entry.pattern), full)
        elif isinstance(entry, URLPattern):
            yield entry, (f"{namespace}:{entry.name}" if namespace else entry.name)


def _object_ids(world) -> dict[str, list[int]]:
    """Ids of every kind, for both stations, so each parameterised URL is tried with each."""
    children = [world["child_a"].id, world["letter_child"].id, world["child_b"].id]
    return {
        "child_id": children,
        "appointment_id": list(Child.objects.filter(id__in=children).values_list("appointments__id", flat=True)),
        "consultation_id": list(Consultation.objects.filter(child_id__in=children, state="due").values_list("id", flat=True)[:6]),
        "case_id": list(Case.objects.values_list("id", flat=True)),
        "step_id": list(CaseStep.objects.values_list("id", flat=True)[:12]),
        "letter_id": list(Letter.objects.values_list("id", flat=True)[:8]),
        "batch_id": list(LetterBatch.objects.values_list("id", flat=True)),
        "finding_id": list(Finding.objects.values_list("id", flat=True)),
        "alert_id": list(Finding.objects.alerts().values_list("id", flat=True)),
    }


def _seed_urls(world) -> list[str]:
    ids = _object_ids(world)
    urls = []
    for pattern, name in _patterns(get_resolver().url_patterns):
        if name is None or name.startswith("admin:") or name in ("logout",):
            continue
        params = set(pattern.pattern.converters)
        unknown = params - PARAMETERS
        assert not unknown, f"The crawl does not know how to fill {unknown} in {name}; add it to PARAMETERS"
        if not params:
            urls.append(reverse(name))
            continue
        (param,) = params  # Every pattern here takes one id.
        for value in ids[param]:
            if value is not None:
                urls.append(reverse(name, kwargs={param: value}))
    urls += ["/admin/", "/admin/helsestasjon/guardian/", "/admin/helsestasjon/child/"]
    urls += [f"/admin/helsestasjon/child/{pk}/change/" for pk in ids["child_id"]]
    urls += [f"/admin/helsestasjon/guardian/{pk}/change/" for pk in Guardian.objects.values_list("id", flat=True)]
    return urls


LINK = re.compile(r'(?:href|hx-get|src)="([^"#]+)"')


def _text(response) -> str:
    content_type = response.get("Content-Type", "")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    if "pdf" in content_type:
        return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(body)).pages)
    return unescape(body.decode("utf-8", errors="replace"))


def _without_choice_lists(text: str) -> str:
    # Reason labels legitimately appear as options in the nurse's forms.
    return re.sub(r"<select.*?</select>", "", text, flags=re.S)


def _shape(url: str) -> str:
    """A URL with its ids and query values blanked: the crawl visits each shape a few times."""
    parts = urlsplit(url)
    keys = sorted(q.split("=", 1)[0] for q in parts.query.split("&") if q)
    return re.sub(r"\d+", "N", parts.path) + "?" + "&".join(keys)


ADMIN_SKIP = re.compile(r"^/admin/.*(\?|/add/|/history/|/delete/|/password/|/logout/|/jsi18n/)")


def crawl(client: Client, seeds: list[str], per_shape: int = 2) -> dict[str, tuple[int, str]]:
    seen: dict[str, tuple[int, str]] = {}
    shapes: dict[str, int] = {}
    queue = deque(seeds)
    while queue:
        url = queue.popleft()
        if url in seen or "logg-ut" in url or url.startswith("/static/") or ADMIN_SKIP.match(url):
            # Admin sorting/filtering variants, add forms and histories show nothing new.
            continue
        shape = _shape(url)
        if shapes.get(shape, 0) >= per_shape and url not in seeds:
            continue
        shapes[shape] = shapes.get(shape, 0) + 1
        assert len(seen) < MAX_PAGES_PER_USER, f"the crawl found more than {MAX_PAGES_PER_USER} pages"
        response = client.get(url)
        text = _text(response) if response.status_code == 200 else ""
        seen[url] = (response.status_code, text)
        if response.status_code == 200 and "html" in response.get("Content-Type", ""):
            for link in LINK.findall(text):
                target = urljoin(url, link)
                parts = urlsplit(target)
                if parts.netloc or not parts.path.startswith("/"):
                    continue
                queue.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return seen


def test_no_one_sees_what_they_should_not(world, fake_helseid):
    # One test for every role: building the world once keeps the crawl fast. Each role logs in
    # through the fake HelseID over HTTP, as production does, and the crawl uses that session.
    from tests.helseid_support import clients_through_helseid

    seeds = _seed_urls(world)
    who_all = ("nurse_a", "clerk_a", "leader_a", "nurse_b", "admin")
    clients = clients_through_helseid(fake_helseid, {who: world["users"][who] for who in who_all})
    for who in who_all:
        _crawl_as(world, who, seeds, clients[who])


def _crawl_as(world, who, seeds, client):
    user = world["users"][who]
    pages = crawl(client, seeds)
    assert len(pages) > 20, "the crawl reached too little to mean anything"
    server_errors = [url for url, (status, _) in pages.items() if status >= 500]
    assert not server_errors, server_errors

    for url, (status, text) in pages.items():
        assert STRICT not in text, f"{who} saw the strictly confidential address at {url}"
        if not user.may_see_protected_addresses:
            assert CONFIDENTIAL not in text, f"{who} saw the confidential address at {url}"
        if who in ("nurse_a", "clerk_a", "leader_a"):
            assert OTHER_STATION not in text, f"{who} saw station B's child at {url}"
        if who == "nurse_b":
            assert "Nordmann" not in text, f"{who} saw station A's child at {url}"
        if who == "clerk_a":
            for marker in (CALL_NOTE, DECISION, SKIP):
                assert marker not in text, f"the clerk saw clinical text {marker!r} at {url}"
            assert REASON_LABEL not in _without_choice_lists(text), f"the clerk saw a no-show reason at {url}"

    if who in ("nurse_a", "leader_a"):
        # The nurse and the leader of station A do reach the clinical details.
        everything = "\n".join(text for _, text in pages.values())
        assert CALL_NOTE in everything and DECISION in everything


def test_every_child_record_response_writes_its_access_log_row(world):
    for who in ("nurse_a", "clerk_a", "leader_a"):
        _check_access_log(world, who)
    admin = world["users"]["admin"]
    client = Client()
    client.force_login(admin)
    child = world["child_a"]
    assert client.get(f"/admin/helsestasjon/child/{child.id}/change/").status_code == 200
    assert AccessLog.objects.filter(child=child, user=admin, what="Administrasjon").count() == 1


def _check_access_log(world, who):
    user = world["users"][who]
    client = Client()
    client.force_login(user)
    child = world["child_a"]
    record_urls = [(reverse("attendance:child", args=[child.id]), child)]
    if who == "leader_a":
        record_urls.append((reverse("child_access_log", args=[child.id]), child))
        record_urls.append((reverse("followup:chronology_pdf", args=[Case.objects.get(child=child).id]), child))
    if who in ("clerk_a", "leader_a"):
        letter = Letter.objects.filter(child=world["letter_child"], page_count__gt=0).first()
        assert letter is not None, "the batch produced no letter for the child"
        record_urls.append((reverse("followup:letter_pdf", args=[letter.id]), world["letter_child"]))
    for url, child in record_urls:
        before = AccessLog.objects.filter(child=child, user=user).count()
        response = client.get(url)
        assert response.status_code == 200, url
        assert AccessLog.objects.filter(child=child, user=user).count() == before + 1, url
