"""The statistics page's choice of station and period."""

from __future__ import annotations

from datetime import date

from django import forms
from django.utils.translation import gettext, gettext_lazy

from followup.statistics.scope import Scope
from helsestasjon.validators import validate_plausible_date

MAX_YEARS = 10


class StatisticsForm(forms.Form):
    stasjon = forms.TypedChoiceField(label=gettext_lazy("Helsestasjon"), required=False, coerce=int, empty_value=None)
    fra = forms.DateField(label=gettext_lazy("Fra og med"), required=False, validators=[validate_plausible_date],
                          widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    til = forms.DateField(label=gettext_lazy("Til og med"), required=False, validators=[validate_plausible_date],
                          widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))

    def __init__(self, data, *, user, stations, today: date):
        super().__init__(data)
        self.user = user
        self.today = today
        everything = "Hele kommunen (alle helsestasjoner)" if user.is_admin_role else "Alle mine helsestasjoner"
        self.fields["stasjon"].choices = [("", everything)] + [(station.pk, station.name) for station in stations]
        # Shown in the inputs when nothing was chosen yet: the default period.
        self.fields["fra"].initial = date(today.year, 1, 1)
        self.fields["til"].initial = date(today.year, 12, 31)
        self.fields["stasjon"].error_messages["invalid_choice"] = gettext("Velg en helsestasjon du har tilgang til.")
        self.fields["fra"].error_messages["invalid"] = gettext("Skriv datoen som dd.mm.åååå.")
        self.fields["til"].error_messages["invalid"] = gettext("Skriv datoen som dd.mm.åååå.")

    def clean(self):
        data = super().clean()
        start = data.get("fra") or date(self.today.year, 1, 1)
        end = data.get("til") or date(start.year, 12, 31)
        if "fra" in self.errors or "til" in self.errors:
            return data
        if end < start:
            raise forms.ValidationError(gettext("Til-datoen må være etter fra-datoen."))
        if (end - start).days > MAX_YEARS * 366:
            raise forms.ValidationError(gettext("Velg en periode på høyst %(years)s år.") % {"years": MAX_YEARS})
        data["fra"], data["til"] = start, end
        return data

    def scope(self) -> Scope:
        """The chosen scope, or the default (this year, every station) when the input was bad."""
        valid = self.is_valid()
        data = self.cleaned_data if valid else {}
        station_ids = tuple(self.user.station_ids())
        if data.get("stasjon"):
            station_ids = (data["stasjon"],)
        start = data.get("fra") or date(self.today.year, 1, 1)
        end = data.get("til") or date(self.today.year, 12, 31)
        return Scope(station_ids=station_ids, start=start, end=end, today=self.today)

    def params(self) -> dict[str, str]:
        """The chosen values as query parameters, for links that keep the same scope."""
        scope = self.scope()
        params = {"fra": scope.start.isoformat(), "til": scope.end.isoformat()}
        if self.is_valid() and self.cleaned_data.get("stasjon"):
            params["stasjon"] = str(self.cleaned_data["stasjon"])
        return params
