"""The fake HelseID (../shared/spec/helseid.md, "A fake HelseID").

It checks what HelseID checks and refuses with OAuth error responses: pushed authorization
requests only, PKCE S256, registered redirect URIs, client assertions (signature with the
client's registered key, iss = sub = client id, aud = the issuer, exp at most 60 s ahead, jti
never reused), single-use codes, DPoP proofs when a client sends them. The authorize page lists
the demo personas and a security level to pick; nothing is remembered between restarts except
the keys (``ensure_keys``).

Tests can make the next ID token wrong in one way (``tamper``) to see the application refuse it.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import secrets
import threading
import time
from base64 import urlsafe_b64encode
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, import_key

from helsestasjon.fake_http import FakeHandler, FakeHTTPServer
from helsestasjon.helseid.keys import (
    CLIENT_ASSERTION_TYPE,
    SIGNING_ALGORITHMS,
    access_token_hash,
    generate_rsa_key,
    pkce_challenge,
    public_jwks,
)

logger = logging.getLogger(__name__)

MAX_ASSERTION_LIFETIME = 60
PAR_LIFETIME = 90
CODE_LIFETIME = 60
ACCESS_TOKEN_LIFETIME = 300
DPOP_MAX_AGE = 60
CLAIM_PID = "helseid://claims/identity/pid"
CLAIM_LEVEL = "helseid://claims/identity/security_level"
CLAIM_HPR = "helseid://claims/hpr/hpr_number"
CLAIM_NETWORK = "helseid://claims/identity/network"
# The ways a test can spoil the next ID token.
TAMPERS = ("wrong_iss", "wrong_aud", "expired", "bad_signature", "alg_none", "unknown_kid", "no_nonce", "wrong_nonce")


@dataclass(frozen=True)
class Persona:
    pid: str
    given_name: str
    family_name: str
    hpr_number: str = ""
    description: str = ""
    username: str = ""  # the demo user this persona is, so a re-seed keeps the same national id

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


@dataclass
class Client:
    client_id: str
    jwks: dict
    redirect_uris: list[str] = field(default_factory=list)
    post_logout_redirect_uris: list[str] = field(default_factory=list)
    scopes: list[str] = field(default_factory=list)


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400, headers: dict | None = None):
        super().__init__(f"{error}: {description}")
        self.error, self.description, self.status, self.headers = error, description, status, headers or {}


def verify_dpop_proof(proof: str, *, method: str, url: str, seen: dict[str, float], lock, access_token: str | None = None,
                      nonce: str | None = None) -> str:
    """The thumbprint of the proof's key, after checking the proof (RFC 9449, section 4.3).

    Used by the fake HelseID's token endpoint and by the fake register (``fake.resource``).
    """
    try:
        header = _unverified_header(proof)
        if header.get("typ") != "dpop+jwt" or header.get("alg") not in SIGNING_ALGORITHMS or "jwk" not in header:
            raise OAuthError("invalid_dpop_proof", "typ, alg and jwk are required")
        key = import_key(header["jwk"])
        if key.is_private:
            raise OAuthError("invalid_dpop_proof", "the proof carries a private key")
        claims = jwt.decode(proof, key, algorithms=SIGNING_ALGORITHMS).claims
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise OAuthError("invalid_dpop_proof", f"proof not verified: {exc}") from None
    now = time.time()
    if claims.get("htm") != method or claims.get("htu") != url.split("?", 1)[0]:
        raise OAuthError("invalid_dpop_proof", "htm or htu does not match the request")
    if not isinstance(claims.get("iat"), (int, float)) or abs(now - claims["iat"]) > DPOP_MAX_AGE:
        raise OAuthError("invalid_dpop_proof", "proof too old or from the future")
    if access_token is not None and claims.get("ath") != access_token_hash(access_token):
        raise OAuthError("invalid_dpop_proof", "ath does not match the access token")
    if nonce is not None and claims.get("nonce") != nonce:
        raise OAuthError("use_dpop_nonce", "a DPoP nonce is required", 400, {"DPoP-Nonce": nonce})
    with lock:
        for jti in [j for j, until in seen.items() if until < now]:
            del seen[jti]
        if not claims.get("jti") or claims["jti"] in seen:
            raise OAuthError("invalid_dpop_proof", "proof jti missing or reused")
        seen[claims["jti"]] = now + 2 * DPOP_MAX_AGE
    return key.thumbprint()


def ensure_keys(directory: Path) -> tuple[object, object]:
    """The provider's signing key and the demo client's key, generated on first start and kept in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    keys = []
    for name in ("provider_key.json", "client_key.json"):
        path = directory / name
        if not path.exists():
            path.write_text(json.dumps(generate_rsa_key().as_dict(private=True)), encoding="utf-8")
            path.chmod(0o600)
        keys.append(import_key(json.loads(path.read_text(encoding="utf-8"))))
    return keys[0], keys[1]


