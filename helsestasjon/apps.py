from axes.apps import AppConfig as AxesAppConfig
from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HelsestasjonConfig(AppConfig):
    # This module holds other apps' configs too: without "default" Django would not pick this one
    # for "helsestasjon" and ready() (the system checks) would never run.
    default = True
    name = "helsestasjon"
    verbose_name = _("Helsestasjon")

    def ready(self) -> None:
        from helsestasjon import checks  # noqa: F401  (registers system checks)


class AxesConfig(AxesAppConfig):
    """django-axes under a Norwegian label in the admin (axes ships no Norwegian translation)."""

    verbose_name = _("Innloggingsforsøk")


class OtpTotpConfig(AppConfig):
    """django-otp's TOTP devices under a Norwegian label in the admin."""

    name = "django_otp.plugins.otp_totp"
    label = "otp_totp"
    verbose_name = _("Engangskoder (TOTP)")
    default_auto_field = "django.db.models.AutoField"
