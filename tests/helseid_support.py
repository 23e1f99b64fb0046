"""The fake HelseID for tests: a real provider over HTTP on loopback, and a login through it.

``fake_helseid`` (tests/conftest.py) starts one per test and points the settings at it;
``helseid_login`` walks the whole authorization code flow with the Django test client on our
side and real HTTP to the fake (PAR, the authorize page, the token endpoint).
"""

from __future__ import annotations

import json
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

import requests

from helsestasjon.helseid.fake import Client, FakeHelseID, FakeHelseIDServer, Persona
from helsestasjon.helseid.keys import generate_rsa_key, public_jwks
from helsestasjon.helseid.services import user_set_national_id
from tests.factories import next_national_id

CLIENT_ID = "helsestasjon-test"
REGISTER_SCOPE = "nhn:hgd-persontjenesten-api/read-with-legal-basis"


@lru_cache(maxsize=None)
def _keys():
    # RSA key generation is slow enough to matter per test; the keys are the same for every test.
    return generate_rsa_key(), generate_rsa_key()


class FakeHelseIDForTests:
    def __init__(self):
        provider_key, self.client_key = _keys()
        self.client = Client(CLIENT_ID, jwks=public_jwks(self.client_key),
                             redirect_uris=["http://testserver/helseid/callback/"],
                             post_logout_redirect_uris=["http://testserver/helseid/logget-ut/"],
                             scopes=[REGISTER_SCOPE])
        self.provider = FakeHelseID(signing_key=provider_key, personas=[], clients=[self.client])
        self.server = FakeHelseIDServer(self.provider)
        self.url = self.server.base_url
        self.server.start_in_thread()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def allow_app(self, base_url: str) -> None:
        """Register a live server's callback and logout addresses for the test client."""
        base = base_url.rstrip("/")
        self.client.redirect_uris.append(f"{base}/helseid/callback/")
        self.client.post_logout_redirect_uris.append(f"{base}/helseid/logget-ut/")

    def persona(self, user=None, *, pid: str | None = None, hpr: str = "", name=("Ukjent", "Person")) -> int:
        """Add a persona (the user's, with a fresh national id stored on the user) and return its index."""
        pid = pid or next_national_id()
        if user is not None:
            user_set_national_id(user=user, national_id=pid)
            name = (user.first_name, user.last_name)
        self.provider.personas.append(Persona(pid=pid, given_name=name[0], family_name=name[1], hpr_number=hpr))
        return len(self.provider.personas) - 1

    def settings(self, settings) -> None:
        settings.HELSEID_AUTHORITY = self.url
        settings.HELSEID_CLIENT_ID = CLIENT_ID
        settings.HELSEID_PRIVATE_KEY = json.dumps(self.client_key.as_dict(private=True))
        settings.PASSWORD_LOGIN_ALL_ROLES = False


def helseid_start(client, next_url: str = ""):
    """Press "Logg inn med HelseID": the answer is a redirect to the fake's authorize page."""
    return client.post("/helseid/start/", {"next": next_url} if next_url else {})


def helseid_pick(fake: FakeHelseIDForTests, authorize_url: str, persona: int, level: str = "4") -> str:
    """Open the fake's authorize page and pick a persona; returns the callback URL it redirects to."""
    page = requests.get(authorize_url, timeout=10)
    assert page.status_code == 200, page.text
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    answer = requests.post(f"{fake.url}/connect/authorize", data={**query, "persona": persona, "level": level},
                           allow_redirects=False, timeout=10)
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def helseid_login(client, fake: FakeHelseIDForTests, persona: int, level: str = "4", *, tamper: str | None = None):
    """The whole login; returns the app's answer to the callback (a redirect home, or a refusal page)."""
    started = helseid_start(client)
    assert started.status_code == 302, started
    fake.provider.tamper = tamper
    callback = helseid_pick(fake, started["Location"], persona, level)
    parts = urlsplit(callback)
    return client.get(f"{parts.path}?{parts.query}")


def clients_through_helseid(fake: FakeHelseIDForTests, users: dict) -> dict:
    """One Django test client per user, each logged in through the fake HelseID (real HTTP, level 4)."""
    from django.test import Client as TestClient

    clients = {}
    for who, user in users.items():
        client = TestClient()
        response = helseid_login(client, fake, fake.persona(user))
        assert response.status_code == 302, f"{who} could not log in through HelseID: {response.status_code}"
        assert int(client.session["_auth_user_id"]) == user.pk
        clients[who] = client
    return clients


def browser_login(page, live_server, fake: FakeHelseIDForTests, user) -> None:
    """Log in in the browser as staff do: "Logg inn med HelseID", then pick the user on the fake's page."""
    if live_server.url.rstrip("/") + "/helseid/callback/" not in fake.client.redirect_uris:
        fake.allow_app(live_server.url)
    name = f"{user.first_name} {user.last_name}"
    if not any(p.name == name for p in fake.provider.personas):
        fake.persona(user)
    page.goto(f"{live_server.url}/logg-inn/")
    page.get_by_role("button", name="Logg inn med HelseID").click()
    page.get_by_role("button", name=f"Logg inn som {name}", exact=True).click()
    page.wait_for_url(lambda url: url.startswith(live_server.url) and "/logg-inn/" not in url)
