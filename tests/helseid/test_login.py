"""Staff log in through the fake HelseID over real HTTP; every refusal shows a page and logs nobody in."""

from __future__ import annotations

import pytest
from django.test import Client

from helsestasjon.models import SignIn, SignInOutcome
from tests.helseid_support import helseid_login, helseid_pick, helseid_start

pytestmark = pytest.mark.django_db


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_nurse_logs_in_through_helseid_and_sees_her_name_with_hpr_number(fake_helseid, nurse_a):
    client = Client()
    persona = fake_helseid.persona(nurse_a, hpr="1234567")
    response = helseid_login(client, fake_helseid, persona)
    assert response.status_code == 302 and response["Location"] == "/"
    page = client.get("/", follow=True)
    assert "Nora Nilsen (HPR 1234567)" in page.content.decode()
    assert SignIn.objects.filter(user=nurse_a, outcome=SignInOutcome.SUCCESS, method="helseid").exists()


def test_login_page_offers_helseid_and_no_password_field_outside_the_admin_box(fake_helseid):
    page = Client().get("/logg-inn/").content.decode()
    assert "Logg inn med HelseID" in page
    assert "Nødtilgang for administrator" in page


def test_the_login_goes_through_par_with_pkce(fake_helseid, nurse_a):
    started = helseid_start(Client())
    location = started["Location"]
    assert location.startswith(f"{fake_helseid.url}/connect/authorize?")
    assert "request_uri=urn" in location and "code_challenge" not in location  # everything else was pushed
    pushed = next(iter(fake_helseid.provider.requests.values()))["params"]
    assert pushed["code_challenge_method"] == "S256" and pushed["state"] and pushed["nonce"]


@pytest.mark.parametrize(
    "tamper",
    ["wrong_iss", "wrong_aud", "expired", "bad_signature", "alg_none", "unknown_kid", "no_nonce", "wrong_nonce"],
)
def test_an_id_token_that_fails_validation_logs_nobody_in(fake_helseid, nurse_a, tamper):
    client = Client()
    persona = fake_helseid.persona(nurse_a)
    response = helseid_login(client, fake_helseid, persona, tamper=tamper)
    assert response.status_code == 400
    assert "Innloggingen kunne ikke bekreftes" in response.content.decode()
    assert not _logged_in(client)
    assert SignIn.objects.filter(outcome=SignInOutcome.REJECTED).count() == 1
    assert not SignIn.objects.filter(outcome=SignInOutcome.SUCCESS).exists()


def test_a_replayed_state_is_refused(fake_helseid, nurse_a):
    client = Client()
    persona = fake_helseid.persona(nurse_a)
    started = helseid_start(client)
    callback = helseid_pick(fake_helseid, started["Location"], persona)
    path = callback.split("testserver", 1)[1]
    assert client.get(path).status_code == 302
    client.post("/logg-ut/")
    replay = client.get(path)
    assert replay.status_code == 400
    assert "allerede brukt" in replay.content.decode()
    assert not _logged_in(client)


def test_a_state_from_another_browser_is_refused(fake_helseid, nurse_a):
    persona = fake_helseid.persona(nurse_a)
    started = helseid_start(Client())
    callback = helseid_pick(fake_helseid, started["Location"], persona)
    other = Client()
    assert other.get(callback.split("testserver", 1)[1]).status_code == 400
    assert not _logged_in(other)


def test_a_pkce_verifier_that_does_not_match_is_refused_by_helseid(fake_helseid, nurse_a):
    client = Client()
    persona = fake_helseid.persona(nurse_a)
    started = helseid_start(client)
    session = client.session
    pending = session["helseid_pending"]
    for value in pending.values():
        value["code_verifier"] = "x" * 64
    session["helseid_pending"] = pending
    session.save()
    callback = helseid_pick(fake_helseid, started["Location"], persona)
    response = client.get(callback.split("testserver", 1)[1])
    assert response.status_code == 400
    assert not _logged_in(client)


def test_security_level_3_is_refused_when_4_is_required(fake_helseid, nurse_a):
    client = Client()
    response = helseid_login(client, fake_helseid, fake_helseid.persona(nurse_a), level="3")
    assert response.status_code == 403
    assert "For lavt sikkerhetsnivå" in response.content.decode()
    assert "sikkerhetsnivå 4" in response.content.decode()
    assert not _logged_in(client)
    assert SignIn.objects.get().outcome == SignInOutcome.LOW_LEVEL


