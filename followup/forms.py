"""Forms for the follow-up actions. They only check input; the services hold the rules."""

from __future__ import annotations

from django import forms
from django.forms.utils import flatatt
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, gettext_lazy

from followup.models import CallResult, Decision, PauseReason
from helsestasjon.models import Language
from helsestasjon.validators import validate_plausible_date

INTERPRETER_LANGUAGES = [("", "—")] + [(v, label) for v, label in Language.choices if v not in ("nb", "nn")]


class _InPython:
    """A widget rendered in Python: the same HTML Django's widget templates give, without a template
    render per widget (and per option), which on a work list of fifty rows with a call form on each
    was most of the page's cost (docs/decisions.md, "Case forms that keep what was typed")."""

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        if isinstance(self, forms.Textarea):
            return format_html('<textarea name="{}"{}>\n{}</textarea>', widget["name"], flatatt(widget["attrs"]), widget["value"] or "")
        shown = format_html(' value="{}"', widget["value"]) if widget["value"] is not None else ""
        return format_html('<input type="{}" name="{}"{}{}>', widget["type"], widget["name"], shown, flatatt(widget["attrs"]))


class QuickTextInput(_InPython, forms.TextInput):
    pass


class QuickNumberInput(_InPython, forms.NumberInput):
    pass


class QuickDateInput(_InPython, forms.DateInput):
    pass


class QuickDateTimeInput(_InPython, forms.DateTimeInput):
    pass


class QuickTextarea(_InPython, forms.Textarea):
    pass


class QuickSelect(forms.Select):
    """A select rendered in Python (see ``_InPython``), without one template per option."""

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        options = format_html_join("", '<option value="{}"{}>{}</option>', (
            ("" if o["value"] is None else o["value"], flatatt(o["attrs"]), o["label"]) for o in _options(widget)
        ))
        return format_html('<select name="{}"{}>{}</select>', widget["name"], flatatt(widget["attrs"]), options)


class LanguageSelect(QuickSelect):
    """The interpreter languages: the same long list on every row of a list, so with nothing chosen
    its options are rendered once per process (a chosen one is rendered as any select)."""

    _unchosen: dict[tuple, str] = {}

    def render(self, name, value, attrs=None, renderer=None):
        if value not in (None, ""):
            return super().render(name, value, attrs, renderer)
        key = tuple(self.choices)
        if key not in self._unchosen:
            rendered = super().render(name, None, {}, renderer)
            self._unchosen[key] = rendered[rendered.index(">") + 1:-len("</select>")]
        return format_html('<select name="{}"{}>{}</select>', name, flatatt(self.build_attrs(self.attrs, attrs)),
                           mark_safe(self._unchosen[key]))


class QuickRadioSelect(forms.RadioSelect):
    """Radios rendered in Python, as ``QuickSelect``; each option may carry a ``description``."""

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        options = format_html_join("", '<div><label for="{}"><input type="radio" name="{}" value="{}"{}> {}</label>{}</div>', (
            (o["attrs"].get("id", ""), o["name"], o["value"], flatatt(o["attrs"]), o["label"], self.description_html(o))
            for o in _options(widget)
        ))
        container = {"id": widget["attrs"].get("id"), "class": widget["attrs"].get("class")}
        return format_html("<div{}>{}</div>", flatatt({k: v for k, v in container.items() if v}), options)

    def description_html(self, option) -> str:
        return ""


class DescribedRadioSelect(QuickRadioSelect):
    """Radios each followed by a line saying what the choice leads to, tied to it by aria-describedby.

    ``descriptions`` maps a choice's value to its line; ``description_id`` is the line's id, with
    ``%s`` for the value (both set by the page, as they depend on the case).
    """

    descriptions: dict = {}
    description_id = "%s"

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if value in self.descriptions:
            option["attrs"]["aria-describedby"] = self.description_id % value
        return option

    def description_html(self, option) -> str:
        if option["value"] not in self.descriptions:
            return ""
        return format_html('<p class="muted decision-next" id="{}">{}</p>', self.description_id % option["value"],
                           self.descriptions[option["value"]])


def _options(widget: dict) -> list[dict]:
    return [option for _group, options, _index in widget["optgroups"] for option in options]


class BookingFields(forms.Form):
    """A new time booked from the case page (the same fields the clerk's booking asks for)."""

    starts_at = forms.DateTimeField(
        label=gettext_lazy("Tidspunkt"), required=False, input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=QuickDateTimeInput(attrs={"type": "datetime-local"}),
        error_messages={"invalid": gettext_lazy("Skriv et gyldig tidspunkt.")},
    )
    duration_minutes = forms.IntegerField(label=gettext_lazy("Varighet (min)"), required=False, min_value=5, max_value=480, widget=QuickNumberInput,
                                          error_messages={"invalid": gettext_lazy("Skriv varigheten i minutter."),
                                                          "min_value": gettext_lazy("Varigheten må være minst 5 minutter."),
                                                          "max_value": gettext_lazy("Varigheten kan være høyst 480 minutter.")})
    professional = forms.IntegerField(label=gettext_lazy("Fagperson"), required=False,
                                      error_messages={"invalid": gettext_lazy("Velg en fagperson.")})

    def booking_parts(self):
        data = self.cleaned_data
        return data.get("starts_at"), data.get("professional"), data.get("duration_minutes") or 30


