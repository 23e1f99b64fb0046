"""Forms for the follow-up actions. They only check input; the services hold the rules."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext, gettext_lazy

from followup.models import CallResult, Decision
from helsestasjon.validators import validate_plausible_date


class CallForm(forms.Form):
    result = forms.ChoiceField(label=gettext_lazy("Resultat"), choices=CallResult.choices, widget=forms.RadioSelect)
    call_again_on = forms.DateField(
        label=gettext_lazy("Ring igjen dato"), required=False, validators=[validate_plausible_date], widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": gettext_lazy("Skriv en gyldig dato.")},
    )
    note = forms.CharField(label=gettext_lazy("Notat"), required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self):
        data = super().clean()
        if data.get("result") == CallResult.CALL_AGAIN and not data.get("call_again_on"):
            self.add_error("call_again_on", gettext("Velg datoen du skal ringe igjen."))
        return data


class EvidenceForm(forms.Form):
    evidence = forms.CharField(
        label=gettext_lazy("Hva ble gjort"), max_length=4000, widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": gettext_lazy("Skriv hva som ble gjort.")},
    )


class SkipForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Begrunnelse for å hoppe over"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": gettext_lazy("Skriv en begrunnelse for å hoppe over trinnet.")},
    )


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(label=gettext_lazy("Beslutning"), choices=Decision.choices, widget=forms.RadioSelect,
                                 error_messages={"required": gettext_lazy("Velg en beslutning.")})
    concern_report_date = forms.DateField(
        label=gettext_lazy("Dato for bekymringsmelding"), required=False, validators=[validate_plausible_date], widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={"invalid": gettext_lazy("Skriv en gyldig dato.")},
    )
    concern_report_reference = forms.CharField(label=gettext_lazy("Referanse"), required=False, max_length=60)
    note = forms.CharField(
        label=gettext_lazy("Begrunnelse"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": gettext_lazy("Skriv en begrunnelse for beslutningen.")},
    )

    def clean(self):
        data = super().clean()
        if data.get("decision") == Decision.CONCERN_REPORT:
            if not data.get("concern_report_date"):
                self.add_error("concern_report_date", gettext("En bekymringsmelding må ha dato."))
            if not (data.get("concern_report_reference") or "").strip():
                self.add_error("concern_report_reference", gettext("En bekymringsmelding må ha referanse."))
        return data


class GpConfirmedForm(forms.Form):
    note = forms.CharField(label=gettext_lazy("Merknad (hvem bekreftet, når)"), required=False, max_length=2000,
                           widget=forms.Textarea(attrs={"rows": 2}))
