"""Forms of attendance: input parsing and validation only (rules live in services)."""

from __future__ import annotations

from datetime import datetime, time

from django import forms
from django.core.exceptions import ValidationError
from django.forms import BoundField
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from attendance.models import CHOSEN_REASONS, AbsenceKind, Outcome, Place, Weekday
from helsestasjon.models import Language, Relation, Sex
from helsestasjon.national_id import validator_from_settings
from helsestasjon.validators import (
    validate_no_invisible_controls,
    validate_plausible_date,
)

# Names and addresses refuse hidden control characters (helsestasjon.validators).
TEXT = [validate_no_invisible_controls]


def aware(day, at: time) -> datetime:
    """A local (Oslo) wall-clock time made aware; on the autumn DST night the first 02:30 wins."""
    return timezone.make_aware(datetime.combine(day, at))


class DayForm(forms.Form):
    dato = forms.DateField(required=False, input_formats=["%Y-%m-%d", "%d.%m.%Y"], validators=[validate_plausible_date],
                           error_messages={"invalid": gettext_lazy("Ugyldig dato.")})
    fagperson = forms.IntegerField(required=False, min_value=1)


class OutcomeForm(forms.Form):
    outcome = forms.ChoiceField(choices=Outcome.choices, error_messages={"required": gettext_lazy("Velg et utfall."), "invalid_choice": gettext_lazy("Ukjent utfall.")})
    reason = forms.ChoiceField(choices=[("", gettext_lazy("Årsak (valgfritt)"))] + CHOSEN_REASONS, required=False,
                               error_messages={"invalid_choice": gettext_lazy("Ukjent årsak.")})
    # The event the user saw as current when the form was drawn ("" = none yet).
    # Recording against a stale state is a conflict, not a silent overwrite.
    replaces = forms.IntegerField(required=False, min_value=1)
    new_date = forms.DateField(required=False, input_formats=["%Y-%m-%d", "%d.%m.%Y"], validators=[validate_plausible_date],
                               error_messages={"invalid": gettext_lazy("Ugyldig dato.")})
    new_time = forms.TimeField(required=False, input_formats=["%H:%M"], error_messages={"invalid": gettext_lazy("Ugyldig klokkeslett.")})

    def clean(self):
        data = super().clean()
        outcome = data.get("outcome")
        data["new_starts_at"] = None
        if outcome == Outcome.RESCHEDULED:
            if not data.get("new_date") or not data.get("new_time"):
                raise forms.ValidationError(gettext("Velg ny dato og tid for timen som flyttes."))
            data["new_starts_at"] = aware(data["new_date"], data["new_time"])
        return data


