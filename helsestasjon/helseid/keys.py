"""Keys and the two kinds of JWT a HelseID client signs: client assertions and DPoP proofs."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from base64 import urlsafe_b64encode

from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey, import_key

# Asymmetric algorithms only: HelseID accepts no client secrets and no "none".
SIGNING_ALGORITHMS = ["RS256", "PS256", "ES256"]
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# HelseID refuses an assertion that lives longer than 60 seconds; ours lives for 30.
ASSERTION_LIFETIME_SECONDS = 30


def load_private_key(text: str):
    """A private key from a JWK (JSON) or a PEM text, as settings and *_FILE give it."""
    text = text.strip()
    if text.startswith("{"):
        key = import_key(json.loads(text))
    else:
        # A PKCS#8 PEM does not say whether it holds an RSA or an EC key: try both.
        try:
            key = import_key(text.encode(), "RSA")
        except Exception:  # joserfc and cryptography raise several types for the wrong key type
            key = import_key(text.encode(), "EC")
    if key.key_type not in ("RSA", "EC"):
        raise ValueError("The HelseID client key must be an RSA or EC key.")
    if not key.is_private:
        raise ValueError("The HelseID client key must be a private key.")
    return key


def default_algorithm(key) -> str:
    return key.alg or ("ES256" if key.key_type == "EC" else "RS256")


def generate_rsa_key(kid: str | None = None) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid or uuid.uuid4().hex, "use": "sig", "alg": "RS256"}, private=True)


def generate_ec_key() -> ECKey:
    return ECKey.generate_key("P-256", private=True)


def public_jwks(*keys) -> dict:
    return {"keys": [key.as_dict(private=False) for key in keys]}


def key_set(jwks: dict) -> KeySet:
    return KeySet.import_key_set(jwks)


def client_assertion(*, client_id: str, audience: str, key, now: float | None = None, lifetime: int = ASSERTION_LIFETIME_SECONDS) -> str:
    """The private_key_jwt assertion: iss = sub = client_id, aud = the authority, a unique jti, a short exp."""
    now = int(now if now is not None else time.time())
    header = {"alg": default_algorithm(key), "typ": "client-authentication+jwt"}
    if key.kid:
        header["kid"] = key.kid
    claims = {"iss": client_id, "sub": client_id, "aud": audience, "jti": uuid.uuid4().hex, "iat": now, "nbf": now,
              "exp": now + lifetime}
    return jwt.encode(header, claims, key, algorithms=SIGNING_ALGORITHMS)


def access_token_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def dpop_proof(*, key, method: str, url: str, access_token: str | None = None, nonce: str | None = None) -> str:
    """An RFC 9449 proof for one request: the public key in the header, method, URL, time, jti (and ath)."""
    header = {"typ": "dpop+jwt", "alg": default_algorithm(key), "jwk": key.as_dict(private=False)}
    header["jwk"].pop("kid", None)
    claims = {"jti": secrets.token_urlsafe(16), "htm": method.upper(), "htu": url.split("?", 1)[0].split("#", 1)[0],
              "iat": int(time.time())}
    if access_token:
        claims["ath"] = access_token_hash(access_token)
    if nonce:
        claims["nonce"] = nonce
    return jwt.encode(header, claims, key, algorithms=SIGNING_ALGORITHMS)


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    return verifier, pkce_challenge(verifier)


def pkce_challenge(verifier: str) -> str:
    return urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")