def load_personas(path: Path) -> list[Persona]:
    if not path.exists():
        return []
    return [Persona(**item) for item in json.loads(path.read_text(encoding="utf-8"))]


class FakeHelseID:
    """The provider's state; the HTTP handler below only translates requests into these calls."""

    def __init__(self, *, signing_key, personas: list[Persona], clients: list[Client], issuer: str = ""):
        self.signing_key = signing_key
        self.personas = list(personas)
        self.clients = {client.client_id: client for client in clients}
        self.issuer = issuer
        self.tamper: str | None = None
        # The demo reads its personas from the seeder's file at every authorize page, so a re-seed needs no restart.
        self.personas_path: Path | None = None
        self.requests: dict[str, dict] = {}
        self.codes: dict[str, dict] = {}
        self.access_tokens: dict[str, dict] = {}
        self.seen_jti: dict[str, float] = {}
        self.seen_dpop_jti: dict[str, float] = {}
        self.ended_sessions: list[str] = []
        self.token_requests = 0
        # HelseID asks for a server nonce in DPoP proofs at the token endpoint (use_dpop_nonce).
        self.require_dpop_nonce = False
        self.dpop_nonce = secrets.token_urlsafe(16)
        self._lock = threading.Lock()

    # ------------------------------------------------------------ discovery
    def discovery(self) -> dict:
        i = self.issuer
        return {
            "issuer": i,
            "jwks_uri": f"{i}/.well-known/openid-configuration/jwks",
            "authorization_endpoint": f"{i}/connect/authorize",
            "pushed_authorization_request_endpoint": f"{i}/connect/par",
            "require_pushed_authorization_requests": True,
            "token_endpoint": f"{i}/connect/token",
            "userinfo_endpoint": f"{i}/connect/userinfo",
            "end_session_endpoint": f"{i}/connect/endsession",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": SIGNING_ALGORITHMS,
            "id_token_signing_alg_values_supported": ["RS256"],
            "dpop_signing_alg_values_supported": SIGNING_ALGORITHMS,
            "authorization_response_iss_parameter_supported": True,
            "scopes_supported": ["openid", "profile", "helseid://scopes/identity/pid",
                                 "helseid://scopes/identity/security_level", "helseid://scopes/hpr/hpr_number"],
        }

    def jwks(self) -> dict:
        return public_jwks(self.signing_key)

    # ---------------------------------------------------- client assertions
    def authenticate_client(self, form: dict[str, str]) -> Client:
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE or not form.get("client_assertion"):
            raise OAuthError("invalid_client", "private_key_jwt client authentication is required", 401)
        if form.get("client_secret"):
            raise OAuthError("invalid_client", "client secrets are not accepted", 401)
        assertion = form["client_assertion"]
        client_id = form.get("client_id") or _unverified_claims(assertion).get("iss", "")
        client = self.clients.get(client_id)
        if client is None:
            raise OAuthError("invalid_client", "unknown client", 401)
        try:
            token = jwt.decode(assertion, KeySet.import_key_set(client.jwks), algorithms=SIGNING_ALGORITHMS)
        except JoseError as exc:
            raise OAuthError("invalid_client", f"client assertion not verified: {exc.error}", 401) from None
        claims, now = token.claims, time.time()
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise OAuthError("invalid_client", "iss and sub must be the client id", 401)
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.issuer not in audiences and f"{self.issuer}/connect/token" not in audiences:
            raise OAuthError("invalid_client", "aud must be the authority", 401)
        exp = claims.get("exp")
        if not isinstance(exp, (int, float)) or exp <= now:
            raise OAuthError("invalid_client", "client assertion expired", 401)
        if exp - now > MAX_ASSERTION_LIFETIME or exp - claims.get("iat", claims.get("nbf", now)) > MAX_ASSERTION_LIFETIME:
            raise OAuthError("invalid_client", "client assertion lives longer than 60 seconds", 401)
        jti = claims.get("jti")
        if not jti:
            raise OAuthError("invalid_client", "client assertion has no jti", 401)
        with self._lock:
            self._forget(self.seen_jti, now)
            if jti in self.seen_jti:
                raise OAuthError("invalid_client", "client assertion jti reused", 401)
            self.seen_jti[jti] = exp
        return client

    @staticmethod
    def _forget(seen: dict[str, float], now: float) -> None:
        for key in [k for k, until in seen.items() if until < now - MAX_ASSERTION_LIFETIME]:
            del seen[key]

    # ------------------------------------------------------------------ PAR
    def par(self, form: dict[str, str]) -> dict:
        client = self.authenticate_client(form)
        if form.get("response_type") != "code":
            raise OAuthError("unsupported_response_type", "only the authorization code flow")
        if form.get("redirect_uri") not in client.redirect_uris:
            raise OAuthError("invalid_request", "redirect_uri is not registered for the client")
        if form.get("code_challenge_method") != "S256" or not form.get("code_challenge"):
            raise OAuthError("invalid_request", "PKCE with S256 is required")
        if not form.get("state") or not form.get("nonce"):
            raise OAuthError("invalid_request", "state and nonce are required")
        scopes = form.get("scope", "").split()
        if "openid" not in scopes:
            raise OAuthError("invalid_scope", "openid is required")
        request_uri = f"urn:ietf:params:oauth:request_uri:{secrets.token_urlsafe(24)}"
        with self._lock:
            self.requests[request_uri] = {"client_id": client.client_id, "params": dict(form),
                                          "expires": time.time() + PAR_LIFETIME}
        return {"request_uri": request_uri, "expires_in": PAR_LIFETIME}

    def pushed_request(self, query: dict[str, str]) -> dict:
        if "request_uri" not in query:
            raise OAuthError("invalid_request", "authorization requests must be pushed (PAR)")
        pushed = self.requests.get(query["request_uri"])
        if pushed is None or pushed["expires"] < time.time() or pushed["client_id"] != query.get("client_id"):
            raise OAuthError("invalid_request_uri", "unknown or expired request_uri")
        return pushed

    def current_personas(self) -> list[Persona]:
        if self.personas_path is not None:
            self.personas = load_personas(self.personas_path)
        return self.personas

    def authorize(self, query: dict[str, str], persona_index: int, level: str) -> str:
        """The redirect back to the client after the user picked a persona and a security level."""
        if level not in ("3", "4"):
            raise OAuthError("invalid_request", "security level 3 or 4")
        personas = self.current_personas()
        if not 0 <= persona_index < len(personas):
            raise OAuthError("invalid_request", "pick one of the personas")
        with self._lock:
            pushed = self.pushed_request(query)
            del self.requests[query["request_uri"]]
        params = pushed["params"]
        persona = personas[persona_index]
        code = secrets.token_urlsafe(32)
        with self._lock:
            self.codes[code] = {"client_id": pushed["client_id"], "params": params, "persona": persona,
                                "level": level, "sid": secrets.token_urlsafe(16), "expires": time.time() + CODE_LIFETIME}
        answer = urlencode({"code": code, "state": params["state"], "iss": self.issuer})
        return f"{params['redirect_uri']}?{answer}"

    # ---------------------------------------------------------------- token
    def token(self, form: dict[str, str], *, dpop: str | None, url: str) -> dict:
        client = self.authenticate_client(form)
        self.token_requests += 1
        jkt = self.check_dpop_proof(dpop, "POST", url) if dpop else None
        grant = form.get("grant_type")
        if grant == "authorization_code":
            return self._code_grant(client, form, jkt)
        if grant == "client_credentials":
            scopes = form.get("scope", "").split()
            if not scopes or not set(scopes) <= set(client.scopes):
                raise OAuthError("invalid_scope", "scope not allowed for the client")
            return self._access_token_response(client, {"scope": " ".join(scopes)}, jkt)
        raise OAuthError("unsupported_grant_type", "authorization_code or client_credentials")

    def _code_grant(self, client: Client, form: dict[str, str], jkt: str | None) -> dict:
        with self._lock:
            issued = self.codes.pop(form.get("code", ""), None)
        if issued is None or issued["expires"] < time.time() or issued["client_id"] != client.client_id:
            raise OAuthError("invalid_grant", "unknown, used or expired code")
        params = issued["params"]
        if form.get("redirect_uri") != params["redirect_uri"]:
            raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request")
        if pkce_challenge(form.get("code_verifier", "")) != params["code_challenge"]:
            raise OAuthError("invalid_grant", "PKCE code_verifier does not match")
        persona: Persona = issued["persona"]
        identity = {
            # A pairwise pseudonym, as HelseID's: the national id is only in the pid claim.
            "sub": urlsafe_b64encode(hashlib.sha256(f"{persona.pid}:{client.client_id}".encode()).digest()).decode().rstrip("="),
            "name": persona.name, "given_name": persona.given_name, "family_name": persona.family_name,
            CLAIM_PID: persona.pid, CLAIM_LEVEL: issued["level"], CLAIM_NETWORK: "internett",
        }
        if persona.hpr_number:
            identity[CLAIM_HPR] = persona.hpr_number
        now = int(time.time())
        id_claims = {**identity, "iss": self.issuer, "aud": client.client_id, "iat": now, "nbf": now, "exp": now + 300,
                     "auth_time": now, "nonce": params["nonce"], "sid": issued["sid"], "amr": ["pwd"],
                     "idp": "testidp-oidc"}
        response = self._access_token_response(client, {"scope": params.get("scope", ""), "identity": identity}, jkt)
        response["id_token"] = self._id_token(id_claims)
        return response

    def _access_token_response(self, client: Client, grant: dict, jkt: str | None) -> dict:
        now = int(time.time())
        claims = {"iss": self.issuer, "client_id": client.client_id, "aud": "nhn:hgd-persontjenesten-api",
                  "scope": grant["scope"], "iat": now, "nbf": now, "exp": now + ACCESS_TOKEN_LIFETIME,
                  "jti": secrets.token_urlsafe(12),
                  "helseid://claims/client/claims/orgnr_parent": "999999999"}
        if jkt:
            claims["cnf"] = {"jkt": jkt}
        token = jwt.encode({"alg": "RS256", "kid": self.signing_key.kid, "typ": "at+jwt"}, claims, self.signing_key)
        with self._lock:
            self.access_tokens[token] = {"identity": grant.get("identity"), "expires": claims["exp"], "jkt": jkt}
        return {"access_token": token, "token_type": "DPoP" if jkt else "Bearer", "expires_in": ACCESS_TOKEN_LIFETIME,
                "scope": grant["scope"]}

    def _id_token(self, claims: dict) -> str:
        tamper, self.tamper = self.tamper, None
        header = {"alg": "RS256", "kid": self.signing_key.kid, "typ": "JWT"}
        key = self.signing_key
        if tamper == "wrong_iss":
            claims["iss"] = "https://helseid-sts.example.invalid"
        elif tamper == "wrong_aud":
            claims["aud"] = "another-client"
        elif tamper == "expired":
            claims["iat"] = claims["nbf"] = claims["auth_time"] = claims["iat"] - 3600
            claims["exp"] = claims["iat"] + 300
        elif tamper == "bad_signature":
            key = generate_rsa_key(kid=self.signing_key.kid)
        elif tamper == "unknown_kid":
            key = generate_rsa_key()
            header["kid"] = key.kid
        elif tamper == "no_nonce":
            claims.pop("nonce")
        elif tamper == "wrong_nonce":
            claims["nonce"] = secrets.token_urlsafe(16)
        elif tamper == "alg_none":
            # An unsigned token, as an attacker would send it: no library signs with "none".
            parts = [{"alg": "none", "typ": "JWT"}, claims]
            return ".".join(urlsafe_b64encode(json.dumps(p).encode()).decode().rstrip("=") for p in parts) + "."
        return jwt.encode(header, claims, key)

    # --------------------------------------------------------------- DPoP
    def check_dpop_proof(self, proof: str, method: str, url: str) -> str:
        nonce = self.dpop_nonce if self.require_dpop_nonce else None
        return verify_dpop_proof(proof, method=method, url=url, seen=self.seen_dpop_jti, lock=self._lock, nonce=nonce)

    # ------------------------------------------------- userinfo, end session
    def userinfo(self, authorization: str) -> dict:
        scheme, _, token = authorization.partition(" ")
        issued = self.access_tokens.get(token)
        if scheme not in ("Bearer", "DPoP") or issued is None or issued["expires"] < time.time() or not issued["identity"]:
            raise OAuthError("invalid_token", "unknown or expired access token", 401)
        return issued["identity"]

    def end_session(self, query: dict[str, str]) -> str:
        hint = query.get("id_token_hint", "")
        try:
            claims = jwt.decode(hint, self.signing_key, algorithms=["RS256"]).claims
        except JoseError:
            raise OAuthError("invalid_request", "id_token_hint not issued here") from None
        client = self.clients.get(claims.get("aud"))
        self.ended_sessions.append(claims.get("sid", ""))
        target = query.get("post_logout_redirect_uri", "")
        if client is None or not target or target not in client.post_logout_redirect_uris:
            return ""
        return f"{target}?{urlencode({'state': query['state']})}" if query.get("state") else target


