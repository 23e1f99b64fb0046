"""The fake register over real HTTP (stdlib ``ThreadingHTTPServer``).

Serves the interface in ../shared/spec/register-api.md under ``/api/legal-basis``
and an admin API under ``/_admin/`` to change persons (the scenarios) and to
inject faults. Used by ``manage.py fake_register``, the demo, tests and benchmark.

As strict as Persontjenesten where a client could get it wrong (NHN's OpenAPI
document; registry_sync/persontjenesten.yaml holds the routes used): the
``api-version`` header is required, request bodies are form-encoded (a JSON body
is refused), every person route requires ``informationParts`` and serves only
those parts, closed versions come only with ``includeHistory=true``, and an event
page past the end is a 404 "Event not found". Refusals are 400 problem documents.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import date
from urllib.parse import parse_qs

from registry_sync.fake.documents import INFORMATION_PARTS
from registry_sync.fake.store import FakeRegister, UnknownPerson
from helsestasjon.fake_http import FakeHandler, FakeHTTPServer


logger = logging.getLogger(__name__)

PREFIX = "/api/legal-basis"
MAX_EVENTS = 1000
MAX_BULK = 100
MAX_PAGE_SIZE = 10000
FORM = "application/x-www-form-urlencoded"
PERSON_ROUTES = ("/person/bulk-by-id", "/person/bulk-by-nin", "/person/get-by-nin")

# Admin actions: name -> (method, arguments that are dates).
SCENARIOS = {
    "birth": ("birth", ("birth_date",)),
    "add_person": ("add_person", ("birth_date",)),
    "move": ("move", ("move_date",)),
    "correct_address": ("correct_address", ()),
    "emigrate": ("emigrate", ("when",)),
    "immigrate": ("immigrate", ()),
    "die": ("die", ("when",)),
    "annul_death": ("annul_death", ()),
    "set_protection": ("set_protection", ()),
    "set_responsibility": ("set_responsibility", ()),
    "change_id": ("change_id", ()),
    "rename": ("rename", ()),
    "set_status": ("set_status", ()),
    "set_contact": ("set_contact", ()),
    "set_without_identifier": ("set_without_identifier", ()),
    "touch": ("touch", ()),
}


class _Problem(Exception):
    def __init__(self, status: int, title: str):
        super().__init__(title)
        self.status = status
        self.title = title


class Handler(FakeHandler):
    server: "FakeRegisterServer"

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        logger.debug("fake register: " + format, *args)

    # ---------------------------------------------------------------- plumbing
    def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self.send_body(status, body, "application/json; charset=utf-8", headers)

    def _json(self, status: int, payload) -> None:
        self._send(status, json.dumps(payload, ensure_ascii=False).encode())

    def _form(self) -> dict[str, list[str]]:
        """The form-encoded body, each key with its values (a list field is repeated keys)."""
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != FORM:
            raise _Problem(400, f"The request body must be {FORM}, not {content_type or 'missing'}")
        try:
            return parse_qs(self._raw.decode("ascii"), keep_blank_values=True, strict_parsing=bool(self._raw))
        except (UnicodeDecodeError, ValueError):
            raise _Problem(400, "The form body cannot be read") from None

    def _body(self) -> dict:
        """An admin request's JSON body (the admin API is the fake's own, not the register's)."""
        try:
            data = json.loads(self._raw or b"{}")
        except ValueError:
            raise _Problem(400, "Body is not JSON") from None
        if not isinstance(data, dict):
            raise _Problem(400, "Body must be a JSON object")
        return data

    def do_GET(self):  # noqa: N802
        self._dispatch("GET")

    def do_POST(self):  # noqa: N802
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        register = self.server.register
        path, _, query = self.path.partition("?")
        # Read the body before any answer, so a keep-alive connection stays in step.
        length = int(self.headers.get("Content-Length") or 0)
        self._raw = self.rfile.read(length) if length else b""
        try:
            if path.startswith("/_admin/"):
                body = self._body() if method == "POST" else {}
                self._json(200, self._admin(path[len("/_admin/"):], body))
                return
            if not path.startswith(PREFIX):
                raise _Problem(404, "Not found")
            # --- HelseID (issue 19): the token check of helsestasjon.helseid.fake.resource, when set. ---
            token_check = getattr(register, "token_check", None)
            if token_check is not None:
                refusal = token_check(method, f"http://{self.headers.get('Host', '')}{path}", self.headers)
                if refusal:
                    raise _Problem(401, refusal)
            # --- end HelseID ---
            elif register.token and self.headers.get("Authorization") != f"Bearer {register.token}":
                raise _Problem(401, "Missing or wrong bearer token")
            version = self.headers.get("api-version")
            if version != self.server.api_version:
                raise _Problem(400, f"The api-version header must be {self.server.api_version!r}, not {version!r}")
            fault = register.faults.take(path)
            if fault and fault["kind"] == "status":
                headers = {"Retry-After": str(fault["retry_after"])} if fault.get("retry_after") is not None else {}
                self._send(fault["status"], json.dumps({"title": "Injected fault", "status": fault["status"]}).encode(), headers)
                return
            if fault and fault["kind"] == "slow":
                time.sleep(fault.get("seconds", 5))
            status, body = self._api(method, path[len(PREFIX):], query)
            if fault and fault["kind"] == "truncate":
                body = body[: max(1, len(body) // 2)]
            elif fault and fault["kind"] == "garbage":
                body = fault.get("body", b'{"unexpected": true}')
                body = body if isinstance(body, bytes) else json.dumps(body).encode()
            # Recorded before the answer goes out, so a test that reads it right after the call finds it.
            self._record(method, path, query, status, body)
            self._send(status, body)
        except _Problem as problem:
            body = json.dumps({"type": "about:blank", "title": problem.title, "status": problem.status}).encode()
            self._record(method, path, query, problem.status, body)
            self._send(problem.status, body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _record(self, method: str, path: str, query: str, status: int, body: bytes) -> None:
        """Keep the exchange for the schema test (tests/registry_sync/test_schema.py) when asked."""
        exchanges = self.server.exchanges
        if exchanges is not None and path.startswith(PREFIX):
            exchanges.append({"method": method, "path": path, "query": query, "headers": dict(self.headers.items()),
                              "body": self._raw, "status": status, "response": body})

    def _person_query(self, query: dict[str, list[str]]) -> tuple[frozenset, bool]:
        parts = query.get("informationParts") or []
        if not parts:
            raise _Problem(400, "The informationParts field is required.")
        unknown = [p for p in parts if p not in INFORMATION_PARTS]
        if unknown:
            raise _Problem(400, f"Unknown informationParts: {', '.join(unknown)}")
        history = (query.get("includeHistory") or ["false"])[-1].lower()
        if history not in ("true", "false"):
            raise _Problem(400, "includeHistory must be true or false")
        return frozenset(parts), history == "true"

    # -------------------------------------------------------------- the API
    def _api(self, method: str, path: str, raw_query: str) -> tuple[int, bytes]:
        register = self.server.register
        query = parse_qs(raw_query, keep_blank_values=True)
        if method == "POST" and path in PERSON_ROUTES:
            parts, history = self._person_query(query)
            return self._person(register, path, self._form(), parts, history)
        if method == "GET" and path == "/event/latest":
            return self._latest_event(register)
        if method == "GET" and path == "/event":
            return self._events(register, query)
        if method == "POST" and path == "/search/paged-match-list":
            return self._search(register, self._form())
        raise _Problem(404, "Not found")

    def _latest_event(self, register) -> tuple[int, bytes]:
        latest = register.latest_event()
        if latest is None:
            raise _Problem(404, "No events")
        seq, pid, kind = latest
        return 200, json.dumps({"sequenceNumber": str(seq), "personId": pid, "eventType": kind}).encode()

    def _events(self, register, query) -> tuple[int, bytes]:
        try:
            start = int((query.get("sequenceNumber") or ["1"])[-1])
        except ValueError:
            raise _Problem(400, "sequenceNumber must be a number") from None
        if start < 1:
            raise _Problem(400, "sequenceNumber must be at least 1")
        events = register.events_from(start, MAX_EVENTS)
        if not events:
            raise _Problem(404, "Event not found")
        results = [{"sequenceNumber": str(s), "personId": p, "eventType": t} for s, p, t in events]
        return 200, json.dumps({
            "results": results,
            "startIndex": events[0][0] if events else start,
            "endIndex": events[-1][0] if events else start,
        }).encode()

    def _person(self, register, path: str, form, parts, history) -> tuple[int, bytes]:
        if path == "/person/bulk-by-id":
            ids = self._list(form, "personIds")
            return 200, b"[" + b",".join(register.documents(ids, parts=parts, history=history)) + b"]"
        if path == "/person/bulk-by-nin":
            nins = self._list(form, "nins")
            docs = [d for d in (register.document_by_nin(n, parts=parts, history=history) for n in nins) if d is not None]
            return 200, b"[" + b",".join(docs) + b"]"
        if path == "/person/get-by-nin":
            nin = (form.get("nin") or [""])[-1]
            if not nin:
                raise _Problem(400, "The nin field is required.")
            doc = register.document_by_nin(nin, parts=parts, history=history)
            if doc is None:
                raise _Problem(404, "Person not found")
            return 200, doc
        raise _Problem(404, "Not found")

    def _search(self, register, form) -> tuple[int, bytes]:
        one = lambda key, default=None: (form.get(key) or [default])[-1]  # noqa: E731
        try:
            size = int(one("PageSize", "1000"))
            offset = int(one("IndexOffset", "0"))
        except ValueError:
            raise _Problem(400, "PageSize and IndexOffset must be numbers") from None
        if not 1 <= size <= MAX_PAGE_SIZE or offset < 0:
            raise _Problem(400, f"PageSize must be 1..{MAX_PAGE_SIZE}")
        municipality = one("MunicipalityNumber", "")
        if len(municipality) != 4 or not municipality.isdigit():
            raise _Problem(400, "MunicipalityNumber must be four digits")
        found = register.search(municipality, one("BirthDateFrom", "0000-00-00"), one("BirthDateTo", "9999-99-99"),
                                list(form.get("PersonStatuses") or []))
        page = found[offset : offset + size]
        # endIndex is the index of the last result (inclusive); an empty page has none.
        return 200, json.dumps({"results": page, "startIndex": offset,
                                "endIndex": offset + len(page) - 1 if page else offset}).encode()

    def _list(self, form: dict[str, list[str]], key: str) -> list[str]:
        values = form.get(key)
        if not values:
            raise _Problem(400, f"The {key} field is required.")
        if len(values) > MAX_BULK:
            raise _Problem(400, f"At most {MAX_BULK} {key} per call")
        return values

    # ------------------------------------------------------------ the admin API
    def _admin(self, action: str, body: dict):
        register = self.server.register
        if action == "fault":
            options = {k: v for k, v in body.items() if k not in ("kind", "count", "path")}
            register.faults.add(body.get("kind", "status"), count=int(body.get("count", 1)), path=body.get("path", ""), **options)
            return {"ok": True}
        if action == "respool":
            register.respool()
            return {"ok": True, "latest": register.latest_event()}
        if action == "person":
            try:
                return register.person(body.get("personId") or register.person_id_for(body.get("nin", "")))
            except UnknownPerson:
                raise _Problem(404, "Person not found") from None
        if action not in SCENARIOS:
            raise _Problem(404, f"Unknown scenario {action!r}")
        method_name, date_args = SCENARIOS[action]
        args = dict(body)
        for name in date_args:
            if args.get(name):
                args[name] = date.fromisoformat(str(args[name])[:10])
        for name in ("responsible", "parents", "without_identifier"):
            if name in args:
                args[name] = [tuple(x) for x in args[name]]
        try:
            if action not in ("birth", "add_person"):
                person_id = args.pop("personId", None) or register.person_id_for(args.pop("nin", ""))
                args.pop("nin", None)
                return {"ok": True, "events": getattr(register, method_name)(person_id, **args)}
            return {"ok": True, "personId": getattr(register, method_name)(**args)}
        except UnknownPerson:
            raise _Problem(404, "Person not found") from None
        except (TypeError, ValueError) as exc:
            raise _Problem(400, f"Bad scenario arguments: {exc}") from None


class FakeRegisterServer(FakeHTTPServer):
    thread_name = "fake-register"

    def __init__(self, register: FakeRegister, host: str = "127.0.0.1", port: int = 0, *, api_version: str = "2"):
        self.register = register
        self.api_version = api_version
        # A list to keep every API exchange in (the schema test), or None.
        self.exchanges: list[dict] | None = None
        super().__init__((host, port), Handler)

    @property
    def base_url(self) -> str:
        return self.root_url + PREFIX
