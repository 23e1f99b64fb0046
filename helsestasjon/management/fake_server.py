"""The fakes' management commands (fake_register, fake_helseid, fake_svarut) share one way to serve a fake
on a port: --host and --port, and serving until Ctrl-C or SIGTERM (bin/demo stops them so), then closing."""

from __future__ import annotations

import signal

from django.core.management.base import BaseCommand


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class FakeServerCommand(BaseCommand):
    """A command that serves one fake over HTTP; a subclass sets `default_port` and adds its own options
    in `add_fake_arguments`."""

    default_port: int

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=self.default_port)
        parser.add_argument("--host", default="127.0.0.1")
        self.add_fake_arguments(parser)

    def add_fake_arguments(self, parser):
        pass

    def serve(self, server, *, on_stop=None) -> None:
        """Serve until interrupted or terminated, then close the socket and run `on_stop` (a fake that keeps
        its data in a file writes its last changes there)."""
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            if on_stop is not None:
                on_stop()
