"""The SvarUt REST v3 client: send a letter to a person, read statuses (../shared/spec/digital-post.md).

One small client for the real service and the fake alike (followup/letters/svarut/fake.py): base
URL, account (kontoId), the token provider, timeouts and retries are settings. It speaks the
protocol of KS's published OpenAPI v3 description (followup/letters/svarut/svarut-v3.yaml holds the
routes used): a ``multipart/form-data`` send with the ``forsendelse`` JSON part and the PDF parts in
the order of its ``dokumenter`` metadata, and a JSON status call by forsendelse ids.

Exactly once: the status route and the status poll may be repeated freely, a send may not. A send
is retried in place only when SvarUt said it did not take it (429, 503 with or without
``Retry-After``) or when no connection was made; any other failure after the request went out (a
timeout, a dropped connection, another 5xx) is ``SvarUtAnswerLost``: the forsendelse may exist, and
the caller resolves it by ``eksternReferanse`` (``lookup_external_reference``), never by sending
again. Every answer that is not the shape the interface promises is a ``SvarUtProtocolError``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

import requests
from django.utils.translation import gettext

from followup.letters.svarut.choices import DeliveryStatus

logger = logging.getLogger(__name__)

MAX_RETRY_AFTER_SECONDS = 60
MAX_STATUS_IDS = 100
STATUSES = frozenset(DeliveryStatus.values)


class SvarUtError(Exception):
    """SvarUt could not give a usable answer. ``str()`` is a Norwegian message for the clerk."""


class SvarUtUnavailable(SvarUtError):
    """429, 5xx or timeouts that outlasted the retries, or no connection: nothing was taken."""


class SvarUtRefused(SvarUtError):
    """4xx other than 429: the same request cannot succeed (the letter needs a person)."""


class SvarUtProtocolError(SvarUtError):
    """An answer that is not what the interface promises (malformed JSON, a missing or bad id)."""


class SvarUtAnswerLost(SvarUtError):
    """A send went out and no usable answer came: the forsendelse may or may not exist."""


@dataclass(frozen=True)
class Recipient:
    name: str
    national_id: str = ""  # digitalId: needed for digital delivery
    address_lines: tuple[str, ...] = ()  # needed for delivery by post
    postal_code: str = ""
    city: str = ""


@dataclass(frozen=True)
class Status:
    forsendelse_id: uuid.UUID
    status: str
    changed_at: datetime


# ----------------------------------------------------------------------------- tokens


class StaticToken:
    """A bearer token from settings (the fake, or a token minted elsewhere)."""

    def __init__(self, token: str):
        self._token = token

    def token(self) -> str:
        return self._token

    def invalidate(self) -> None:
        pass


class MaskinportenTokenProvider:
    """A Maskinporten access token for the municipality's organisation (JWT grant, RFC 7523).

    The assertion is signed with the organisation's key (iss = client id, aud = Maskinporten's
    issuer, the scope KS gives SvarUt); the token is kept until shortly before it expires and
    fetched again after a 401."""

    GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"

    def __init__(self, *, token_url: str, audience: str, client_id: str, key, scope: str, timeout: float = 10,
                 session: requests.Session | None = None, clock=time.time):
        self.token_url, self.audience, self.client_id, self.key, self.scope = token_url, audience, client_id, key, scope
        self.timeout = timeout
        self.session = session or requests.Session()
        self._clock = clock
        self._lock = threading.Lock()
        self._token: tuple[str, float] | None = None

    def _assertion(self) -> str:
        from joserfc import jwt

        from helsestasjon.helseid.keys import default_algorithm

        now = int(self._clock())
        header = {"alg": default_algorithm(self.key)}
        if self.key.kid:
            header["kid"] = self.key.kid
        claims = {"iss": self.client_id, "aud": self.audience, "scope": self.scope, "iat": now, "exp": now + 120,
                  "jti": uuid.uuid4().hex}
        return jwt.encode(header, claims, self.key)

    def token(self) -> str:
        with self._lock:
            if self._token and self._token[1] > self._clock() + 30:
                return self._token[0]
            try:
                response = self.session.post(self.token_url, data={"grant_type": self.GRANT, "assertion": self._assertion()},
                                             timeout=self.timeout)
            except requests.RequestException as exc:
                raise SvarUtUnavailable(gettext("Fikk ikke tilgangsnøkkel fra Maskinporten.")) from exc
            try:
                data = response.json()
                token, lifetime = data["access_token"], int(data.get("expires_in", 120))
                if response.status_code != 200 or not isinstance(token, str) or not token:
                    raise ValueError(response.status_code)
            except (ValueError, KeyError, TypeError) as exc:
                raise SvarUtRefused(gettext("Maskinporten ga ingen tilgangsnøkkel for SvarUt.")) from exc
            self._token = (token, self._clock() + lifetime)
            return token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None


# ----------------------------------------------------------------------------- the client


class SvarUtClient:
    def __init__(self, base_url: str, *, account: str, token_provider=None, external_reference_url: str = "",
                 timeout: float = 10, send_timeout: float = 60, max_attempts: int = 4, backoff_seconds: float = 0.5,
                 system: str = "helsestasjon", session: requests.Session | None = None, sleep=time.sleep):
        self.base_url = base_url.rstrip("/")
        self.account = account
        self.tokens = token_provider or StaticToken("")
        self.external_reference_url = external_reference_url.rstrip("/")
        self.timeout, self.send_timeout = timeout, send_timeout
        self.max_attempts, self.backoff_seconds = max(1, max_attempts), backoff_seconds
        self.system = system
        self.session = session or requests.Session()
        self._sleep = sleep

    @classmethod
    def from_settings(cls, **kwargs) -> "SvarUtClient":
        from django.conf import settings

        values = dict(
            account=settings.SVARUT_ACCOUNT, token_provider=token_provider_from_settings(),
            external_reference_url=settings.SVARUT_EXTERNAL_REFERENCE_URL, timeout=settings.SVARUT_TIMEOUT_SECONDS,
            send_timeout=settings.SVARUT_SEND_TIMEOUT_SECONDS, max_attempts=settings.SVARUT_MAX_ATTEMPTS,
            backoff_seconds=settings.SVARUT_BACKOFF_SECONDS,
        )
        values.update(kwargs)
        return cls(settings.SVARUT_BASE_URL, **values)

    # ------------------------------------------------------------------ plumbing
    def _headers(self) -> dict[str, str]:
        token = self.tokens.token()
        return {"Authorization": f"Bearer {token}", "Accept": "application/json"} if token else {"Accept": "application/json"}

    def _retry_or_raise(self, exc: requests.RequestException, *, idempotent: bool, attempt: int) -> None:
        """A request that got no answer: returns when another attempt is safe and allowed, else raises.
        A connection refused before anything was sent is safe to retry; one dropped mid-answer, or a
        timeout, is not for a request that is not idempotent (SvarUt may have taken it)."""
        if isinstance(exc, requests.ConnectionError):  # first: a connect timeout is both
            refused = "NewConnectionError" in repr(exc) or "refused" in str(exc).lower()
            safe = idempotent or refused
            lost, unavailable = gettext("Forbindelsen til SvarUt ble brutt før svaret kom."), gettext("SvarUt svarer ikke.")
        else:
            safe = idempotent
            lost = unavailable = gettext("SvarUt svarte ikke i tide.")
        if not safe:
            raise SvarUtAnswerLost(lost) from exc
        if attempt >= self.max_attempts:
            raise SvarUtUnavailable(unavailable) from exc

    def _request(self, method: str, url: str, *, idempotent: bool, timeout: float, **kwargs) -> requests.Response:
        """Send with retries. A non-idempotent request is retried only where nothing was taken."""
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            delay = self.backoff_seconds * (2 ** (attempt - 1))
            try:
                response = self.session.request(method, url, headers=self._headers(), timeout=timeout, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                self._retry_or_raise(exc, idempotent=idempotent, attempt=attempt)
                self._sleep(delay)
                continue
            except requests.RequestException as exc:
                raise SvarUtAnswerLost(gettext("Feil i forbindelsen til SvarUt.")) from exc
            status = response.status_code
            if status == 401 and not refreshed:
                # An expired or revoked token: fetch a new one once (nothing was taken on a 401).
                refreshed = True
                self.tokens.invalidate()
                attempt -= 1
                continue
            if status == 429 or status == 503 or (idempotent and status >= 500):
                if attempt >= self.max_attempts:
                    raise SvarUtUnavailable(gettext("SvarUt er overbelastet eller utilgjengelig (HTTP %(status)s).") % {"status": status})
                retry_after = _retry_after(response.headers.get("Retry-After"))
                if retry_after > MAX_RETRY_AFTER_SECONDS:
                    raise SvarUtUnavailable(gettext("SvarUt ber om at vi venter før neste forsøk."))
                self._sleep(max(delay, retry_after))
                continue
            if status >= 500:
                raise SvarUtAnswerLost(gettext("SvarUt svarte med en feil (HTTP %(status)s) etter å ha fått brevet.") % {"status": status})
            if status >= 400:
                raise SvarUtRefused(gettext("SvarUt avviste forespørselen (HTTP %(status)s): %(message)s")
                                    % {"status": status, "message": _error_message(response)})
            return response

    # ------------------------------------------------------------------ the API
    def send_to_person(self, *, title: str, recipient: Recipient, external_reference: str, pdf: bytes, filename: str,
                       correlation_id: str = "") -> uuid.UUID:
        """POST /v3/kontoer/{kontoId}/forsendelser/person: the new forsendelse's id."""
        mottaker: dict = {"navn": recipient.name[:250]}
        if recipient.national_id:
            mottaker["digitalId"] = recipient.national_id
        if recipient.address_lines:
            address = {f"adresselinje{i}": line for i, line in enumerate(recipient.address_lines[:3], start=1)}
            address.update(postnummer=recipient.postal_code, poststed=recipient.city)
            mottaker["adresse"] = address
        forsendelse = {
            "tittel": title[:1000],
            "mottaker": mottaker,
            "eksternReferanse": external_reference[:100],
            "avgivendeSystem": self.system[:100],
            # Never kunDigitalLevering: the ladder depends on every letter being delivered (print if need be).
            "kunDigitalLevering": False,
            "sikkerhetsniva": "BETYDELIG",
            "dokumenter": [{"filnavn": filename, "mimeType": "application/pdf"}],
        }
        if correlation_id:
            forsendelse["korrelasjonsid"] = correlation_id[:100]
        files = [
            ("forsendelse", (None, json.dumps(forsendelse, ensure_ascii=False).encode(), "application/json")),
            ("dokumenter", (filename, pdf, "application/pdf")),
        ]
        url = f"{self.base_url}/v3/kontoer/{quote(self.account)}/forsendelser/person"
        response = self._request("POST", url, idempotent=False, timeout=self.send_timeout, files=files)
        try:
            return _uuid(_json(response)["id"])
        except (KeyError, TypeError, SvarUtProtocolError) as exc:
            # SvarUt answered 200, so it took the forsendelse, but we cannot read its id.
            raise SvarUtAnswerLost(gettext("SvarUt tok imot brevet, men svaret kunne ikke leses.")) from exc

    def statuses(self, forsendelse_ids) -> list[Status]:
        """POST /v3/kontoer/{kontoId}/forsendelser/status with ``{"id": [...]}`` (at most 100 per call)."""
        ids = [str(i) for i in forsendelse_ids]
        result: list[Status] = []
        for start in range(0, len(ids), MAX_STATUS_IDS):
            chunk = ids[start : start + MAX_STATUS_IDS]
            url = f"{self.base_url}/v3/kontoer/{quote(self.account)}/forsendelser/status"
            response = self._request("POST", url, idempotent=True, timeout=self.timeout, json={"id": chunk})
            data = _json(response)
            if not isinstance(data, dict) or not isinstance(data.get("statuser"), list):
                raise SvarUtProtocolError(gettext("SvarUt ga statuser i et format vi ikke kjenner."))
            for item in data["statuser"]:
                result.append(_status(item))
        return result

    def lookup_external_reference(self, reference: str) -> list[uuid.UUID] | None:
        """The forsendelse ids with this eksternReferanse, through KS's documented lookup
        (ForsendelseRestServiceV1: GET /eksternref/{eksternref}); None when no lookup is configured."""
        if not self.external_reference_url:
            return None
        url = f"{self.external_reference_url}/eksternref/{quote(reference, safe='')}"
        data = _json(self._request("GET", url, idempotent=True, timeout=self.timeout))
        if not isinstance(data, list):
            raise SvarUtProtocolError(gettext("SvarUt ga et oppslag i et format vi ikke kjenner."))
        return [_uuid(item.get("id") if isinstance(item, dict) else item) for item in data]