class CallForm(BookingFields):
    result = forms.ChoiceField(label=gettext_lazy("Resultat"), choices=CallResult.choices, widget=QuickRadioSelect,
                               error_messages={"required": gettext_lazy("Velg resultatet av samtalen."),
                                               "invalid_choice": gettext_lazy("Velg resultatet av samtalen.")})
    guardian = forms.IntegerField(label=gettext_lazy("Foresatt"), required=False,
                                  error_messages={"invalid": gettext_lazy("Velg hvilken foresatt som trenger tolk.")})
    language = forms.ChoiceField(label=gettext_lazy("Tolkespråk"), required=False, choices=INTERPRETER_LANGUAGES, widget=LanguageSelect,
                                 error_messages={"invalid_choice": gettext_lazy("Velg språket det trengs tolk til.")})
    call_again_on = forms.DateField(
        label=gettext_lazy("Ring igjen dato (ved «Ring igjen»)"), required=False, validators=[validate_plausible_date], widget=QuickDateInput(attrs={"type": "date"}),
        error_messages={"invalid": gettext_lazy("Skriv en gyldig dato.")},
    )
    note = forms.CharField(label=gettext_lazy("Notat (ved «Takker nei»: årsaken)"), required=False, max_length=2000,
                           widget=QuickTextarea(attrs={"rows": 2}))

    def clean(self):
        data = super().clean()
        if data.get("result") == CallResult.CALL_AGAIN and not data.get("call_again_on"):
            self.add_error("call_again_on", gettext("Velg datoen du skal ringe igjen."))
        if data.get("result") == CallResult.REACHED_REBOOKED:
            if not data.get("starts_at"):
                self.add_error("starts_at", gettext("Velg tidspunktet for den nye timen."))
            if not data.get("professional"):
                self.add_error("professional", gettext("Velg fagpersonen for den nye timen."))
        return data


class HomeVisitForm(BookingFields):
    second_professional = forms.IntegerField(label=gettext_lazy("Fagperson nr. 2 (valgfritt)"), required=False,
                                             error_messages={"invalid": gettext_lazy("Velg en fagperson.")})

    def clean(self):
        data = super().clean()
        if not data.get("starts_at"):
            self.add_error("starts_at", gettext("Velg tidspunktet for hjemmebesøket."))
        if not data.get("professional"):
            self.add_error("professional", gettext("Velg fagpersonen for hjemmebesøket."))
        return data


class ConsentForm(forms.Form):
    note = forms.CharField(label=gettext_lazy("Familiens samtykke til hjemmebesøk (hvem, hvordan)"), max_length=300, widget=QuickTextInput,
                           error_messages={"required": gettext_lazy("Skriv hvem som samtykket, og hvordan.")})


class PauseForm(forms.Form):
    reason = forms.ChoiceField(label=gettext_lazy("Årsak"), choices=PauseReason.choices, widget=QuickRadioSelect,
                               error_messages={"required": gettext_lazy("Velg årsaken til pausen."),
                                               "invalid_choice": gettext_lazy("Velg årsaken til pausen.")})
    until = forms.DateField(label=gettext_lazy("Til (oppfølgingen fortsetter denne dagen)"), validators=[validate_plausible_date],
                            widget=QuickDateInput(attrs={"type": "date"}),
                            error_messages={"required": gettext_lazy("Velg datoen pausen varer til."),
                                            "invalid": gettext_lazy("Skriv en gyldig dato.")})
    note = forms.CharField(label=gettext_lazy("Merknad"), required=False, max_length=200, widget=QuickTextInput)


class EvidenceForm(forms.Form):
    evidence = forms.CharField(
        label=gettext_lazy("Hva ble gjort"), max_length=4000, widget=QuickTextarea(attrs={"rows": 2}),
        error_messages={"required": gettext_lazy("Skriv hva som ble gjort.")},
    )


class SkipForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Begrunnelse (påkrevd)"), max_length=2000, widget=QuickTextarea(attrs={"rows": 2}),
        error_messages={"required": gettext_lazy("Skriv en begrunnelse for å hoppe over trinnet.")},
    )


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(label=gettext_lazy("Beslutning"), choices=Decision.choices, widget=DescribedRadioSelect,
                                 error_messages={"required": gettext_lazy("Velg en beslutning.")})
    concern_report_date = forms.DateField(
        label=gettext_lazy("Dato for bekymringsmelding"), required=False, validators=[validate_plausible_date], widget=QuickDateInput(attrs={"type": "date"}),
        error_messages={"invalid": gettext_lazy("Skriv en gyldig dato.")},
    )
    concern_report_reference = forms.CharField(label=gettext_lazy("Referanse for bekymringsmelding"), required=False, max_length=60,
                                               widget=QuickTextInput)
    continue_step = forms.CharField(label=gettext_lazy("Fortsett på trinn (ved «Fortsett» eller vedtak)"), required=False, max_length=24)
    note = forms.CharField(
        label=gettext_lazy("Begrunnelse"), max_length=4000, widget=QuickTextarea(attrs={"rows": 3}),
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
                           widget=QuickTextarea(attrs={"rows": 2}))
