"""The fake register's check of the HelseID tokens the sync sends (registry_sync/fake/server.py calls it).

An access token must be signed by the fake HelseID, unexpired, for the register's scope; a
DPoP-bound token (``cnf.jkt``) must come as ``Authorization: DPoP`` with a fresh proof of the
same key for this very request, and with ``require_dpop`` a Bearer token is refused outright.
"""

from __future__ import annotations

import threading

import requests
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError

from helsestasjon.helseid.fake.provider import OAuthError, verify_dpop_proof
from helsestasjon.helseid.keys import key_set


class AccessTokenCheck:
    def __init__(self, *, issuer: str, scope: str, require_dpop: bool = False, timeout: float = 5):
        self.issuer, self.scope, self.require_dpop, self.timeout = issuer.rstrip("/"), scope, require_dpop, timeout
        self._keys = None
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def keys(self, refresh: bool = False):
        if self._keys is None or refresh:
            document = requests.get(f"{self.issuer}/.well-known/openid-configuration/jwks", timeout=self.timeout).json()
            self._keys = key_set(document)
        return self._keys

    def __call__(self, method: str, url: str, headers) -> str | None:
        """None when the request may proceed, else why it is refused (the register answers 401)."""
        scheme, _, token = (headers.get("Authorization") or "").partition(" ")
        if scheme not in ("Bearer", "DPoP") or not token:
            return "Missing access token"
        try:
            try:
                decoded = jwt.decode(token, self.keys(), algorithms=["RS256"])
            except InvalidKeyIdError:
                decoded = jwt.decode(token, self.keys(refresh=True), algorithms=["RS256"])
            jwt.JWTClaimsRegistry(iss={"essential": True, "value": self.issuer}, exp={"essential": True}).validate(
                decoded.claims)
        except (JoseError, requests.RequestException, ValueError) as exc:
            return f"Access token refused: {exc}"
        claims = decoded.claims
        if self.scope not in str(claims.get("scope", "")).split():
            return "Access token lacks the register scope"
        jkt = (claims.get("cnf") or {}).get("jkt")
        if jkt or scheme == "DPoP" or self.require_dpop:
            if scheme != "DPoP" or not jkt:
                return "A DPoP-bound access token is required"
            try:
                thumbprint = verify_dpop_proof(headers.get("DPoP") or "", method=method, url=url, seen=self._seen,
                                               lock=self._lock, access_token=token)
            except OAuthError as exc:
                return f"DPoP proof refused: {exc.description}"
            if thumbprint != jkt:
                return "DPoP proof made with another key than the token is bound to"
        return None
