from django import forms
from django.contrib.auth.forms import AuthenticationForm


class LoginForm(AuthenticationForm):
    error_messages = {
        "invalid_login": "Feil brukernavn eller passord. Merk at det skilles mellom store og små bokstaver.",
        "inactive": "Denne brukeren er deaktivert.",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].label = "Brukernavn"
        self.fields["password"].label = "Passord"
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "autofocus": True})
