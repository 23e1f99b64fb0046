"""Protection over time: no copy of an address outlives the right to see it.

The privacy crawl (test_privacy_crawl) checks one moment. Here the same pages and files are
read *after* protection changes — up and down, from the register (a sync) and by hand — with
letters pending, failed, in a rendering batch and in a ready batch, findings open, alerts unseen
and a journal created from a finding. Every person has an address of its own (a marker), and at
each look the rule is asked of the person's protection *now*:
- the address of a person who is strictly confidential now appears nowhere, for nobody;
- the address of a person who is confidential now appears only to users with the permission.

A property-based test draws random sequences of those actions and looks after each of them.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, timedelta

import pytest
from django.db import transaction
from django.test import Client, TestCase, override_settings
from django.urls import get_resolver, reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from attendance.models import Consultation, Outcome, Reason
from attendance.booking import appointment_book
from attendance.outcomes import appointment_record_outcome
from attendance.plan import child_plan
from followup.letters.models import Letter, LetterBatch, LetterState
from followup.letters.batch import letter_batch_start
from followup.letters.making import letters_create_due
from followup.letters.printing import letters_render
from followup.models import Case, CaseStep, StepKind
from followup.calls import case_call_log
from followup.steps import case_step_skip
from followup.sweep import followup_sweep
from helsestasjon.models import AddressProtection, Child, Guardian, Relation, Role
from helsestasjon.protection import child_set_protection, guardian_set_protection
from registry_sync.fake import FakeRegister, FakeRegisterServer
from registry_sync.models import Finding, FindingKind
from registry_sync.runs import register_sync
from tests.factories import ChildFactory, GuardianFactory, GuardianshipFactory, UserFactory, next_national_id
from tests.privacy.test_privacy_crawl import PARAMETERS, _patterns, _text, crawl
from tests.registry_sync.conftest import register  # noqa: F401  (the fake register fixture)

pytestmark = pytest.mark.django_db

UNCLASSIFIED = AddressProtection.UNCLASSIFIED
CONFIDENTIAL = AddressProtection.CONFIDENTIAL
STRICT = AddressProtection.STRICTLY_CONFIDENTIAL
LEVELS = (UNCLASSIFIED, CONFIDENTIAL, STRICT)

# Each person's street: a name no page has for another reason.
STREETS = {
    "mother": ("Morsmarkørveien", 11),
    "father": ("Farsmarkørveien", 22),
    "child": ("Barnemarkørveien", 33),
    "newborn_mother": ("Nyfødtmarkørveien", 44),
    "newborn": ("Nyfødtbarnmarkørveien", 55),
}


def _marker(who: str) -> str:
    street, number = STREETS[who]
    return f"{street} {number}"


class Timeline:
    """The world, and what the test knows each person's protection to be now."""

    def __init__(self, register, station_a, station_b, users):
        self.register = register
        self.station_a, self.station_b = station_a, station_b
        self.users = users
        self.level = {who: UNCLASSIFIED for who in STREETS}
        self.person_ids: dict[str, str] = {}
        self.rows: dict[str, object] = {}
        self.journal_created = False

    # ------------------------------------------------------------------ building
    def build(self):
        now = timezone.now()
        nurse, leader = self.users["nurse_a"], self.users["leader_a"]
        street, number = STREETS["child"]
        child = ChildFactory(station=self.station_a, given_name="Tida", family_name="Tidsen", birth_date=date.today() - timedelta(days=400),
                             street_address=_marker("child"), postal_code="5003", city="Bergen", municipality_number="4601")
        self.rows["child"] = child
        responsible = []
        for who, relation in (("mother", Relation.MOTHER), ("father", Relation.FATHER)):
            guardian_street, guardian_number = STREETS[who]
            guardian = GuardianFactory(family_name="Tidsen", street_address=_marker(who), postal_code="5003", city="Bergen")
            GuardianshipFactory(child=child, guardian=guardian, relation=relation)
            self.rows[who] = guardian
            self.person_ids[who] = self.register.add_person(
                nin=guardian.national_id, given_name=guardian.given_name, family_name=guardian.family_name, birth_date="1990-05-05",
                municipality="4601", street=guardian_street, house_number=guardian_number, postal_code="5003", city="Bergen",
                phone=guardian.mobile,
            )
            responsible.append((guardian.national_id, "Joint"))
        self.person_ids["child"] = self.register.add_person(
            nin=child.national_id, given_name=child.given_name, family_name=child.family_name, birth_date=child.birth_date,
            municipality="4601", street=street, house_number=number, postal_code="5003", city="Bergen", responsible=responsible,
            parents=[(responsible[0][0], "Mother"), (responsible[1][0], "Father")],
        )
        # A newborn in the register without a journal: an open finding naming the mother's address.
        mother_street, mother_number = STREETS["newborn_mother"]
        mother_nin = next_national_id()
        self.person_ids["newborn_mother"] = self.register.add_person(
            nin=mother_nin, given_name="Nina", family_name="Nyfødt", birth_date="1992-03-03", municipality="4601",
            street=mother_street, house_number=mother_number, postal_code="5003", city="Bergen", phone="41119999",
        )
        self.newborn_nin = next_national_id()
        newborn_street, newborn_number = STREETS["newborn"]
        self.person_ids["newborn"] = self.register.birth(
            nin=self.newborn_nin, given_name="Lille", family_name="Nyfødt", birth_date=date.today() - timedelta(days=2),
            mother=mother_nin, municipality="4601", street=newborn_street, house_number=newborn_number, postal_code="5003", city="Bergen",
        )
        register_sync()

        # The child misses a consultation and its case climbs to the letter step: letters for both guardians.
        child_plan(child=child)
        consultation = Consultation.objects.filter(child=child, state="due").order_by("step__order").first()
        missed = appointment_book(consultation=consultation, starts_at=now - timedelta(hours=2), duration_minutes=30, place="station",
                                  room="Rom 1", professional=nurse, booked_by=nurse)
        appointment_record_outcome(appointment=missed, outcome=Outcome.NOT_BROUGHT, reason=Reason.ILLNESS, recorded_by=nurse)
        appointment_book(consultation=consultation, starts_at=now + timedelta(days=9), duration_minutes=30, place="station",
                         room="Rom 2", professional=nurse, booked_by=nurse)
        followup_sweep()
        case = Case.objects.get(child=child)
        for _ in range(10):
            case.refresh_from_db()
            step = case.current_step
            if step is None or step.kind == StepKind.LETTER_NEW_INVITATION:
                break
            if step.kind == StepKind.PHONE_CALL:
                case_call_log(step=step, user=nurse, result="no_answer", note="Ingen svar")
                case.refresh_from_db()
                if case.current_step is not None and case.current_step.pk == step.pk:
                    case_step_skip(step=step, user=leader, reason="Hopper over i testen")
            else:
                case_step_skip(step=step, user=leader, reason="Hopper over i testen")
        self.make_letters()
        assert Letter.objects.filter(child=child).exists(), "the case made no letter to follow"
        return self

    # ------------------------------------------------------------------ actions
    def make_letters(self):
        letters_create_due(station=self.station_a)

    def start_batch(self, *, render: bool):
        """Start the day's print batch; ``render=False`` leaves it claimed and rendering."""
        with TestCase.captureOnCommitCallbacks(execute=render):
            try:
                letter_batch_start(station=self.station_a, user=self.users["clerk_a"])
            except Exception as error:  # noqa: BLE001 - "nothing to print" is a message, not a failure here
                if "brev" not in str(error):
                    raise

    def render(self):
        for batch in LetterBatch.objects.filter(station=self.station_a):
            letters_render(batch_id=batch.id)
        letters_render(station_id=self.station_a.id)

    def fail_a_letter(self):
        """A letter whose rendering failed (no file) waits to be retried with the address it was made with."""
        letter = Letter.objects.filter(child=self.rows["child"]).exclude(state=LetterState.SENT).order_by("-id").first()
        if letter is not None:
            Letter.objects.filter(pk=letter.pk).update(state=LetterState.FAILED, pdf="", page_count=0, attempts=3,
                                                       claimed_at=None, error="WeasyPrint feilet (test)")

    def protect_in_register(self, who: str, level: str):
        self.register.set_protection(self.person_ids[who], level)
        register_sync()
        self.level[who] = level

    def protect_by_hand(self, who: str, level: str):
        """A change made in the application (admin); the register is told the same, so a sync agrees."""
        row = self.rows.get(who)
        if row is None:
            return self.protect_in_register(who, level)
        row.refresh_from_db()
        if isinstance(row, Child):
            child_set_protection(child=row, level=level)
        else:
            guardian_set_protection(guardian=row, level=level)
        self.register.set_protection(self.person_ids[who], level)
        self.level[who] = level

    def create_journal(self):
        finding = Finding.objects.filter(kind=FindingKind.UNREGISTERED_RESIDENT, national_id=self.newborn_nin, status="open").first()
        if finding is None:
            return
        client = Client()
        client.force_login(self.users["clerk_a"])
        response = client.post(reverse("registry_sync:create_journal", args=[finding.pk]), HTTP_HX_REQUEST="true")
        assert response.status_code < 500
        guardian = Guardian.objects.filter(register_person_id__isnull=False, given_name="Nina").first()
        if guardian is not None:
            self.rows["newborn_mother"] = guardian
        newborn = Child.objects.filter(national_id=self.newborn_nin).first()
        if newborn is not None:
            self.rows["newborn"] = newborn
        self.journal_created = True

    # ------------------------------------------------------------------ looking
    def seeds(self) -> list[str]:
        ids = {
            "child_id": list(Child.objects.values_list("id", flat=True)),
            "appointment_id": list(Child.objects.values_list("appointments__id", flat=True)),
            "consultation_id": list(Consultation.objects.filter(state="due").values_list("id", flat=True)[:4]),
            "case_id": list(Case.objects.values_list("id", flat=True)),
            "step_id": list(CaseStep.objects.values_list("id", flat=True)[:12]),
            "letter_id": list(Letter.objects.values_list("id", flat=True)),
            "batch_id": list(LetterBatch.objects.values_list("id", flat=True)),
            "finding_id": list(Finding.objects.values_list("id", flat=True)),
            "alert_id": list(Finding.objects.alerts().values_list("id", flat=True)),
        }
        urls = []
        for pattern, name in _patterns(get_resolver().url_patterns):
            if name is None or name.startswith("admin:") or name == "logout":
                continue
            params = set(pattern.pattern.converters)
            assert not params - PARAMETERS, f"add {params - PARAMETERS} to the crawl's PARAMETERS"
            if not params:
                urls.append(reverse(name))
                continue
            (param,) = params
            urls += [reverse(name, kwargs={param: value}) for value in ids[param] if value is not None]
        urls += ["/admin/helsestasjon/guardian/", "/admin/helsestasjon/child/"]
        urls += [f"/admin/helsestasjon/child/{pk}/change/" for pk in ids["child_id"]]
        urls += [f"/admin/helsestasjon/guardian/{pk}/change/" for pk in Guardian.objects.values_list("id", flat=True)]
        return urls

    def look(self, *, follow_links: bool = False, who_looks=("nurse_a", "clerk_a", "leader_a", "admin")):
        """Every page and file, as every user; the rule asked of each person's protection now."""
        seeds = self.seeds()
        for who in who_looks:
            user = self.users[who]
            client = Client()
            client.force_login(user)
            if follow_links:
                pages = crawl(client, seeds)
            else:
                pages = {}
                for url in seeds:
                    response = client.get(url)
                    pages[url] = (response.status_code, _text(response) if response.status_code == 200 else "")
            errors = [url for url, (status, _) in pages.items() if status >= 500]
            assert not errors, f"{who}: server errors at {errors}"
            for url, (_, text) in pages.items():
                for person, level in self.level.items():
                    marker = _marker(person)
                    if level == STRICT:
                        assert marker not in text, f"{who} saw {person}'s strictly confidential address at {url} ({self.level})"
                    elif level == CONFIDENTIAL and not user.may_see_protected_addresses:
                        assert marker not in text, f"{who} saw {person}'s confidential address at {url} ({self.level})"


