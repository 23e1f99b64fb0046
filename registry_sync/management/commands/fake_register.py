"""Serve the fake population register over HTTP (demo and development)."""

from __future__ import annotations

from django.conf import settings

from helsestasjon.management.fake_server import FakeServerCommand
from registry_sync.fake import FakeRegister, FakeRegisterServer


class Command(FakeServerCommand):
    help = "Starter et falskt folkeregister med samme grensesnitt som det ekte (for demo og utvikling)."

    default_port = 8089

    def add_fake_arguments(self, parser):
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
        self.serve(server, on_stop=register.flush)  # on SIGTERM too (bin/demo), so the last changes are written
