"""Give the administrator a TOTP device for break-glass login (password + one-time code)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django_otp.plugins.otp_totp.models import TOTPDevice

from helsestasjon.models import User
from helsestasjon.permissions import may_use_break_glass


class Command(BaseCommand):
    help = "Oppretter en TOTP-enhet (autentiseringsapp) for en administrator og skriver ut oppsettlenken."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--replace", action="store_true", help="fjern administratorens eksisterende enheter først")

    def handle(self, *args, username: str, replace: bool, **options):
        user = User.objects.filter(username=username).first()
        if user is None or not may_use_break_glass(user):
            raise CommandError("Bare brukere med rollen administrator kan logge inn med passord (nødtilgang).")
        if TOTPDevice.objects.filter(user=user).exists() and not replace:
            raise CommandError("Brukeren har allerede en enhet; bruk --replace for å lage en ny.")
        TOTPDevice.objects.filter(user=user).delete()
        device = TOTPDevice.objects.create(user=user, name="Nødtilgang", confirmed=True)
        self.stdout.write("Legg inn denne lenken i autentiseringsappen (vises bare nå):")
        self.stdout.write(device.config_url)
