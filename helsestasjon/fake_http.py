"""What the fakes over real HTTP share (the register, HelseID, SvarUt): a threading server on loopback that
a test starts in a thread, and a keep-alive request handler that writes one body with its headers."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeHTTPServer(ThreadingHTTPServer):
    """`root_url` is where the server answers; a subclass sets `thread_name` and its `base_url` when its
    API lives under a prefix."""

    daemon_threads = True
    allow_reuse_address = True
    thread_name = "fake-http"

    @property
    def root_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        return self.root_url

    def start_in_thread(self) -> threading.Thread:
        # A short poll interval lets tests shut the server down quickly.
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name, daemon=True)
        thread.start()
        return thread


class FakeHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body are written separately; without this, Nagle's algorithm
    # and delayed ACKs add 40 ms to every keep-alive request.
    disable_nagle_algorithm = True

    def send_body(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
