"""The fixed cast: a nurse, a clerk and a leader at station A, a nurse at station B.

Every permission test reads the same way because it uses these users.
"""

from __future__ import annotations

import pytest

from helsestasjon.models import Role
from tests.factories import PASSWORD, ChildFactory, MunicipalityFactory, StationFactory, UserFactory


@pytest.fixture(autouse=True)
def _test_settings(settings, tmp_path):
    settings.ALLOW_SYNTHETIC_IDS = True
    # Demo seeding writes the fake register's data file; keep tests out of var/.
    settings.FAKE_REGISTER_DATA = str(tmp_path / "fake_register.json")
    settings.FAKE_HELSEID_DIR = str(tmp_path / "fake_helseid")
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.SMS_BACKEND = "followup.sms.backends.MemoryBackend"
    # No HelseID unless a test asks for the fake (fixture fake_helseid); then passwords are for the admin only.
    settings.HELSEID_AUTHORITY = ""
    settings.PASSWORD_LOGIN_ALL_ROLES = True
    settings.REGISTER_HELSEID = False
    # No SvarUt unless a test starts the fake (tests/followup/svarut/conftest.py): a digital letter made
    # elsewhere finds nothing listening (port 9) at once, without waiting between retries.
    settings.SVARUT_BASE_URL = "http://127.0.0.1:9/api"
    settings.SVARUT_EXTERNAL_REFERENCE_URL = ""
    settings.SVARUT_MAX_ATTEMPTS = 1
    # Plain static storage: tests do not run collectstatic.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _eager_celery(settings):
    from helsestasjon.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    # Tests see an eager task's work as soon as it was enqueued; a test of the background thread turns this on.
    settings.EAGER_TASKS_IN_THREADS = False
    yield


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def municipality(db):
    return MunicipalityFactory()


@pytest.fixture
def station_a(municipality):
    return StationFactory(municipality=municipality, name="Helsestasjon A")


@pytest.fixture
def station_b(municipality):
    return StationFactory(municipality=municipality, name="Helsestasjon B")


@pytest.fixture
def nurse_a(station_a):
    return UserFactory(username="sykepleier_a", first_name="Nora", last_name="Nilsen", role=Role.NURSE, stations=[station_a])


@pytest.fixture
def clerk_a(station_a):
    return UserFactory(username="merkantil_a", first_name="Kari", last_name="Kvam", role=Role.CLERK, stations=[station_a])


@pytest.fixture
def leader_a(station_a):
    return UserFactory(
        username="leder_a", first_name="Lise", last_name="Lund", role=Role.LEADER, stations=[station_a],
        may_see_protected_addresses=True,
    )


@pytest.fixture
def nurse_b(station_b):
    return UserFactory(username="sykepleier_b", first_name="Berit", last_name="Berg", role=Role.NURSE, stations=[station_b])


@pytest.fixture
def child_a(station_a):
    return ChildFactory(station=station_a, given_name="Ola", family_name="Nordmann")


@pytest.fixture
def child_b(station_b):
    return ChildFactory(station=station_b, given_name="Per", family_name="Pettersen")




@pytest.fixture
def login(db):
    """login(user) -> a Django test client logged in as that user."""
    from django.test import Client

    def _login(user):
        client = Client()
        client.force_login(user)
        return client

    return _login


@pytest.fixture
def fake_helseid(settings):
    """A fake HelseID over HTTP on loopback, with the settings pointing at it (tests/helseid_support.py)."""
    from helsestasjon.helseid.oidc import Authority
    from tests.helseid_support import FakeHelseIDForTests

    fake = FakeHelseIDForTests()
    fake.settings(settings)
    Authority.forget_all()
    yield fake
    Authority.forget_all()
    fake.stop()


@pytest.fixture(autouse=True)
def _programme_after_flush(request):
    """Put the default programme back for tests that use the database.

    The programme comes from a data migration, and every transactional test
    (worker, browser and concurrency tests, in any directory) empties all tables
    when it ends, so whichever test runs after one would find no programme.
    """
    if not (request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(request.fixturenames)):
        return
    request.getfixturevalue("transactional_db" if "transactional_db" in request.fixturenames else "db")
    import importlib

    from django.apps import apps

    from attendance.models import ProgrammeStep

    if not ProgrammeStep.objects.exists():
        importlib.import_module("attendance.migrations.0003_default_programme").load(apps, None)


# Debian's Chromium, never a downloaded browser; the flags keep it off the network.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def browser(monkeypatch):
    """A headless Chromium for the Playwright tests (@pytest.mark.browser)."""
    import os

    if not os.path.exists("/usr/bin/chromium"):
        pytest.skip("Debian's Chromium is not installed (.ci/run installs it)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls the
    # test makes around it are still plain synchronous calls.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from django.db import connections
    from playwright.sync_api import sync_playwright

    # The live server answers each request in a new thread; with persistent
    # connections those threads would keep the test database open after the test.
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def browser_page(browser):
    page = browser.new_page(accept_downloads=True)
    page.set_default_timeout(20_000)
    # Console errors include Content-Security-Policy violations; a test can assert there are none.
    page.console_errors = []
    page.on("console", lambda message: page.console_errors.append(message.text) if message.type == "error" else None)
    return page
