"""Forms for the follow-up actions. They only check input; the services hold the rules."""

from __future__ import annotations

from django import forms

from followup.models import CallResult, Decision
from helsestasjon.validators import validate_plausible_date


class CallForm(forms.Form):
    result = forms.ChoiceField(label="Resultat", choices=CallResult.choices, widget=forms.RadioSelect)
    call_again_on = forms.DateField(
        label="Ring igjen dato", required=False, validators=[validate_plausible_date], widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Skriv en gyldig dato."},
    )
    note = forms.CharField(label="Notat", required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self):
        data = super().clean()
        if data.get("result") == CallResult.CALL_AGAIN and not data.get("call_again_on"):
            self.add_error("call_again_on", "Velg datoen du skal ringe igjen.")
        return data


class EvidenceForm(forms.Form):
    evidence = forms.CharField(
        label="Hva ble gjort", max_length=4000, widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Skriv hva som ble gjort."},
    )


class SkipForm(forms.Form):
    reason = forms.CharField(
        label="Begrunnelse for å hoppe over", max_length=2000, widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Skriv en begrunnelse for å hoppe over trinnet."},
    )


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(label="Beslutning", choices=Decision.choices, widget=forms.RadioSelect,
                                 error_messages={"required": "Velg en beslutning."})
    concern_report_date = forms.DateField(
        label="Dato for bekymringsmelding", required=False, validators=[validate_plausible_date], widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": "Skriv en gyldig dato."},
    )
    concern_report_reference = forms.CharField(label="Referanse", required=False, max_length=60)
    note = forms.CharField(
        label="Begrunnelse", max_length=4000, widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Skriv en begrunnelse for beslutningen."},
    )

    def clean(self):
        data = super().clean()
        if data.get("decision") == Decision.CONCERN_REPORT:
            if not data.get("concern_report_date"):
                self.add_error("concern_report_date", "En bekymringsmelding må ha dato.")
            if not (data.get("concern_report_reference") or "").strip():
                self.add_error("concern_report_reference", "En bekymringsmelding må ha referanse.")
        return data


class GpConfirmedForm(forms.Form):
    note = forms.CharField(label="Merknad (hvem bekreftet, når)", required=False, max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 2}))
