"""The register client's own HelseID tokens: client credentials with private_key_jwt, optionally DPoP-bound.

A token is cached until shortly before it expires and shared by every thread of the process.
A 401 from the API means the token is no longer good: ``send_with_token`` fetches one fresh
token and retries once, never more, so a misconfigured client cannot loop.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import requests

from helsestasjon.helseid import oidc
from helsestasjon.helseid.keys import dpop_proof, generate_ec_key

logger = logging.getLogger(__name__)

# A token is renewed this long before it expires, so it never runs out in flight.
EXPIRY_MARGIN_SECONDS = 30


class TokenUnavailable(Exception):
    """HelseID did not give the service a token (refused or unreachable)."""


@dataclass(frozen=True)
class AccessToken:
    value: str
    token_type: str
    expires_at: float


class ServiceTokenProvider:
    """Tokens for one API (one scope). ``dpop=True`` binds them to a key made for this process."""

    def __init__(self, *, scope: str, dpop: bool = False, clock=time.time):
        self.scope = scope
        self.dpop_key = generate_ec_key() if dpop else None
        self._clock = clock
        self._token: AccessToken | None = None
        self._dpop_nonce: str | None = None
        self._lock = threading.Lock()
        self.tokens_fetched = 0

    def token(self) -> AccessToken:
        with self._lock:
            if self._token is None or self._token.expires_at - EXPIRY_MARGIN_SECONDS <= self._clock():
                self._token = self._fetch()
            return self._token

    def invalidate(self, token: AccessToken) -> None:
        """Forget this token (the API refused it); a token fetched meanwhile by another thread is kept."""
        with self._lock:
            if self._token == token:
                self._token = None

    def headers(self, method: str, url: str, token: AccessToken) -> dict[str, str]:
        if token.token_type.lower() == "dpop":
            proof = dpop_proof(key=self.dpop_key, method=method, url=url, access_token=token.value)
            return {"Authorization": f"DPoP {token.value}", "DPoP": proof}
        return {"Authorization": f"Bearer {token.value}"}

    def _fetch(self) -> AccessToken:
        config = oidc.current()
        try:
            url = oidc.Authority.for_settings(config).endpoint("token_endpoint")
        except oidc.HelseIDError as exc:
            raise TokenUnavailable(str(exc)) from exc
        # One more try when HelseID asks for a DPoP nonce (use_dpop_nonce): it sends the nonce with the refusal.
        for _ in range(2):
            form = {**oidc.client_authentication(config), "grant_type": "client_credentials", "scope": self.scope}
            headers = {}
            if self.dpop_key is not None:
                headers["DPoP"] = dpop_proof(key=self.dpop_key, method="POST", url=url, nonce=self._dpop_nonce)
            try:
                response = oidc.post_form(url, form, timeout=config.timeout, headers=headers)
            except oidc.HelseIDError as exc:
                raise TokenUnavailable(str(exc)) from exc
            if response.headers.get("DPoP-Nonce"):
                self._dpop_nonce = response.headers["DPoP-Nonce"]
            if response.status_code == 400 and _error(response) == "use_dpop_nonce" and self.dpop_key is not None:
                continue
            break
        if response.status_code != 200:
            raise TokenUnavailable(f"HelseID refused a token for {self.scope}: HTTP {response.status_code} {_error(response)}")
        try:
            body = response.json()
            token = AccessToken(body["access_token"], body.get("token_type", "Bearer"),
                                self._clock() + int(body.get("expires_in", 60)))
        except (ValueError, KeyError, TypeError) as exc:
            raise TokenUnavailable(f"Unreadable token response: {exc!r}") from exc
        if self.dpop_key is not None and token.token_type.lower() != "dpop":
            raise TokenUnavailable("HelseID did not bind the token to the DPoP key")
        self.tokens_fetched += 1
        return token


def _error(response: requests.Response) -> str:
    try:
        return str(response.json().get("error", ""))
    except (ValueError, AttributeError):
        return ""


def send_with_token(session: requests.Session, provider: ServiceTokenProvider, method: str, url: str, **kwargs):
    """Send one request with a HelseID token; on 401, one fresh token and one retry."""
    extra = kwargs.pop("headers", None) or {}
    token = provider.token()
    response = session.request(method, url, headers={**extra, **provider.headers(method, url, token)}, **kwargs)
    if response.status_code != 401:
        return response
    logger.warning("%s %s answered 401; fetching a fresh HelseID token and trying once more", method, url)
    provider.invalidate(token)
    token = provider.token()
    return session.request(method, url, headers={**extra, **provider.headers(method, url, token)}, **kwargs)


_providers: dict[tuple[str, str, bool], ServiceTokenProvider] = {}
_providers_lock = threading.Lock()


def register_token_provider() -> ServiceTokenProvider | None:
    """The register client's provider, shared by the process; None when the register takes no HelseID token."""
    from django.conf import settings

    if not (settings.REGISTER_HELSEID and oidc.configured()):
        return None
    key = (settings.HELSEID_AUTHORITY, settings.REGISTER_HELSEID_SCOPE, settings.REGISTER_DPOP)
    with _providers_lock:
        if key not in _providers:
            _providers[key] = ServiceTokenProvider(scope=settings.REGISTER_HELSEID_SCOPE, dpop=settings.REGISTER_DPOP)
        return _providers[key]


def forget_providers() -> None:
    with _providers_lock:
        _providers.clear()
