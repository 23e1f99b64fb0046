"""The register client's own HelseID tokens: cached, one fresh token and one retry on 401, DPoP when asked for."""

from __future__ import annotations

import pytest

from helsestasjon.helseid.fake.resource import AccessTokenCheck
from helsestasjon.helseid.tokens import ServiceTokenProvider, forget_providers, register_token_provider
from registry_sync.client import RegisterClient
from registry_sync.register_errors import RegisterRefused
from tests.helseid_support import REGISTER_SCOPE


@pytest.fixture
def guarded_register(register, fake_helseid):
    """The fake register, checking the fake HelseID's tokens; ``calls`` counts the requests it saw."""
    check = AccessTokenCheck(issuer=fake_helseid.url, scope=REGISTER_SCOPE)
    register.calls = []

    def counted(method, url, headers):
        refusal = check(method, url, headers)
        register.calls.append(refusal)
        return refusal

    register.token_check = counted
    register.check = check
    yield register
    forget_providers()


def _client(register, provider):
    return RegisterClient(register.server.base_url, timeout=2, backoff_seconds=0.01, sleep=lambda s: None,
                          token_provider=provider)


def test_the_client_gets_a_token_and_reuses_it_until_shortly_before_expiry(guarded_register, fake_helseid):
    now = [1_000_000.0]
    provider = ServiceTokenProvider(scope=REGISTER_SCOPE, clock=lambda: now[0])
    client = _client(guarded_register, provider)
    client.latest_event()
    client.latest_event()
    assert provider.tokens_fetched == 1
    assert guarded_register.calls == [None, None]
    now[0] += 300 - 29  # the fake's tokens live 300 s; renewed within the last 30
    client.latest_event()
    assert provider.tokens_fetched == 2


def test_a_401_leads_to_one_fresh_token_and_one_retry(guarded_register, fake_helseid):
    provider = ServiceTokenProvider(scope=REGISTER_SCOPE)
    client = _client(guarded_register, provider)
    client.latest_event()
    refuse_once = [True]
    check = guarded_register.check

    def revoked_once(method, url, headers):
        if refuse_once:
            refuse_once.pop()
            guarded_register.calls.append("revoked")
            return "Token revoked"
        guarded_register.calls.append(check(method, url, headers))
        return guarded_register.calls[-1]

    guarded_register.token_check = revoked_once
    client.latest_event()
    assert provider.tokens_fetched == 2
    assert guarded_register.calls[-2:] == ["revoked", None]


def test_a_register_that_keeps_refusing_is_asked_twice_never_in_a_loop(guarded_register, fake_helseid):
    guarded_register.token_check = lambda method, url, headers: guarded_register.calls.append("no") or "Never"
    provider = ServiceTokenProvider(scope=REGISTER_SCOPE)
    with pytest.raises(RegisterRefused):
        _client(guarded_register, provider).latest_event()
    assert guarded_register.calls == ["no", "no"]
    assert provider.tokens_fetched == 2


def test_dpop_bound_tokens_are_sent_with_a_proof_the_register_checks(guarded_register, fake_helseid):
    guarded_register.check.require_dpop = True
    provider = ServiceTokenProvider(scope=REGISTER_SCOPE, dpop=True)
    client = _client(guarded_register, provider)
    client.latest_event()
    client.latest_event()
    assert guarded_register.calls == [None, None]
    assert provider.token().token_type == "DPoP"


def test_the_register_refuses_a_bearer_token_when_it_requires_dpop(guarded_register, fake_helseid):
    guarded_register.check.require_dpop = True
    provider = ServiceTokenProvider(scope=REGISTER_SCOPE)
    with pytest.raises(RegisterRefused):
        _client(guarded_register, provider).latest_event()
    assert guarded_register.calls == ["A DPoP-bound access token is required"] * 2


def test_a_dpop_token_without_its_proof_is_refused(guarded_register, fake_helseid):
    import requests

    provider = ServiceTokenProvider(scope=REGISTER_SCOPE, dpop=True)
    token = provider.token()
    response = requests.get(f"{guarded_register.server.base_url}/event/latest", timeout=5,
                            headers={"Authorization": f"DPoP {token.value}", "api-version": "2"})
    assert response.status_code == 401
    stolen = requests.get(f"{guarded_register.server.base_url}/event/latest", timeout=5,
                          headers={"Authorization": f"Bearer {token.value}", "api-version": "2"})
    assert stolen.status_code == 401


def test_a_replayed_dpop_proof_is_refused(guarded_register, fake_helseid):
    import requests

    provider = ServiceTokenProvider(scope=REGISTER_SCOPE, dpop=True)
    url = f"{guarded_register.server.base_url}/event/latest"
    headers = {**provider.headers("GET", url, provider.token()), "api-version": "2"}
    assert requests.get(url, headers=headers, timeout=5).status_code in (200, 404)
    assert requests.get(url, headers=headers, timeout=5).status_code == 401


def test_the_client_answers_helseids_dpop_nonce_challenge(guarded_register, fake_helseid):
    fake_helseid.provider.require_dpop_nonce = True
    provider = ServiceTokenProvider(scope=REGISTER_SCOPE, dpop=True)
    _client(guarded_register, provider).latest_event()
    assert provider.tokens_fetched == 1
    assert fake_helseid.provider.token_requests == 2


def test_the_client_from_settings_uses_helseid_when_configured(guarded_register, fake_helseid, settings):
    settings.REGISTER_HELSEID = True
    settings.REGISTER_DPOP = True
    forget_providers()
    client = RegisterClient.from_settings()
    assert client.token_provider is register_token_provider() and client.token_provider.dpop_key is not None
    client.latest_event()
    assert guarded_register.calls == [None]


def test_helseid_refuses_a_dpop_proof_made_for_another_url(fake_helseid):
    import requests

    from helsestasjon.helseid.keys import CLIENT_ASSERTION_TYPE, client_assertion, dpop_proof, generate_ec_key
    from tests.helseid_support import CLIENT_ID

    proof = dpop_proof(key=generate_ec_key(), method="POST", url="https://elsewhere.example/connect/token")
    response = requests.post(f"{fake_helseid.url}/connect/token", timeout=10, headers={"DPoP": proof}, data={
        "grant_type": "client_credentials", "scope": REGISTER_SCOPE, "client_id": CLIENT_ID,
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": client_assertion(client_id=CLIENT_ID, audience=fake_helseid.url, key=fake_helseid.client_key),
    })
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_dpop_proof"
