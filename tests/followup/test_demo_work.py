"""A fresh demo has work on every list (issue 17): cases at every step of the ladder, letters due,
a leader queue of 3-5 cases per station, and each role's list filled at first login."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from followup.letters.models import Letter, LetterState
from followup.models import Case, CaseStatus, CaseStep, StepStatus
from helsestasjon.demo import seed_demo
from helsestasjon.models import Station, User
from registry_sync.models import Finding

pytestmark = pytest.mark.django_db

ROW = re.compile(r'<tr id="case-(\d+)"')


@pytest.fixture
def demo(settings, tmp_path):
    """The demo as bin/demo leaves it: seeded, then one sync against the fake register it wrote."""
    from registry_sync.fake import FakeRegister, FakeRegisterServer
    from registry_sync.runs import register_sync

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FAKE_REGISTER_DATA = str(tmp_path / "register.json")
    settings.DEMO_SEEDERS = ["attendance.demo.seed", "followup.demo.seed", "registry_sync.demo.seed"]
    result = seed_demo(children=300, seed=1)
    server = FakeRegisterServer(FakeRegister(settings.FAKE_REGISTER_DATA))
    server.start_in_thread()
    settings.REGISTER_BASE_URL = server.base_url
    try:
        register_sync()
    finally:
        server.shutdown()
        server.server_close()
    return result


def test_a_fresh_demo_has_work_for_every_role_at_first_login_on_every_step(demo, login):
    for letter in "ab":
        nurse, clerk, leader = (User.objects.get(username=f"{role}_{letter}") for role in ("sykepleier", "merkantil", "leder"))
        assert ROW.findall(login(nurse).get(reverse("followup:nurse_worklist")).content.decode()), f"nurse {letter}"
        assert ROW.findall(login(clerk).get(reverse("followup:clerk_worklist")).content.decode()), f"clerk {letter}"
        queue = ROW.findall(login(leader).get(reverse("followup:leader_queue")).content.decode())
        assert 3 <= len(queue) <= 5, (letter, len(queue))
        page = login(clerk).get(reverse("followup:letters")).content.decode()
        steps = int(re.search(r"Oppfølgingstrinn med brev: <strong>(\d+)</strong>", page).group(1))
        assert steps > 0, f"letters due {letter}"
    # The register's news: alerts the nurses have not seen yet.
    nurses = User.objects.filter(username__in=["sykepleier_a", "sykepleier_b"])
    assert sum(Finding.objects.for_user(nurse).unseen_alerts().count() for nurse in nurses) > 0

    # One seed for every check (a demo with letters printed takes a while).
    open_cases = Case.objects.filter(status=CaseStatus.OPEN).select_related("current_step")
    orders = {case.current_step.order for case in open_cases}
    assert orders >= {1, 2, 3, 4, 5, 6}, orders
    assert len(orders) >= 7, orders
    # Reached through the services: every case beyond the letter steps had its letters printed and
    # sent, and every earlier step of a case ended with its evidence or a written reason.
    for case in open_cases.filter(current_step__order__gt=5):
        sent = set(Letter.objects.filter(case=case, state=LetterState.SENT).values_list("case_step__order", flat=True))
        assert sent == {4, 5}, (case.id, sent)
    for step in CaseStep.objects.filter(case__in=open_cases).exclude(status=StepStatus.ACTIVE):
        assert step.ended_at and (step.evidence or step.skip_reason), step.id

    # One station sends invitation letters for booked appointments, and has some due.
    from followup.letters.making import letters_due_count

    inviting = [station for station in Station.objects.order_by("pk") if station.send_invitation_letters]
    assert len(inviting) == 1
    assert letters_due_count(station=inviting[0])["invitations"] > 0
