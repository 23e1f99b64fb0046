"""The relying party: start a login with PAR + PKCE, finish it by exchanging the code, validate the ID token.

Every JOSE operation is joserfc's; this module decides what is accepted. HTTP goes through
``requests`` with a timeout. Discovery is cached for an hour; the JWKS is cached and fetched
again when a token names a key we do not know (key rotation), at most once every 30 seconds.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlencode

import requests
from django.conf import settings
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError

from helsestasjon.helseid.keys import CLIENT_ASSERTION_TYPE, client_assertion, key_set, load_private_key, pkce_pair

CLAIM_PID = "helseid://claims/identity/pid"
CLAIM_LEVEL = "helseid://claims/identity/security_level"
CLAIM_HPR = "helseid://claims/hpr/hpr_number"
# HelseID signs ID tokens with RS256; anything else (and "none") is refused before any key is tried.
ID_TOKEN_ALGORITHMS = ["RS256", "PS256", "ES256"]
DISCOVERY_TTL_SECONDS = 3600
JWKS_REFETCH_MIN_SECONDS = 30


class HelseIDError(Exception):
    """HelseID could not be reached or answered something we cannot use (the user may try again)."""


class TokenRejected(Exception):
    """A token, state or answer that fails validation: a refusal, never retried."""


@dataclass(frozen=True)
class Settings:
    authority: str
    client_id: str
    key_text: str
    scopes: str
    required_level: int
    leeway: int
    timeout: int

    @property
    def key(self):
        return _key(self.key_text)


def configured() -> bool:
    return bool(settings.HELSEID_AUTHORITY)


def current() -> Settings:
    return Settings(
        authority=settings.HELSEID_AUTHORITY.rstrip("/"),
        client_id=settings.HELSEID_CLIENT_ID,
        key_text=settings.HELSEID_PRIVATE_KEY,
        scopes=settings.HELSEID_SCOPES,
        required_level=settings.HELSEID_REQUIRED_SECURITY_LEVEL,
        leeway=settings.HELSEID_LEEWAY_SECONDS,
        timeout=settings.HELSEID_TIMEOUT_SECONDS,
    )


@lru_cache(maxsize=4)
def _key(text: str):
    return load_private_key(text)


class Authority:
    """An authority's discovery document and keys, shared by every request of the process."""

    _instances: dict[str, "Authority"] = {}
    _instances_lock = threading.Lock()

    def __init__(self, issuer: str, timeout: int):
        self.issuer, self.timeout = issuer, timeout
        self._metadata: dict | None = None
        self._metadata_at = 0.0
        self._jwks = None
        self._jwks_at = 0.0
        self._lock = threading.Lock()

    @classmethod
    def for_settings(cls, config: Settings) -> "Authority":
        with cls._instances_lock:
            authority = cls._instances.get(config.authority)
            if authority is None:
                authority = cls._instances[config.authority] = cls(config.authority, config.timeout)
            return authority

    @classmethod
    def forget_all(cls) -> None:
        with cls._instances_lock:
            cls._instances.clear()

    def metadata(self) -> dict:
        # Fetched outside the lock: two threads may both fetch after expiry, and either answer is right.
        if self._metadata is None or time.time() - self._metadata_at > DISCOVERY_TTL_SECONDS:
            document = _get_json(f"{self.issuer}/.well-known/openid-configuration", self.timeout)
            if document.get("issuer") != self.issuer:
                raise HelseIDError("The discovery document names another issuer.")
            with self._lock:
                self._metadata, self._metadata_at = document, time.time()
        return self._metadata

    def keys(self, *, refresh: bool = False):
        jwks = self._jwks
        if jwks is not None and not (refresh and time.time() - self._jwks_at > JWKS_REFETCH_MIN_SECONDS):
            return jwks
        document = _get_json(self.endpoint("jwks_uri"), self.timeout)
        try:
            jwks = key_set(document)
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise HelseIDError(f"The JWKS cannot be read: {exc}") from exc
        with self._lock:
            self._jwks, self._jwks_at = jwks, time.time()
        return jwks

    def endpoint(self, name: str) -> str:
        try:
            return self.metadata()[name]
        except KeyError:
            raise HelseIDError(f"The discovery document has no {name}.") from None


def _get_json(url: str, timeout: int) -> dict:
    try:
        response = requests.get(url, timeout=timeout, headers={"Accept": "application/json"})
        response.raise_for_status()
        document = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise HelseIDError(f"GET {url}: {exc.__class__.__name__}") from exc
    if not isinstance(document, dict):
        raise HelseIDError(f"GET {url}: not a JSON object")
    return document


def client_authentication(config: Settings) -> dict[str, str]:
    """The private_key_jwt form fields for one call to the authority (a new jti every time)."""
    return {
        "client_id": config.client_id,
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": client_assertion(client_id=config.client_id, audience=config.authority, key=config.key),
    }


