"""The fake HelseID checks client assertions as HelseID does: signature, aud, exp at most 60 s, jti once."""

from __future__ import annotations

import time

import requests

from helsestasjon.helseid.keys import CLIENT_ASSERTION_TYPE, client_assertion, generate_rsa_key
from tests.helseid_support import CLIENT_ID, REGISTER_SCOPE


def _token_request(fake, assertion: str):
    return requests.post(f"{fake.url}/connect/token", timeout=10, data={
        "grant_type": "client_credentials", "scope": REGISTER_SCOPE, "client_id": CLIENT_ID,
        "client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": assertion,
    })


def _assertion(fake, **kwargs):
    return client_assertion(client_id=CLIENT_ID, audience=fake.url, key=kwargs.pop("key", fake.client_key), **kwargs)


def test_a_good_assertion_gets_a_token(fake_helseid):
    response = _token_request(fake_helseid, _assertion(fake_helseid))
    assert response.status_code == 200
    assert response.json()["token_type"] == "Bearer"


def test_an_expired_assertion_is_refused(fake_helseid):
    response = _token_request(fake_helseid, _assertion(fake_helseid, now=time.time() - 120))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert "expired" in response.json()["error_description"]


def test_an_assertion_living_longer_than_60_seconds_is_refused(fake_helseid):
    response = _token_request(fake_helseid, _assertion(fake_helseid, lifetime=300))
    assert response.status_code == 401
    assert "60 seconds" in response.json()["error_description"]


def test_a_reused_jti_is_refused(fake_helseid):
    assertion = _assertion(fake_helseid)
    assert _token_request(fake_helseid, assertion).status_code == 200
    again = _token_request(fake_helseid, assertion)
    assert again.status_code == 401
    assert "jti reused" in again.json()["error_description"]


def test_an_assertion_signed_with_another_key_is_refused(fake_helseid):
    response = _token_request(fake_helseid, _assertion(fake_helseid, key=generate_rsa_key(kid=fake_helseid.client_key.kid)))
    assert response.status_code == 401
    assert "not verified" in response.json()["error_description"]


def test_an_assertion_for_another_audience_is_refused(fake_helseid):
    assertion = client_assertion(client_id=CLIENT_ID, audience="https://helseid-sts.nhn.no", key=fake_helseid.client_key)
    response = _token_request(fake_helseid, assertion)
    assert response.status_code == 401
    assert "aud" in response.json()["error_description"]


def test_a_client_secret_is_not_accepted(fake_helseid):
    response = requests.post(f"{fake_helseid.url}/connect/token", timeout=10, data={
        "grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "hemmelig"})
    assert response.status_code == 401


def test_authorize_without_par_is_refused(fake_helseid):
    response = requests.get(f"{fake_helseid.url}/connect/authorize?client_id={CLIENT_ID}&response_type=code", timeout=10)
    assert response.status_code == 400
    assert "PAR" in response.json()["error_description"]


def test_par_with_an_unregistered_redirect_uri_is_refused(fake_helseid):
    response = requests.post(f"{fake_helseid.url}/connect/par", timeout=10, data={
        "client_id": CLIENT_ID, "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": _assertion(fake_helseid), "response_type": "code", "scope": "openid",
        "redirect_uri": "https://angriper.example/callback", "state": "s", "nonce": "n",
        "code_challenge": "x" * 43, "code_challenge_method": "S256",
    })
    assert response.status_code == 400
    assert "redirect_uri" in response.json()["error_description"]