def _segment(token: str, index: int) -> dict:
    from base64 import urlsafe_b64decode

    part = token.split(".")[index]
    return json.loads(urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _unverified_header(token: str) -> dict:
    try:
        return _segment(token, 0)
    except (ValueError, IndexError) as exc:
        raise OAuthError("invalid_request", f"not a JWT: {exc}") from None


def _unverified_claims(token: str) -> dict:
    """Only to find which client claims to be speaking; the signature is checked with that client's key next."""
    try:
        claims = _segment(token, 1)
    except (ValueError, IndexError):
        raise OAuthError("invalid_client", "client assertion is not a JWT", 401) from None
    return claims if isinstance(claims, dict) else {}


PAGE = """<!doctype html><html lang="nb"><head><meta charset="utf-8"><title>Falsk HelseID</title></head>
<body><main><h1>Falsk HelseID</h1><p>Velg hvem du vil logge inn som (kun demo og test).</p>
<form method="post" action="/connect/authorize">{hidden}
<p><label for="level">Sikkerhetsnivå</label> <select id="level" name="level">
<option value="4" selected>4 (BankID, Buypass, Commfides)</option><option value="3">3 (engangskode på SMS)</option></select></p>
<ul>{personas}</ul></form></main></body></html>"""


class Handler(FakeHandler):
    server: "FakeHelseIDServer"

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        logger.debug("fake HelseID: " + format, *args)

    def _send(self, status: int, body: bytes, content_type: str = "application/json", headers: dict | None = None):
        self.send_body(status, body, f"{content_type}; charset=utf-8", {"Cache-Control": "no-store", **(headers or {})})

    def _json(self, payload, status: int = 200):
        self._send(status, json.dumps(payload).encode())

    def _redirect(self, location: str):
        self._send(302, b"", "text/plain", {"Location": location})

    def do_GET(self):  # noqa: N802
        self._dispatch("GET")

    def do_POST(self):  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str):
        provider = self.server.provider
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        path = parts.path.rstrip("/") or "/"
        try:
            if method == "GET" and path == "/.well-known/openid-configuration":
                return self._json(provider.discovery())
            if method == "GET" and path == "/.well-known/openid-configuration/jwks":
                return self._json(provider.jwks())
            if method == "POST" and path == "/connect/par":
                return self._json(provider.par(form), 201)
            if method == "GET" and path == "/connect/authorize":
                provider.pushed_request(query)
                return self._send(200, self._page(query).encode(), "text/html")
            if method == "POST" and path == "/connect/authorize":
                return self._redirect(provider.authorize(form, int(form.get("persona", "-1")), form.get("level", "4")))
            if method == "POST" and path == "/connect/token":
                url = f"{provider.issuer}/connect/token"
                return self._json(provider.token(form, dpop=self.headers.get("DPoP"), url=url))
            if path == "/connect/userinfo":
                return self._json(provider.userinfo(self.headers.get("Authorization", "")))
            if method == "GET" and path == "/connect/endsession":
                target = provider.end_session(query)
                if target:
                    return self._redirect(target)
                return self._send(200, "<!doctype html><p>Du er logget ut av HelseID.</p>".encode(), "text/html")
            raise OAuthError("not_found", "no such endpoint", 404)
        except OAuthError as error:
            logger.info("fake HelseID refused %s %s: %s", method, path, error)
            body = json.dumps({"error": error.error, "error_description": error.description}).encode()
            self._send(error.status, body, headers=error.headers)
        except (ValueError, IndexError):
            self._json({"error": "invalid_request", "error_description": "malformed request"}, 400)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _page(self, query: dict[str, str]) -> str:
        hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in query.items() if k in ("client_id", "request_uri"))
        personas = "".join(
            f'<li><button type="submit" name="persona" value="{index}">Logg inn som {html.escape(p.name)}</button>'
            f' {html.escape(p.description)}</li>'
            for index, p in enumerate(self.server.provider.current_personas())
        )
        return PAGE.format(hidden=hidden, personas=personas)


class FakeHelseIDServer(FakeHTTPServer):
    thread_name = "fake-helseid"

    def __init__(self, provider: FakeHelseID, host: str = "127.0.0.1", port: int = 0):
        self.provider = provider
        super().__init__((host, port), Handler)
        if not provider.issuer:
            provider.issuer = self.base_url
