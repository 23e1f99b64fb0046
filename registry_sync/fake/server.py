"""The fake register over real HTTP (stdlib ``ThreadingHTTPServer``).

Serves the interface in ../shared/spec/register-api.md under ``/api/legal-basis``
and an admin API under ``/_admin/`` to change persons (the scenarios) and to
inject faults. Used by ``manage.py fake_register``, the demo, tests and benchmark.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from registry_sync.fake.store import FakeRegister, UnknownPerson

logger = logging.getLogger(__name__)

PREFIX = "/api/legal-basis"
MAX_EVENTS = 1000
MAX_BULK = 100
MAX_PAGE_SIZE = 10000

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
    "touch": ("touch", ()),
}


class _Problem(Exception):
    def __init__(self, status: int, title: str):
        super().__init__(title)
        self.status = status
        self.title = title


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are written separately; without this, Nagle's algorithm
    # and delayed ACKs add 40 ms to every keep-alive request.
    disable_nagle_algorithm = True
    server: "FakeRegisterServer"

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        logger.debug("fake register: " + format, *args)

    # ---------------------------------------------------------------- plumbing
    def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload) -> None:
        self._send(status, json.dumps(payload, ensure_ascii=False).encode())

    def _body(self) -> dict:
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
            self._send(status, body)
        except _Problem as problem:
            self._json(problem.status, {"type": "about:blank", "title": problem.title, "status": problem.status})
        except (BrokenPipeError, ConnectionResetError):
            pass

    # -------------------------------------------------------------- the API
    def _api(self, method: str, path: str, query: str) -> tuple[int, bytes]:
        register = self.server.register
        if method == "GET" and path == "/event/latest":
            latest = register.latest_event()
            if latest is None:
                raise _Problem(404, "No events")
            seq, pid, kind = latest
            return 200, json.dumps({"sequenceNumber": str(seq), "personId": pid, "eventType": kind}).encode()
        if method == "GET" and path == "/event":
            params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
            try:
                start = int(params["sequenceNumber"])
            except (KeyError, ValueError):
                raise _Problem(400, "sequenceNumber is required and must be a number") from None
            events = register.events_from(start, MAX_EVENTS)
            results = [{"sequenceNumber": str(s), "personId": p, "eventType": t} for s, p, t in events]
            return 200, json.dumps({
                "results": results,
                "startIndex": events[0][0] if events else start,
                "endIndex": events[-1][0] if events else start,
            }).encode()
        if method == "POST" and path == "/person/bulk-by-id":
            ids = self._list(self._body(), "personIds")
            return 200, b"[" + b",".join(register.documents(ids)) + b"]"
        if method == "POST" and path == "/person/bulk-by-nin":
            nins = self._list(self._body(), "nins")
            docs = [d for d in (register.document_by_nin(n) for n in nins) if d is not None]
            return 200, b"[" + b",".join(docs) + b"]"
        if method == "POST" and path == "/person/get-by-nin":
            nin = self._body().get("nin")
            doc = register.document_by_nin(str(nin)) if nin else None
            if doc is None:
                raise _Problem(404, "Person not found")
            return 200, doc
        if method == "POST" and path == "/search/paged-match-list":
            body = self._body()
            try:
                size = int(body.get("PageSize", 1000))
                offset = int(body.get("IndexOffset", 0))
                municipality = str(body["MunicipalityNumber"])
            except (KeyError, ValueError, TypeError):
                raise _Problem(400, "MunicipalityNumber, PageSize and IndexOffset are required") from None
            if not 1 <= size <= MAX_PAGE_SIZE or offset < 0:
                raise _Problem(400, f"PageSize must be 1..{MAX_PAGE_SIZE}")
            found = register.search(municipality, str(body.get("BirthDateFrom", "0000-00-00")),
                                    str(body.get("BirthDateTo", "9999-99-99")), list(body.get("PersonStatuses") or []))
            page = found[offset : offset + size]
            return 200, json.dumps({"results": page, "startIndex": offset, "endIndex": offset + len(page)}).encode()
        raise _Problem(404, "Not found")

    def _list(self, body: dict, key: str) -> list[str]:
        values = body.get(key)
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise _Problem(400, f"{key} must be a list of strings")
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
        for name in ("responsible", "parents"):
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


class FakeRegisterServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, register: FakeRegister, host: str = "127.0.0.1", port: int = 0):
        self.register = register
        super().__init__((host, port), Handler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}{PREFIX}"

    def start_in_thread(self) -> threading.Thread:
        # A short poll interval lets tests shut the server down quickly.
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-register", daemon=True)
        thread.start()
        return thread
