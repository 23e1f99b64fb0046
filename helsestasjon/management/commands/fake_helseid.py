"""Serve the fake HelseID over HTTP (demo and development; ../shared/spec/helseid.md)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from helsestasjon.helseid.fake import Client, FakeHelseID, FakeHelseIDServer
from helsestasjon.helseid.fake.provider import ensure_keys, load_personas
from helsestasjon.helseid.keys import public_jwks
from helsestasjon.management.fake_server import FakeServerCommand

DEMO_CLIENT_ID = "helsestasjon-demo"


class Command(FakeServerCommand):
    help = "Starter en falsk HelseID (OpenID Connect) med demoansatte å velge blant (kun demo og utvikling)."

    default_port = 8090

    def add_fake_arguments(self, parser):
        parser.add_argument("--app-url", action="append", default=None,
                            help="adressen applikasjonen kjører på (kan gjentas; standard http://127.0.0.1:8000)")
        parser.add_argument("--dir", default=None, help="nøkler og personer (standard: FAKE_HELSEID_DIR)")
        parser.add_argument("--keys-only", action="store_true", help="lag nøklene og avslutt")

    def handle(self, *args, port: int, host: str, app_url: list[str] | None, dir: str | None, keys_only: bool, **options):
        directory = Path(dir or settings.FAKE_HELSEID_DIR)
        provider_key, client_key = ensure_keys(directory)
        if keys_only:
            self.stdout.write(f"Nøkler i {directory} (klientnøkkel: {directory / 'client_key.json'})")
            return
        apps = [url.rstrip("/") for url in (app_url or ["http://127.0.0.1:8000"])]
        for url in list(apps):
            if "127.0.0.1" in url:
                apps.append(url.replace("127.0.0.1", "localhost"))
        client = Client(
            DEMO_CLIENT_ID, jwks=public_jwks(client_key),
            redirect_uris=[f"{url}/helseid/callback/" for url in apps],
            post_logout_redirect_uris=[f"{url}/helseid/logget-ut/" for url in apps],
            scopes=[settings.REGISTER_HELSEID_SCOPE],
        )
        provider = FakeHelseID(signing_key=provider_key, personas=[], clients=[client])
        provider.personas_path = directory / "personas.json"
        server = FakeHelseIDServer(provider, host=host, port=port)
        self.stdout.write(
            f"Falsk HelseID på {server.base_url} ({len(load_personas(provider.personas_path))} personer); "
            f"klient {DEMO_CLIENT_ID} med nøkkel {directory / 'client_key.json'}"
        )
        self.serve(server)