@pytest.fixture
def users(station_a, station_b, nurse_a, clerk_a, leader_a, nurse_b):
    admin = UserFactory(username="admin_t", role=Role.ADMIN, is_staff=True, is_superuser=True)
    return {"nurse_a": nurse_a, "clerk_a": clerk_a, "leader_a": leader_a, "nurse_b": nurse_b, "admin": admin}


@pytest.fixture
def timeline(register, station_a, station_b, users):  # noqa: F811
    return Timeline(register, station_a, station_b, users).build()


@pytest.mark.parametrize("path", ["register", "hand"])
@pytest.mark.parametrize("level", [STRICT, CONFIDENTIAL])
def test_the_crawl_after_protection_arrives_with_letters_in_every_state(timeline, path, level):
    change = timeline.protect_in_register if path == "register" else timeline.protect_by_hand
    # Letters in every state: one batch ready, new letters pending, one failed, one batch rendering.
    timeline.start_batch(render=True)
    timeline.fail_a_letter()
    timeline.make_letters()
    timeline.start_batch(render=False)
    timeline.create_journal()

    for who in ("mother", "father", "child", "newborn_mother", "newborn"):
        change(who, level)
    timeline.look(follow_links=True)
    # What waited is rendered and printed after the change: still nothing protected on paper.
    timeline.render()
    timeline.start_batch(render=True)
    timeline.look()


