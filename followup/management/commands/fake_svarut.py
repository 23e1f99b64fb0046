"""Serve the fake KS SvarUt over HTTP (demo and development): followup/letters/svarut/fake.py."""

from __future__ import annotations

from django.conf import settings

from followup.letters.svarut.fake import FakeSvarUt, FakeSvarUtServer, krr_from_url
from helsestasjon.management.fake_server import FakeServerCommand


class Command(FakeServerCommand):
    help = "Starter en falsk SvarUt med samme grensesnitt som KS SvarUt REST v3 (for demo og utvikling)."

    default_port = 8091

    def add_fake_arguments(self, parser):
        parser.add_argument("--register-admin", default="http://127.0.0.1:8089/_admin",
                            help="det falske folkeregisterets admin-API, der kontaktregisterdataene hentes")

    def handle(self, *args, port: int, host: str, register_admin: str, **options):
        svarut = FakeSvarUt(account=settings.SVARUT_ACCOUNT, token=settings.SVARUT_TOKEN,
                            maskinporten_client_id=settings.SVARUT_MASKINPORTEN_CLIENT_ID, krr=krr_from_url(register_admin))
        server = FakeSvarUtServer(svarut, host=host, port=port)
        self.stdout.write(f"Falsk SvarUt på {server.base_url}; klokka flyttes med `manage.py fake_svarut_clock --hours N`, "
                          f"mottatt: GET {server.root_url}/_admin/received")
        self.serve(server)