def _json(response: requests.Response):
    try:
        return response.json()
    except ValueError as exc:
        raise SvarUtProtocolError(gettext("SvarUt ga et svar som ikke kan leses.")) from exc


def _uuid(value) -> uuid.UUID:
    if not isinstance(value, str):
        raise SvarUtProtocolError(gettext("SvarUt ga ingen gyldig forsendelse-ID."))
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise SvarUtProtocolError(gettext("SvarUt ga ingen gyldig forsendelse-ID.")) from exc


def _status(item) -> Status:
    if not isinstance(item, dict):
        raise SvarUtProtocolError(gettext("SvarUt ga en status i et format vi ikke kjenner."))
    status = item.get("status")
    if status not in STATUSES:
        raise SvarUtProtocolError(gettext("SvarUt ga en ukjent status."))
    changed = item.get("sisteStatusEndring")
    try:
        changed_at = datetime.fromisoformat(changed.replace("Z", "+00:00"))
    except (AttributeError, ValueError) as exc:
        raise SvarUtProtocolError(gettext("SvarUt ga et ugyldig tidspunkt for en status.")) from exc
    if changed_at.tzinfo is None or not 2000 <= changed_at.year <= 2200:
        raise SvarUtProtocolError(gettext("SvarUt ga et ugyldig tidspunkt for en status."))
    return Status(forsendelse_id=_uuid(item.get("id")), status=status, changed_at=changed_at)


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


def _error_message(response: requests.Response) -> str:
    try:
        data = response.json()
        return str(data.get("message") or data.get("error") or "")[:200]
    except (ValueError, AttributeError):
        return ""


def token_provider_from_settings():
    from django.conf import settings

    if settings.SVARUT_MASKINPORTEN_TOKEN_URL:
        from helsestasjon.helseid.keys import load_private_key

        return MaskinportenTokenProvider(
            token_url=settings.SVARUT_MASKINPORTEN_TOKEN_URL, audience=settings.SVARUT_MASKINPORTEN_AUDIENCE,
            client_id=settings.SVARUT_MASKINPORTEN_CLIENT_ID, key=load_private_key(settings.SVARUT_MASKINPORTEN_KEY),
            scope=settings.SVARUT_MASKINPORTEN_SCOPE, timeout=settings.SVARUT_TIMEOUT_SECONDS,
        )
    return StaticToken(settings.SVARUT_TOKEN)