def test_the_crawl_after_protection_is_lifted_again(timeline):
    for who in ("mother", "child", "newborn_mother", "newborn"):
        timeline.protect_in_register(who, STRICT)
    timeline.start_batch(render=True)
    timeline.create_journal()
    timeline.look()
    timeline.protect_in_register("mother", CONFIDENTIAL)
    timeline.protect_by_hand("child", UNCLASSIFIED)
    timeline.make_letters()
    timeline.start_batch(render=True)
    timeline.look(follow_links=True)


ACTIONS = st.one_of(
    st.just(("make_letters",)),
    st.just(("start_batch", True)),
    st.just(("start_batch", False)),
    st.just(("render",)),
    st.just(("fail_a_letter",)),
    st.just(("create_journal",)),
    st.just(("sync",)),
    st.tuples(st.sampled_from(["protect_in_register", "protect_by_hand"]), st.sampled_from(sorted(STREETS)), st.sampled_from(LEVELS)),
)


@contextmanager
def _fresh_register():
    """A fake register of its own for one drawn example (the fixture's lives for the whole test)."""
    store = FakeRegister()
    server = FakeRegisterServer(store)
    server.start_in_thread()
    store.server = server
    try:
        with override_settings(REGISTER_BASE_URL=server.base_url, REGISTER_TIMEOUT_SECONDS=2):
            yield store
    finally:
        server.shutdown()
        server.server_close()


class _Rollback(Exception):
    pass


@hypothesis_settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(steps=st.lists(ACTIONS, min_size=2, max_size=6))
def test_no_sequence_of_changes_shows_a_protected_address(request, steps):
    """Random sequences of (make letter, start batch, render, change protection, sync, create journal, look)."""
    station_a, station_b = request.getfixturevalue("station_a"), request.getfixturevalue("station_b")
    users = request.getfixturevalue("users")
    try:
        with _fresh_register() as store, transaction.atomic():
            timeline = Timeline(store, station_a, station_b, users).build()
            for step in steps:
                name, *args = step
                if name == "sync":
                    register_sync()
                elif name == "start_batch":
                    timeline.start_batch(render=args[0])
                else:
                    getattr(timeline, name)(*args)
                timeline.look(who_looks=("clerk_a", "admin"))
            timeline.look(who_looks=("nurse_a", "leader_a"))
            raise _Rollback
    except _Rollback:
        pass
