"""Every page works on the README's demo: every demo user, every URL of the URL conf, no 5xx.

The data is made as bin/demo makes it: ``seed_demo --children N --if-empty``, the fake register
serving the file seed_demo wrote, and one ``sync_register``. Each demo user logs in through the
login page and asks for every URL pattern (GET; an empty POST to the actions that only take POST),
with real ids from the demo data, preferring an object at the user's own station so the view runs
rather than answering 404. A 403 or 404 is an answer; a 5xx is the bug this test is for (the
statistics page was a 500 on the old SQLite demo).
"""

from __future__ import annotations

import io

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from attendance.models import Appointment, Consultation
from followup.letters.models import Letter, LetterBatch
from followup.models import Case, CaseStep
from helsestasjon.demo import DEMO_PASSWORD
from helsestasjon.models import Child, User
from registry_sync.fake import FakeRegister, FakeRegisterServer
from registry_sync.models import Finding

pytestmark = pytest.mark.django_db

DEMO_CHILDREN = 40

# Patterns not asked for, and why.
SKIPPED = {
    "logout": "asked for last, by each user",
    "admin:logout": "the same logout",
    "admin:view_on_site": "a redirect to the object's page, which is asked for itself",
    "admin:autocomplete": "no autocomplete fields are registered; answers 403 without its query",
}

# The objects behind each URL argument, read from the demo data.
OBJECTS = {
    "child_id": Child.objects.all(),
    "appointment_id": Appointment.objects.all(),
    "consultation_id": Consultation.objects.filter(state="due"),
    "case_id": Case.objects.all(),
    "step_id": CaseStep.objects.all(),
    "letter_id": Letter.objects.all(),
    "batch_id": LetterBatch.objects.all(),
    "finding_id": Finding.objects.all(),
    "alert_id": Finding.objects.alerts(),
}


def _patterns(entries, namespace=None):
    for entry in entries:
        if isinstance(entry, URLResolver):
            inner = entry.namespace
            yield from _patterns(entry.url_patterns, f"{namespace}:{inner}" if namespace and inner else inner or namespace)
        elif isinstance(entry, URLPattern) and entry.name:
            yield entry, f"{namespace}:{entry.name}" if namespace else entry.name


def _id_for(argument: str, user: User) -> int:
    """A real id for the argument: an object at the user's station when there is one.

    0 (no such object: a 404) when the demo has none of them; the test reports those.
    """
    objects = OBJECTS[argument]
    station_field = {"appointment_id": "station_id", "step_id": "case__station_id"}.get(argument, "station_id")
    if argument == "consultation_id":
        station_field = "child__station_id"
    stations = list(user.stations.values_list("id", flat=True))
    own = objects.filter(**{f"{station_field}__in": stations}) if stations else objects
    pk = own.order_by("pk").values_list("pk", flat=True).first() or objects.order_by("pk").values_list("pk", flat=True).first()
    return pk or 0


def _admin_kwargs(name: str, pattern: URLPattern) -> dict | None:
    """Arguments for the admin's own URLs: the first row of the page's model, or the app's label."""
    arguments = set(pattern.pattern.regex.groupindex)
    if not arguments:
        return {}
    if arguments == {"app_label"}:
        return {"app_label": "helsestasjon"}
    for model in admin.site._registry:
        prefix = f"admin:{model._meta.app_label}_{model._meta.model_name}_"
        if name.startswith(prefix) and arguments <= {"object_id", "id"}:
            pk = model._default_manager.order_by("pk").values_list("pk", flat=True).first()
            return {argument: pk for argument in arguments} if pk is not None else None
    return None


def _urls(user: User) -> tuple[list[tuple[str, str]], list[str]]:
    """(name, url) for every pattern, and the names whose objects the demo lacks."""
    urls, missing = [], []
    for pattern, name in _patterns(get_resolver().url_patterns):
        if name in SKIPPED:
            continue
        if name.startswith("admin:"):
            kwargs = _admin_kwargs(name, pattern)
            if kwargs is None:
                missing.append(name)
                continue
        else:
            kwargs = {argument: _id_for(argument, user) for argument in pattern.pattern.regex.groupindex}
            if 0 in kwargs.values():
                missing.append(name)
        urls.append((name, reverse(name, kwargs=kwargs)))
    return urls, missing


@pytest.fixture
def demo(settings, tmp_path):
    """The demo as bin/demo makes it, with the fake register served for the sync."""
    out = io.StringIO()
    call_command("seed_demo", children=DEMO_CHILDREN, if_empty=True, stdout=out)
    server = FakeRegisterServer(FakeRegister(settings.FAKE_REGISTER_DATA))
    server.start_in_thread()
    settings.REGISTER_BASE_URL = server.base_url
    try:
        call_command("sync_register", stdout=out)
    finally:
        server.shutdown()
        server.server_close()
    assert "full: " in out.getvalue(), out.getvalue()
    return out.getvalue()


def _totp_code(user) -> str:
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="Nødtilgang", confirmed=True)
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def test_every_demo_user_gets_no_server_error_on_any_url(demo):
    # The users seed_demo printed: the test database holds no others.
    users = list(User.objects.order_by("username"))
    assert all(f"  {u.username} " in demo for u in users)
    assert {u.role for u in users} >= {"nurse", "clerk", "leader", "admin"}
    failures, asked, missing = [], 0, set()
    for user in users:
        client = Client(raise_request_exception=False)
        credentials = {"username": user.username, "password": DEMO_PASSWORD}
        if user.role == "admin":
            # The administrator's break-glass login takes a code from the authenticator app as well.
            credentials["otp_token"] = _totp_code(user)
        login = client.post(reverse("login"), credentials)
        assert login.status_code == 302, f"{user.username} could not log in ({login.status_code})"
        urls, lacking = _urls(user)
        missing.update(lacking)
        for name, url in urls:
            response = client.get(url)
            asked += 1
            if response.status_code >= 500:
                failures.append(f"{user.username} GET {url} ({name}): {response.status_code}")
            if response.status_code == 405:  # An action: an empty POST is refused or answered with its form.
                response = client.post(url, {})
                asked += 1
                if response.status_code >= 500:
                    failures.append(f"{user.username} POST {url} ({name}): {response.status_code}")
        response = client.post(reverse("logout"))
        assert response.status_code < 500
    assert not failures, "\n".join(failures)
    assert asked > 50 * len(users)
    # What the small demo has none of (its URLs were asked with an id that does not exist).
    assert missing <= {"followup:letter_batch_progress", "followup:letter_batch_pdf", "followup:letter_batch_sent",
                       "followup:letter_pdf", "followup:letter_sent", "followup:letter_returned", "followup:letter_retry",
                       "followup:letter_channel", "followup:letter_svarut_resolve", "registry_sync:alert_seen"} | {n for n in missing if n.startswith("admin:")}, sorted(missing)


def test_the_leader_sees_the_statistics_page_on_the_demo(demo):
    client = Client()
    assert client.post(reverse("login"), {"username": "leder_a", "password": DEMO_PASSWORD}).status_code == 302
    page = client.get(reverse("followup:statistics:page"))
    assert page.status_code == 200
    assert "Statistikk" in page.content.decode()