def test_security_level_3_is_enough_when_the_setting_says_so(fake_helseid, nurse_a, settings):
    settings.HELSEID_REQUIRED_SECURITY_LEVEL = 3
    client = Client()
    assert helseid_login(client, fake_helseid, fake_helseid.persona(nurse_a), level="3").status_code == 302
    assert _logged_in(client)


def test_an_unknown_person_has_no_access_and_gets_no_account(fake_helseid, nurse_a):
    from helsestasjon.models import User

    users = User.objects.count()
    client = Client()
    response = helseid_login(client, fake_helseid, fake_helseid.persona(None))
    assert response.status_code == 403
    assert "Du har ikke tilgang" in response.content.decode()
    assert not _logged_in(client)
    assert User.objects.count() == users
    row = SignIn.objects.get()
    assert row.outcome == SignInOutcome.UNKNOWN_PERSON and row.user is None


def test_a_deactivated_user_is_refused(fake_helseid, nurse_a):
    persona = fake_helseid.persona(nurse_a)
    nurse_a.is_active = False
    nurse_a.save()
    client = Client()
    response = helseid_login(client, fake_helseid, persona)
    assert response.status_code == 403
    assert "deaktivert" in response.content.decode()
    assert not _logged_in(client)


def test_the_national_id_is_stored_only_as_a_keyed_digest(fake_helseid, nurse_a):
    persona = fake_helseid.persona(nurse_a)
    pid = fake_helseid.provider.personas[persona].pid
    nurse_a.refresh_from_db()
    assert nurse_a.national_id_digest and pid not in nurse_a.national_id_digest and len(nurse_a.national_id_digest) == 64


def test_logout_ends_the_local_session_and_helseids(fake_helseid, nurse_a):
    client = Client()
    helseid_login(client, fake_helseid, fake_helseid.persona(nurse_a))
    response = client.post("/logg-ut/")
    assert response.status_code == 302
    assert response["Location"].startswith(f"{fake_helseid.url}/connect/endsession?id_token_hint=")
    assert not _logged_in(client)
    import requests

    back = requests.get(response["Location"], allow_redirects=False, timeout=10)
    assert back.status_code == 302 and back.headers["Location"].startswith("http://testserver/helseid/logget-ut/")
    assert fake_helseid.provider.ended_sessions
    assert client.get("/", follow=True).request["PATH_INFO"] == "/logg-inn/"


def test_helseid_unreachable_gives_a_page_that_says_so(fake_helseid, settings):
    settings.HELSEID_AUTHORITY = "http://127.0.0.1:9"
    response = helseid_start(Client())
    assert response.status_code == 503
    assert "HelseID svarer ikke" in response.content.decode()


def test_a_user_who_cancels_in_helseid_is_not_logged_in(fake_helseid, nurse_a):
    client = Client()
    helseid_start(client)
    state = next(iter(client.session["helseid_pending"]))
    response = client.get(f"/helseid/callback/?error=access_denied&state={state}")
    assert response.status_code == 400 and not _logged_in(client)


def test_a_rotated_signing_key_is_fetched_by_its_kid(fake_helseid, nurse_a, clerk_a, monkeypatch):
    from helsestasjon.helseid import oidc
    from helsestasjon.helseid.keys import generate_rsa_key

    monkeypatch.setattr(oidc, "JWKS_REFETCH_MIN_SECONDS", 0)
    assert helseid_login(Client(), fake_helseid, fake_helseid.persona(nurse_a)).status_code == 302
    fake_helseid.provider.signing_key = generate_rsa_key()  # HelseID rolled its key; our cached JWKS is old
    client = Client()
    assert helseid_login(client, fake_helseid, fake_helseid.persona(clerk_a)).status_code == 302
    assert _logged_in(client)


def test_the_id_token_subject_is_not_the_national_id(fake_helseid, nurse_a):
    from helsestasjon.helseid import oidc

    client = Client()
    helseid_login(client, fake_helseid, fake_helseid.persona(nurse_a))
    id_token = client.session["helseid_id_token"]
    config = oidc.current()
    claims = oidc.validate_id_token(id_token, nonce=_nonce_of(id_token), config=config,
                                    authority=oidc.Authority.for_settings(config))
    assert claims["sub"] != claims[oidc.CLAIM_PID]


def _nonce_of(token: str) -> str:
    import base64
    import json

    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))["nonce"]
