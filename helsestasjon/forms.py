from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext, gettext_lazy


class LoginForm(AuthenticationForm):
    error_messages = {
        "invalid_login": gettext_lazy("Feil brukernavn eller passord. Merk at det skilles mellom store og små bokstaver."),
        "inactive": gettext_lazy("Denne brukeren er deaktivert."),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].label = gettext("Brukernavn")
        self.fields["password"].label = gettext("Passord")
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "autofocus": True})