class BookingForm(forms.Form):
    date = forms.DateField(label=gettext_lazy("Dato"), input_formats=["%Y-%m-%d", "%d.%m.%Y"], validators=[validate_plausible_date],
                           widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                           error_messages={"required": gettext_lazy("Velg dato."), "invalid": gettext_lazy("Ugyldig dato.")})
    time = forms.TimeField(label=gettext_lazy("Tid"), input_formats=["%H:%M"], widget=forms.TimeInput(attrs={"type": "time", "step": 300}, format="%H:%M"),
                           error_messages={"required": gettext_lazy("Velg klokkeslett."), "invalid": gettext_lazy("Ugyldig klokkeslett.")})
    duration_minutes = forms.IntegerField(label=gettext_lazy("Varighet (min)"), min_value=5, max_value=480,
                                          widget=forms.NumberInput(attrs={"class": "short"}),
                                          error_messages={"required": gettext_lazy("Skriv inn varighet."), "invalid": gettext_lazy("Skriv varigheten i hele minutter."),
                                                          "min_value": gettext_lazy("Minst 5 minutter."), "max_value": gettext_lazy("Høyst 480 minutter.")})
    place = forms.ChoiceField(label=gettext_lazy("Sted"), choices=Place.choices, error_messages={"invalid_choice": gettext_lazy("Velg et sted.")})
    room = forms.CharField(label=gettext_lazy("Rom"), max_length=60, required=False, validators=TEXT, widget=forms.TextInput(attrs={"class": "short"}))
    professional = forms.TypedChoiceField(label=gettext_lazy("Fagperson"), coerce=int, error_messages={"invalid_choice": gettext_lazy("Velg en fagperson ved helsestasjonen.")})

    def __init__(self, *args, professionals=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["professional"].choices = [(p.pk, p.get_full_name() or p.username) for p in professionals]
        self.professionals = {p.pk: p for p in professionals}

    def clean_date(self):
        day = self.cleaned_data["date"]
        today = timezone.localdate()
        if day < today:
            raise forms.ValidationError(gettext("Datoen har passert."))
        if (day - today).days > 400:
            raise forms.ValidationError(gettext("Datoen er mer enn ett år fram i tid."))
        return day

    def clean(self):
        data = super().clean()
        if data.get("date") and data.get("time"):
            data["starts_at"] = aware(data["date"], data["time"])
        if data.get("professional"):
            data["professional"] = self.professionals[data["professional"]]
        return data


class ChildRegistrationForm(forms.Form):
    """Registering a child by hand: from a birth notice or a move-in."""

    ARRIVAL = [("birth", gettext_lazy("Fødselsmelding")), ("move_in", gettext_lazy("Innflytting"))]

    arrival = forms.ChoiceField(label=gettext_lazy("Grunnlag"), choices=ARRIVAL, widget=forms.RadioSelect, initial="birth")
    national_id = forms.CharField(label=gettext_lazy("Fødselsnummer"), max_length=13, validators=[validator_from_settings],
                                  error_messages={"required": gettext_lazy("Skriv inn fødselsnummer."), "max_length": gettext_lazy("Fødselsnummeret har 11 sifre.")})
    given_name = forms.CharField(label=gettext_lazy("Fornavn"), max_length=100, validators=TEXT, error_messages={"required": gettext_lazy("Skriv inn fornavn.")})
    family_name = forms.CharField(label=gettext_lazy("Etternavn"), max_length=100, validators=TEXT, error_messages={"required": gettext_lazy("Skriv inn etternavn.")})
    birth_date = forms.DateField(label=gettext_lazy("Fødselsdato"), input_formats=["%Y-%m-%d", "%d.%m.%Y"], help_text=gettext_lazy("dd.mm.åååå"),
                                 validators=[validate_plausible_date],
                                 error_messages={"required": gettext_lazy("Skriv inn fødselsdato."), "invalid": gettext_lazy("Ugyldig dato. Bruk dd.mm.åååå.")})
    # No default: a select would otherwise preselect the first sex (issue 18).
    sex = forms.ChoiceField(label=gettext_lazy("Kjønn"), choices=[("", gettext_lazy("Velg kjønn"))] + Sex.choices,
                            error_messages={"required": gettext_lazy("Velg kjønn."), "invalid_choice": gettext_lazy("Ukjent kjønn.")})
    station = forms.TypedChoiceField(label=gettext_lazy("Helsestasjon"), coerce=int)
    street_address = forms.CharField(label=gettext_lazy("Adresse"), max_length=200, required=False, validators=TEXT)
    postal_code = forms.RegexField(label=gettext_lazy("Postnummer"), regex=r"^\d{4}$", required=False,
                                   error_messages={"invalid": gettext_lazy("Postnummeret har fire sifre.")})
    city = forms.CharField(label=gettext_lazy("Poststed"), max_length=100, required=False, validators=TEXT)
    guardian_national_id = forms.CharField(label=gettext_lazy("Foresattes fødselsnummer"), max_length=13, required=False,
                                           validators=[validator_from_settings])
    guardian_given_name = forms.CharField(label=gettext_lazy("Foresattes fornavn"), max_length=100, validators=TEXT)
    guardian_family_name = forms.CharField(label=gettext_lazy("Foresattes etternavn"), max_length=150, validators=TEXT)
    guardian_relation = forms.ChoiceField(label=gettext_lazy("Relasjon"), choices=Relation.choices, initial=Relation.MOTHER)
    guardian_mobile = forms.RegexField(label=gettext_lazy("Mobilnummer"), regex=r"^(\+47)?[49]\d{7}$", required=False,
                                       error_messages={"invalid": gettext_lazy("Skriv et norsk mobilnummer med 8 sifre.")})
    guardian_language = forms.ChoiceField(label=gettext_lazy("Foretrukket språk"), choices=Language.choices, initial=Language.NB)
    guardian_interpreter = forms.BooleanField(label=gettext_lazy("Trenger tolk"), required=False)

    def __init__(self, *args, stations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.stations = {s.pk: s for s in stations}
        self.fields["station"].choices = [(s.pk, s.name) for s in stations]
        self.fields["guardian_given_name"].error_messages["required"] = gettext("Skriv inn foresattes fornavn.")
        self.fields["guardian_family_name"].error_messages["required"] = gettext("Skriv inn foresattes etternavn.")

    def child_fields(self) -> list[BoundField]:
        """The child's fields, in the order the page shows them (the guardian's are the rest)."""
        return [field for field in self if not field.name.startswith("guardian_")]

    def guardian_fields(self) -> list[BoundField]:
        return [field for field in self if field.name.startswith("guardian_")]

    def clean_national_id(self):
        return self.cleaned_data["national_id"].replace(" ", "")

    def clean_guardian_national_id(self):
        return self.cleaned_data["guardian_national_id"].replace(" ", "")

    def clean_birth_date(self):
        born = self.cleaned_data["birth_date"]
        today = timezone.localdate()
        if born > today:
            raise forms.ValidationError(gettext("Fødselsdatoen kan ikke være i fremtiden."))
        if (today - born).days > 6 * 366:
            raise forms.ValidationError(gettext("Helsestasjonen følger barn til og med fem år."))
        return born

    def clean(self):
        data = super().clean()
        if data.get("arrival") == "birth" and data.get("birth_date"):
            if (timezone.localdate() - data["birth_date"]).days > 60:
                self.add_error("arrival", gettext("En fødselsmelding gjelder et nyfødt barn. Velg innflytting for eldre barn."))
        if data.get("station"):
            data["station"] = self.stations[data["station"]]
        if data.get("guardian_national_id") and data["guardian_national_id"] == data.get("national_id"):
            self.add_error("guardian_national_id", gettext("Foresatt og barn kan ikke ha samme fødselsnummer."))
        return data


# --- Booking from free slots, working hours and their exceptions (issue 18) ---------------------


class SlotForm(forms.Form):
    """One free slot chosen on the worklist or in the week view: whose, and when (an ISO instant)."""

    professional = forms.TypedChoiceField(coerce=int, error_messages={
        "required": gettext_lazy("Velg en fagperson."), "invalid_choice": gettext_lazy("Velg en fagperson ved helsestasjonen.")})
    starts_at = forms.DateTimeField(input_formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"],
                                    error_messages={"required": gettext_lazy("Velg en tid."), "invalid": gettext_lazy("Ugyldig tidspunkt.")})

    def __init__(self, *args, professionals=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.professionals = {p.pk: p for p in professionals}
        self.fields["professional"].choices = [(p.pk, p.get_full_name() or p.username) for p in professionals]

    def clean_starts_at(self):
        at = self.cleaned_data["starts_at"]
        validate_plausible_date(at.date())
        if at < timezone.now():
            raise forms.ValidationError(gettext("Tiden har passert. Velg en ny tid."))
        if (at.date() - timezone.localdate()).days > 400:
            raise forms.ValidationError(gettext("Datoen er mer enn ett år fram i tid."))
        return at

    def clean(self):
        data = super().clean()
        if data.get("professional"):
            data["professional"] = self.professionals[data["professional"]]
        return data


class WeekForm(forms.Form):
    """Which week of free slots to show, and whose."""

    uke = forms.DateField(required=False, input_formats=["%Y-%m-%d", "%d.%m.%Y"], validators=[validate_plausible_date],
                          error_messages={"invalid": gettext_lazy("Ugyldig dato.")})
    fagperson = forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1,
                                   error_messages={"invalid": gettext_lazy("Ugyldig fagperson.")})


def _time_field(label, *, required=True, help_text=""):
    return forms.TimeField(label=label, input_formats=["%H:%M"], widget=forms.TimeInput(attrs={"type": "time", "step": 300}, format="%H:%M"),
                           required=required, help_text=help_text,
                           error_messages={"required": gettext_lazy("Skriv inn klokkeslett."), "invalid": gettext_lazy("Ugyldig klokkeslett. Bruk tt:mm.")})


class WorkingHoursForm(forms.Form):
    station = forms.TypedChoiceField(label=gettext_lazy("Helsestasjon"), coerce=int,
                                     error_messages={"invalid_choice": gettext_lazy("Velg en av dine helsestasjoner.")})
    weekday = forms.TypedChoiceField(label=gettext_lazy("Ukedag"), coerce=int, choices=Weekday.choices,
                                     error_messages={"invalid_choice": gettext_lazy("Velg en ukedag.")})
    starts = _time_field(gettext_lazy("Fra"))
    ends = _time_field(gettext_lazy("Til"))

    def __init__(self, *args, stations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.stations = {s.pk: s for s in stations}
        self.fields["station"].choices = [(s.pk, s.name) for s in stations]

    def clean(self):
        data = super().clean()
        if data.get("station"):
            data["station"] = self.stations[data["station"]]
        if data.get("starts") and data.get("ends") and data["ends"] <= data["starts"]:
            self.add_error("ends", gettext("Sluttiden må være etter starttiden."))
        return data


class AbsenceForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Type"), choices=AbsenceKind.choices, widget=forms.RadioSelect,
                             error_messages={"required": gettext_lazy("Velg type unntak."), "invalid_choice": gettext_lazy("Ukjent type unntak.")})
    station = forms.TypedChoiceField(label=gettext_lazy("Helsestasjon (ved stenging)"), coerce=int, required=False,
                                     error_messages={"invalid_choice": gettext_lazy("Velg en av dine helsestasjoner.")})
    starts_on = forms.DateField(label=gettext_lazy("Fra og med"), input_formats=["%Y-%m-%d", "%d.%m.%Y"], validators=[validate_plausible_date],
                                widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                                error_messages={"required": gettext_lazy("Skriv inn første dag."), "invalid": gettext_lazy("Ugyldig dato. Bruk dd.mm.åååå.")})
    ends_on = forms.DateField(label=gettext_lazy("Til og med"), input_formats=["%Y-%m-%d", "%d.%m.%Y"], validators=[validate_plausible_date],
                              widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                              error_messages={"required": gettext_lazy("Skriv inn siste dag."), "invalid": gettext_lazy("Ugyldig dato. Bruk dd.mm.åååå.")})
    # Part of a day (issue 18): from this time on the first day to that time on the last; empty = whole days.
    from_time = _time_field(gettext_lazy("Fra klokken"), required=False, help_text=gettext_lazy("Tom for hele dager."))
    until_time = _time_field(gettext_lazy("Til klokken"), required=False, help_text=gettext_lazy("Tom for hele dager."))
    note = forms.CharField(label=gettext_lazy("Merknad"), max_length=200, required=False, validators=TEXT)

    def __init__(self, *args, stations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.stations = {s.pk: s for s in stations}
        self.fields["station"].choices = [("", "—")] + [(s.pk, s.name) for s in stations]

    def _clean_times(self, data) -> None:
        starts, ends = data.get("from_time"), data.get("until_time")
        if (starts is None) != (ends is None) and not {"from_time", "until_time"} & set(self.errors):
            self.add_error("until_time" if ends is None else "from_time",
                           gettext("Fyll inn både fra og til klokkeslett, eller ingen av dem for hele dager."))
        elif starts and ends and data.get("starts_on") and data.get("starts_on") == data.get("ends_on") and ends <= starts:
            self.add_error("until_time", gettext("Sluttiden må være etter starttiden."))

    def clean(self):
        data = super().clean()
        data["station"] = self.stations.get(data.get("station")) if data.get("station") else None
        if data.get("starts_on") and data.get("ends_on") and data["ends_on"] < data["starts_on"]:
            self.add_error("ends_on", gettext("Sluttdatoen må være samme dag som eller etter startdatoen."))
        if data.get("kind") == AbsenceKind.CLOSED and data["station"] is None:
            self.add_error("station", gettext("Velg helsestasjonen som er stengt."))
        self._clean_times(data)
        return data


class RegisterLookupForm(forms.Form):
    """The first step of registering a child: the national id to look up in the register, and the station."""

    national_id = forms.CharField(label=gettext_lazy("Fødselsnummer"), max_length=13, validators=[validator_from_settings],
                                  error_messages={"required": gettext_lazy("Skriv inn fødselsnummer."), "max_length": gettext_lazy("Fødselsnummeret har 11 sifre.")})
    station = forms.TypedChoiceField(label=gettext_lazy("Helsestasjon"), coerce=int,
                                     error_messages={"invalid_choice": gettext_lazy("Velg en av dine helsestasjoner.")})

    def __init__(self, *args, stations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.stations = {s.pk: s for s in stations}
        self.fields["station"].choices = [(s.pk, s.name) for s in stations]

    def clean_national_id(self):
        return self.cleaned_data["national_id"].replace(" ", "")

    def clean(self):
        data = super().clean()
        if data.get("station"):
            data["station"] = self.stations[data["station"]]
        return data


def errors_text(form: forms.Form) -> str:
    """Every message of a form in one line, for a page that shows them in one place (a row, a message)."""
    return " ".join(e for errors in form.errors.values() for e in errors)


def add_validation_errors(form: forms.Form, exc: ValidationError, *, prefix: str = "") -> None:
    """A service's refusal put on the form: each message at its field (``prefix`` + name as a second guess), else above it."""
    for field, errors in getattr(exc, "message_dict", {"__all__": exc.messages}).items():
        target = field if field in form.fields else (f"{prefix}{field}" if f"{prefix}{field}" in form.fields else None)
        for message in errors:
            form.add_error(target, message)
