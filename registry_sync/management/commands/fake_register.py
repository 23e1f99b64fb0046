"""Serve the fake population register over HTTP (demo and development)."""

from __future__ import annotations

import signal

from django.conf import settings
from django.core.management.base import BaseCommand

from registry_sync.fake import FakeRegister, FakeRegisterServer


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Starter et falskt folkeregister med samme grensesnitt som det ekte (for demo og utvikling)."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8089)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--data", default=None, help="JSON-fil med registerets data (standard: FAKE_REGISTER_DATA)")
        parser.add_argument("--token", default=None, help="krev dette bearer-tokenet (standard: REGISTER_TOKEN)")
        # --- HelseID (issue 19) ---
        parser.add_argument("--helseid", default=None, help="krev tilgangstokener fra denne HelseID-utstederen")
        parser.add_argument("--dpop", action="store_true", help="krev DPoP-bundne tokener (med --helseid)")
        # --- end HelseID ---

    def handle(self, *args, port: int, host: str, data: str | None, token: str | None, **options):
        register = FakeRegister(data or settings.FAKE_REGISTER_DATA)
        register.token = token if token is not None else (settings.REGISTER_TOKEN or None)
        # --- HelseID (issue 19) ---
        if options.get("helseid"):
            from helsestasjon.helseid.fake.resource import AccessTokenCheck

            register.token_check = AccessTokenCheck(issuer=options["helseid"], scope=settings.REGISTER_HELSEID_SCOPE,
                                                    require_dpop=options.get("dpop", False))
        # --- end HelseID ---
        register.autosave(2.0)
        server = FakeRegisterServer(register, host=host, port=port)
        latest = register.latest_event()
        self.stdout.write(
            f"Falskt folkeregister på {server.base_url} ({len(register)} personer, siste hendelse {latest[0] if latest else '-'}); "
            f"endringer: POST http://{host}:{port}/_admin/<scenario>"
        )
        # Stop cleanly on SIGTERM too (bin/demo), so the last changes are written.
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
            register.flush()