def post_form(url: str, form: dict[str, str], *, timeout: int, headers: dict | None = None) -> requests.Response:
    try:
        return requests.post(url, data=form, timeout=timeout, headers={"Accept": "application/json", **(headers or {})})
    except requests.RequestException as exc:
        raise HelseIDError(f"POST {url}: {exc.__class__.__name__}") from exc


@dataclass(frozen=True)
class PendingLogin:
    """What the session keeps between sending the user to HelseID and the user coming back."""

    state: str
    nonce: str
    code_verifier: str
    redirect_uri: str
    next_url: str
    created: float

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def login_start(*, redirect_uri: str, next_url: str) -> tuple[str, PendingLogin]:
    """Push the authorization request (PAR) and return the URL to send the browser to."""
    config = current()
    authority = Authority.for_settings(config)
    verifier, challenge = pkce_pair()
    pending = PendingLogin(state=secrets.token_urlsafe(24), nonce=secrets.token_urlsafe(24), code_verifier=verifier,
                           redirect_uri=redirect_uri, next_url=next_url, created=time.time())
    form = {
        **client_authentication(config),
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": config.scopes,
        "state": pending.state,
        "nonce": pending.nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "prompt": "login",
    }
    response = post_form(authority.endpoint("pushed_authorization_request_endpoint"), form, timeout=config.timeout)
    if response.status_code not in (200, 201):
        raise HelseIDError(f"PAR refused: HTTP {response.status_code} {_error_of(response)}")
    try:
        request_uri = response.json()["request_uri"]
    except (ValueError, KeyError, TypeError):
        raise HelseIDError("PAR answer without request_uri") from None
    query = urlencode({"client_id": config.client_id, "request_uri": request_uri})
    return f"{authority.endpoint('authorization_endpoint')}?{query}", pending


def login_finish(*, pending: PendingLogin, code: str, issuer_parameter: str | None) -> tuple[dict, str]:
    """Exchange the code (with the PKCE verifier) and return the validated ID token's claims and the raw token."""
    config = current()
    authority = Authority.for_settings(config)
    # RFC 9207: the iss parameter names who issued the code (mix-up attacks).
    if issuer_parameter is not None and issuer_parameter != config.authority:
        raise TokenRejected("the authorization response names another issuer")
    form = {**client_authentication(config), "grant_type": "authorization_code", "code": code,
            "redirect_uri": pending.redirect_uri, "code_verifier": pending.code_verifier}
    response = post_form(authority.endpoint("token_endpoint"), form, timeout=config.timeout)
    if response.status_code == 400:
        raise TokenRejected(f"token endpoint refused the code: {_error_of(response)}")
    if response.status_code != 200:
        raise HelseIDError(f"token endpoint: HTTP {response.status_code}")
    try:
        id_token = response.json()["id_token"]
    except (ValueError, KeyError, TypeError):
        raise TokenRejected("token response without id_token") from None
    return validate_id_token(id_token, nonce=pending.nonce, config=config, authority=authority), id_token


def validate_id_token(id_token: str, *, nonce: str, config: Settings, authority: Authority) -> dict:
    try:
        try:
            token = jwt.decode(id_token, authority.keys(), algorithms=ID_TOKEN_ALGORITHMS)
        except InvalidKeyIdError:
            # A key we have not seen: HelseID may have rotated its keys since we last fetched them.
            token = jwt.decode(id_token, authority.keys(refresh=True), algorithms=ID_TOKEN_ALGORITHMS)
        registry = jwt.JWTClaimsRegistry(
            leeway=config.leeway,
            iss={"essential": True, "value": config.authority},
            aud={"essential": True, "value": config.client_id},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        registry.validate(token.claims)
    except JoseError as exc:
        raise TokenRejected(f"ID token refused: {exc.error} {exc.description or ''}".strip()) from None
    claims = token.claims
    if isinstance(claims.get("aud"), list) and len(claims["aud"]) > 1 and claims.get("azp") != config.client_id:
        raise TokenRejected("ID token for several audiences without our azp")
    if claims["iat"] > time.time() + config.leeway:
        raise TokenRejected("ID token issued in the future")
    return claims


def end_session_url(*, id_token: str, post_logout_redirect_uri: str) -> str | None:
    """Where to send the browser so HelseID ends its session too (None when the authority cannot be asked)."""
    try:
        endpoint = Authority.for_settings(current()).endpoint("end_session_endpoint")
    except HelseIDError:
        return None
    query = urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": post_logout_redirect_uri,
                       "state": secrets.token_urlsafe(12)})
    return f"{endpoint}?{query}"


def _error_of(response: requests.Response) -> str:
    try:
        body = response.json()
        return f"{body.get('error', '')} {body.get('error_description', '')}".strip()
    except ValueError:
        return ""
