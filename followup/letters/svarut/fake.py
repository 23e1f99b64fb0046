"""A fake KS SvarUt over real HTTP (stdlib ``ThreadingHTTPServer``), for the demo and the tests.

Serves what the client uses of SvarUt REST v3 (followup/letters/svarut/svarut-v3.yaml, written from
KS's published OpenAPI files) under ``/api``, KS's lookup by eksternReferanse under
``/tjenester/api/forsendelse/v1``, a Maskinporten-style token endpoint under ``/_maskinporten/token``
and its own control API under ``/_admin/``.

As strict as SvarUt where a client could get it wrong: a bearer token it issued (or the configured
static one), the account (kontoId) as a UUID it knows, a ``multipart/form-data`` body with one
``forsendelse`` JSON part (``PersonForsendelse``: ``tittel`` and ``mottaker.navn`` required, the
lengths KS gives) and the document parts in the order and with the file names of its ``dokumenter``
metadata, PDF only for a letter that may be printed. Refusals are KS ``ErrorMessage`` documents.

Delivery follows the recipient's contact-register (KRR) data, read from the fake register: a
digital mailbox (``digitalPost``) gives SENDT_SDP → LEVERT_SDP (→ LEST); an active, unreserved
record without one gives SENDT_DIGITALT → VARSLET → LEST, or, when nobody reads it within
40 hours, SENDT_PRINT → PRINTET; anybody else is printed (SENDT_PRINT → PRINTET), and a
forsendelse without an address that must be printed ends IKKE_LEVERT. Times run on a clock the
tests (and ``manage.py fake_svarut_clock``) move. Faults: a status (429 with ``Retry-After``, 5xx),
a slow answer (a timeout), an answer lost after the forsendelse was accepted, garbage.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import logging
import re
import secrets
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote

import requests

from helsestasjon.fake_http import FakeHandler, FakeHTTPServer

logger = logging.getLogger(__name__)

API = "/api"
LOOKUP = "/tjenester/api/forsendelse/v1"
PRINT_FALLBACK = timedelta(hours=40)
DEFAULT_READ_AFTER = timedelta(hours=2)
_FORBIDDEN_FILENAME = re.compile(r'[*:"\\/<>|?]')
_ROUTE = re.compile(r"^/v3/kontoer/(?P<account>[^/]+)/forsendelser/(?P<what>person|status)$")


class _Problem(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def krr_from_register(register):
    """The contact-register record of a national id, from an in-process fake register."""
    from registry_sync.fake.store import UnknownPerson

    def lookup(nin: str):
        try:
            return register.person(register.person_id_for(nin)).get("commonContactRegisterInformation")
        except UnknownPerson:
            return None

    return lookup


def krr_from_url(admin_url: str):
    """The same, from a fake register in another process (its ``/_admin/person``)."""

    def lookup(nin: str):
        try:
            response = requests.post(f"{admin_url.rstrip('/')}/person", json={"nin": nin}, timeout=5)
        except requests.RequestException:
            return None
        return response.json().get("commonContactRegisterInformation") if response.status_code == 200 else None

    return lookup


class FakeSvarUt:
    """The fake's state: what it received, the clock, the readers, the faults."""

    def __init__(self, *, account: str, token: str = "", krr=None, maskinporten_client_id: str = ""):
        self.account = account.lower()
        self.static_token = token
        self.maskinporten_client_id = maskinporten_client_id
        self.issued_tokens: set[str] = set()
        self.krr = krr or (lambda nin: self.krr_records.get(nin))
        self.krr_records: dict[str, dict] = {}
        self.lock = threading.Lock()
        self.offset = timedelta(0)
        self.forsendelser: dict[str, dict] = {}
        self.by_reference: dict[str, list[str]] = {}
        # nin -> hours until read, or None: never reads.
        self.readers: dict[str, float | None] = {}
        self.faults: list[dict] = []
        self.exchanges: list[dict] | None = None

    # ---------------------------------------------------------------- clock
    def now(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def advance(self, delta: timedelta) -> datetime:
        with self.lock:
            self.offset += delta
        return self.now()

    # ---------------------------------------------------------------- faults
    def add_fault(self, kind: str, *, count: int = 1, path: str = "", **options) -> None:
        """kind: "status" (status=, retry_after=), "slow" (seconds=, before taking it), "slow_answer"
        (seconds=, after taking it), "lose_answer", "garbage"."""
        with self.lock:
            self.faults.extend({"kind": kind, "path": path, **options} for _ in range(count))

    def take_fault(self, path: str) -> dict | None:
        with self.lock:
            for i, fault in enumerate(self.faults):
                if fault["path"] in path:
                    return self.faults.pop(i)
        return None

    # ---------------------------------------------------------------- sending
    def _timeline(self, t0: datetime, recipient: dict, nin: str) -> tuple[str, list[tuple[str, datetime]]]:
        minute = timedelta(minutes=1)
        has_address = bool((recipient.get("adresse") or {}).get("adresselinje1") and (recipient.get("adresse") or {}).get("postnummer"))
        printed = "PRINTET" if has_address else "IKKE_LEVERT"
        contact = self.krr(nin) if nin else None
        read_after = self.readers.get(nin, DEFAULT_READ_AFTER.total_seconds() / 3600)
        events = [("MOTTATT", t0), ("AKSEPTERT", t0 + timedelta(seconds=1))]
        if contact and contact.get("status") == "Active" and contact.get("reservation") != "Yes":
            if contact.get("digitalPost"):
                events += [("SENDT_SDP", t0 + minute), ("LEVERT_SDP", t0 + 2 * minute)]
                if read_after is not None:
                    events.append(("LEST", t0 + max(3 * minute, timedelta(hours=read_after))))
                return "sdp", events
            events += [("SENDT_DIGITALT", t0 + minute), ("VARSLET", t0 + 2 * minute)]
            if read_after is not None and timedelta(hours=read_after) < PRINT_FALLBACK:
                events.append(("LEST", t0 + max(3 * minute, timedelta(hours=read_after))))
                return "digital", events
            events += [("SENDT_PRINT", t0 + PRINT_FALLBACK), (printed, t0 + PRINT_FALLBACK + timedelta(hours=1))]
            return "digital", events
        events += [("SENDT_PRINT", t0 + minute), (printed, t0 + timedelta(hours=1))]
        return "print", events

    def receive(self, forsendelse: dict, documents: list[tuple[str, str, bytes]]) -> str:
        t0 = self.now()
        recipient = forsendelse["mottaker"]
        nin = recipient.get("digitalId") or ""
        route, events = self._timeline(t0, recipient, nin)
        if any(not body.startswith(b"%PDF") for _, _, body in documents):
            route, events = "rejected", [("MOTTATT", t0), ("AVVIST", t0 + timedelta(seconds=1))]
        forsendelse_id = str(uuid.uuid4())
        with self.lock:
            self.forsendelser[forsendelse_id] = {
                "id": forsendelse_id, "eksternReferanse": forsendelse.get("eksternReferanse", ""), "route": route,
                "events": events, "tittel": forsendelse["tittel"], "mottaker": recipient,
                "documents": [(name, mime, len(body)) for name, mime, body in documents], "received": t0.isoformat(),
            }
            self.by_reference.setdefault(forsendelse.get("eksternReferanse", ""), []).append(forsendelse_id)
        return forsendelse_id

    def status_of(self, forsendelse_id: str) -> dict | None:
        item = self.forsendelser.get(forsendelse_id)
        if item is None:
            return None
        now = self.now()
        status, at = item["events"][0]
        for name, when in item["events"]:
            if when <= now:
                status, at = name, when
        return {"id": forsendelse_id, "status": status, "sisteStatusEndring": at.isoformat(timespec="milliseconds")}

    def received(self) -> dict:
        """The control view: every forsendelse and how many each eksternReferanse got."""
        with self.lock:
            return {
                "forsendelser": [{k: v for k, v in f.items() if k != "events"} | {"status": self.status_of(f["id"])["status"]}
                                 for f in self.forsendelser.values()],
                "per_reference": {ref: len(ids) for ref, ids in self.by_reference.items()},
            }

    def token_valid(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer "):
            return not (self.static_token or self.maskinporten_client_id)
        token = header[len("Bearer "):]
        return token in self.issued_tokens or (bool(self.static_token) and token == self.static_token)


def _error(status: int, message: str, path: str) -> bytes:
    error = {
        "timestamp": int(time.time() * 1000), "status": status, "error": {400: "Bad Request", 401: "Unauthorized",
        404: "Not Found", 429: "Too Many Requests"}.get(status, "Error"), "errorId": str(uuid.uuid4()),
        "path": path, "originalPath": path, "message": message,
    }
    if status >= 500:
        error["errorCode"] = "INTERNAL"
    return json.dumps(error, ensure_ascii=False).encode()


class Handler(FakeHandler):
    server: "FakeSvarUtServer"

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        logger.debug("fake SvarUt: " + format, *args)

    def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self.send_body(status, body, "application/json;charset=UTF-8", headers)

    def do_GET(self):  # noqa: N802
        self._dispatch("GET")

    def do_POST(self):  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        svarut = self.server.svarut
        path = self.path.partition("?")[0]
        length = int(self.headers.get("Content-Length") or 0)
        self._raw = self.rfile.read(length) if length else b""
        try:
            if path.startswith("/_admin/"):
                try:
                    answer = self._admin(path[len("/_admin/"):], method)
                except (KeyError, TypeError, ValueError) as exc:
                    raise _Problem(400, f"Bad control request: {exc}") from None
                self._send(200, json.dumps(answer).encode())
                return
            if path == "/_maskinporten/token" and method == "POST":
                self._send(200, json.dumps(self._token()).encode())
                return
            if not (path.startswith(API + "/") or path.startswith(LOOKUP + "/")):
                raise _Problem(404, "Not found")
            if not svarut.token_valid(self.headers.get("Authorization")):
                raise _Problem(401, "Full authentication is required to access this resource")
            fault = svarut.take_fault(path)
            if fault and fault["kind"] == "status":
                headers = {"Retry-After": str(fault["retry_after"])} if fault.get("retry_after") is not None else {}
                body = _error(fault["status"], "Injected fault", path)
                self._record(method, path, fault["status"], body)
                self._send(fault["status"], body, headers)
                return
            if fault and fault["kind"] == "slow":
                time.sleep(fault.get("seconds", 5))
            status, body = self._api(method, path)
            if fault and fault["kind"] == "slow_answer":
                # Taken at once, answered late: the window where a worker may die between send and commit.
                time.sleep(fault.get("seconds", 1))
            if fault and fault["kind"] == "lose_answer":
                # The forsendelse is taken (above); the answer never reaches the client.
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if fault and fault["kind"] == "garbage":
                body = fault.get("body", '{"unexpected": true}').encode()
            self._record(method, path, status, body)
            self._send(status, body)
        except _Problem as problem:
            body = _error(problem.status, problem.message, path)
            self._record(method, path, problem.status, body)
            self._send(problem.status, body)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass

    def _record(self, method: str, path: str, status: int, body: bytes) -> None:
        exchanges = self.server.svarut.exchanges
        if exchanges is not None and (path.startswith(API) or path.startswith(LOOKUP)):
            exchanges.append({"method": method, "path": path, "headers": dict(self.headers.items()), "body": self._raw,
                              "status": status, "response": body})

    # -------------------------------------------------------------- the API
    def _api(self, method: str, path: str) -> tuple[int, bytes]:
        svarut = self.server.svarut
        if path.startswith(LOOKUP + "/eksternref/") and method == "GET":
            reference = unquote(path[len(LOOKUP + "/eksternref/"):])
            # KS: List<ForsendelsesId>, each an object {"id": uuid} (svarut-rest-klient's model), not bare ids.
            return 200, json.dumps([{"id": i} for i in svarut.by_reference.get(reference, [])]).encode()
        match = _ROUTE.match(path[len(API):]) if path.startswith(API) else None
        if match is None or method != "POST":
            raise _Problem(404, "Not found")
        try:
            account = str(uuid.UUID(match["account"]))
        except ValueError:
            raise _Problem(400, "kontoId must be a UUID") from None
        if account != svarut.account:
            raise _Problem(404, "Konto finnes ikke eller mangler tilgang")
        if match["what"] == "status":
            return 200, self._statuses()
        forsendelse, documents = self._multipart()
        return 200, json.dumps({"id": svarut.receive(forsendelse, documents)}).encode()

    def _statuses(self) -> bytes:
        try:
            data = json.loads(self._raw)
        except ValueError:
            raise _Problem(400, "Body is not JSON") from None
        ids = data.get("id") if isinstance(data, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise _Problem(400, "id must be a list of forsendelse ids")
        try:
            ids = [str(uuid.UUID(i)) for i in ids]
        except ValueError:
            raise _Problem(400, "Every id must be a UUID") from None
        found = [s for s in (self.server.svarut.status_of(i) for i in ids) if s is not None]
        return json.dumps({"statuser": found}).encode()

    def _multipart(self) -> tuple[dict, list[tuple[str, str, bytes]]]:
        content_type = self.headers.get("Content-Type") or ""
        if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
            raise _Problem(400, "Content type must be multipart/form-data")
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + self._raw
        )
        if not message.is_multipart():
            raise _Problem(400, "The multipart body cannot be read")
        forsendelse = None
        documents: list[tuple[str, str, bytes]] = []
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            body = part.get_payload(decode=True) or b""
            if name == "forsendelse":
                if forsendelse is not None:
                    raise _Problem(400, "Only one forsendelse part")
                if part.get_content_type() != "application/json":
                    raise _Problem(400, "The forsendelse part must be application/json")
                try:
                    forsendelse = json.loads(body)
                except ValueError:
                    raise _Problem(400, "The forsendelse part is not JSON") from None
            else:
                documents.append((part.get_filename() or "", part.get_content_type(), body))
        if not isinstance(forsendelse, dict):
            raise _Problem(400, "The forsendelse part is required")
        self._check(forsendelse, documents)
        return forsendelse, documents

    @staticmethod
    def _check(forsendelse: dict, documents: list) -> None:
        title = forsendelse.get("tittel")
        if not isinstance(title, str) or not title.strip() or len(title) > 1000:
            raise _Problem(400, "tittel is required (at most 1000 characters)")
        recipient = forsendelse.get("mottaker")
        if not isinstance(recipient, dict) or not isinstance(recipient.get("navn"), str) or not recipient["navn"].strip():
            raise _Problem(400, "mottaker.navn is required")
        nin = recipient.get("digitalId")
        if nin is not None and (not isinstance(nin, str) or not re.fullmatch(r"\d{11}", nin)):
            raise _Problem(400, "mottaker.digitalId must be a national id (11 digits)")
        address = recipient.get("adresse")
        if address is not None and (not isinstance(address, dict) or not all(isinstance(v, str) for v in address.values())):
            raise _Problem(400, "mottaker.adresse must hold text fields")
        for key, limit in (("eksternReferanse", 100), ("korrelasjonsid", 100), ("avgivendeSystem", 100)):
            value = forsendelse.get(key)
            if value is not None and (not isinstance(value, str) or len(value) > limit):
                raise _Problem(400, f"{key} must be text of at most {limit} characters")
        if forsendelse.get("kunDigitalLevering") and not nin:
            raise _Problem(400, "kunDigitalLevering needs mottaker.digitalId")
        if forsendelse.get("sikkerhetsniva") not in (None, "BETYDELIG", "HOYESTE"):
            raise _Problem(400, "sikkerhetsniva must be BETYDELIG or HOYESTE")
        metadata = forsendelse.get("dokumenter")
        if not isinstance(metadata, list) or not metadata:
            raise _Problem(400, "dokumenter is required")
        if len(metadata) != len(documents):
            raise _Problem(400, "dokumenter must describe every document part, in order")
        names = set()
        for meta, (filename, mime, _body) in zip(metadata, documents):
            if not isinstance(meta, dict) or not isinstance(meta.get("filnavn"), str) or not isinstance(meta.get("mimeType"), str):
                raise _Problem(400, "Every dokument needs filnavn and mimeType")
            if meta["filnavn"] != filename:
                raise _Problem(400, "The document parts must come in the order of dokumenter (by filename)")
            if _FORBIDDEN_FILENAME.search(filename) or len(filename) > 226 or filename in names:
                raise _Problem(400, "filnavn must be unique and without * : \" \\ / < > | ?")
            names.add(filename)
            if meta["mimeType"] != "application/pdf" and not (forsendelse.get("kunDigitalLevering") or meta.get("skalEkskluderesFraUtskrift")):
                raise _Problem(400, "Only application/pdf can be printed")

    # -------------------------------------------------------------- tokens and control
    def _token(self) -> dict:
        from urllib.parse import parse_qs

        svarut = self.server.svarut
        form = parse_qs(self._raw.decode("ascii", "replace"))
        if (form.get("grant_type") or [""])[0] != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            raise _Problem(400, "unsupported_grant_type")
        assertion = (form.get("assertion") or [""])[0]
        try:
            import base64

            claims = json.loads(base64.urlsafe_b64decode(assertion.split(".")[1] + "=="))
        except (IndexError, ValueError):
            raise _Problem(400, "invalid_grant") from None
        if claims.get("iss") != svarut.maskinporten_client_id or "ks:fiks" not in str(claims.get("scope", "")).split():
            raise _Problem(400, "invalid_grant")
        token = secrets.token_urlsafe(24)
        svarut.issued_tokens.add(token)
        return {"access_token": token, "token_type": "Bearer", "expires_in": 120, "scope": claims["scope"]}

    def _admin(self, action: str, method: str):
        svarut = self.server.svarut
        if action == "received":
            return svarut.received()
        try:
            body = json.loads(self._raw or b"{}")
        except ValueError:
            raise _Problem(400, "Body is not JSON") from None
        if action == "clock":
            moved = svarut.advance(timedelta(hours=float(body.get("hours", 0)), seconds=float(body.get("seconds", 0))))
            return {"now": moved.isoformat()}
        if action == "fault":
            options = {k: v for k, v in body.items() if k not in ("kind", "count", "path")}
            svarut.add_fault(body.get("kind", "status"), count=int(body.get("count", 1)), path=body.get("path", ""), **options)
            return {"ok": True}
        if action == "reader":
            svarut.readers[str(body["nin"])] = body.get("hours")
            return {"ok": True}
        if action == "krr":
            svarut.krr_records[str(body["nin"])] = body.get("record")
            return {"ok": True}
        raise _Problem(404, f"Unknown action {action!r}")


class FakeSvarUtServer(FakeHTTPServer):
    thread_name = "fake-svarut"

    def __init__(self, svarut: FakeSvarUt, host: str = "127.0.0.1", port: int = 0):
        self.svarut = svarut
        super().__init__((host, port), Handler)

    @property
    def base_url(self) -> str:
        return self.root_url + API

    @property
    def lookup_url(self) -> str:
        return self.root_url + LOOKUP
