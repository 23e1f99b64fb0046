from django import forms
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_login_failed
from django.utils.translation import gettext_lazy as _

from helsestasjon.permissions import may_use_break_glass


def password_login_enabled() -> bool:
    """Is there any role that may log in with a password here? (The break-glass admin, or everyone in development.)"""
    return settings.PASSWORD_LOGIN_ALL_ROLES or settings.BREAK_GLASS_LOGIN


class LoginForm(AuthenticationForm):
    """Username, password and, for the administrator, a TOTP code (django-otp).

    With HelseID configured only the administrator may log in here (break-glass), and never
    without the second factor. Without HelseID every role may, in development and tests only
    (PASSWORD_LOGIN_ALL_ROLES); the administrator still needs the code.
    """

    error_messages = {
        "invalid_login": _("Feil brukernavn eller passord. Merk at det skilles mellom store og små bokstaver."),
        "inactive": _("Denne brukeren er deaktivert."),
        "password_not_allowed": _(
            "Logg inn med HelseID. Passord kan bare brukes av administrator ved nødtilgang."
        ),
        "second_factor": _("Feil eller manglende engangskode fra autentiseringsappen."),
    }

    otp_token = forms.CharField(
        label=_("Engangskode"), required=False, max_length=8,
        help_text=_("Sekssifret kode fra autentiseringsappen (kreves for administrator)."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].label = _("Brukernavn")
        self.fields["password"].label = _("Passord")
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "autofocus": True})
        self.fields["otp_token"].widget.attrs.update({"autocomplete": "one-time-code", "inputmode": "numeric"})

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not may_use_break_glass(user):
            if not settings.PASSWORD_LOGIN_ALL_ROLES:
                raise forms.ValidationError(self.error_messages["password_not_allowed"], code="password_not_allowed")
            return
        if not password_login_enabled():
            raise forms.ValidationError(self.error_messages["password_not_allowed"], code="password_not_allowed")
        from django_otp import match_token

        token = (self.cleaned_data.get("otp_token") or "").strip()
        if not token or match_token(user, token) is None:
            # Counted by django-axes like a wrong password, so codes cannot be guessed without limit.
            user_login_failed.send(sender=__name__, credentials={"username": user.get_username()}, request=self.request)
            raise forms.ValidationError(self.error_messages["second_factor"], code="second_factor")
