"""The sync's scope: the municipalities and urban districts the stations serve, and the children in the
programme (resident, under 6)."""

from __future__ import annotations

from datetime import date, timedelta

from helsestasjon.dates import add_period
from helsestasjon.models import ChildStatus, Station
from registry_sync.person_document import PersonRecord

PROGRAMME_YEARS = 6
# Statuses under which a child is followed in the programme.
NORMAL_STATUSES = ("Resident",)
# Journals the reconciliation compares with the register (aged-out ones are closed for good).
COMPARED_STATUSES = (ChildStatus.ACTIVE, ChildStatus.DECEASED, ChildStatus.EMIGRATED, ChildStatus.MOVED)


def scope_birth_from(today: date) -> date:
    """The oldest birth date still in the programme (children under 6)."""
    return add_period(today, -PROGRAMME_YEARS, "year") + timedelta(days=1)


class Scope:
    """The municipalities and urban districts the stations serve."""

    def __init__(self, today: date):
        self.today = today
        self.birth_from = scope_birth_from(today)
        self.stations: dict[str, list[Station]] = {}
        self.station_by_id: dict[int, Station] = {}
        self._station_cache: dict[tuple, Station | None] = {}
        for station in Station.objects.select_related("municipality").order_by("id"):
            self.stations.setdefault(station.municipality.number, []).append(station)
            self.station_by_id[station.pk] = station

    def station_for(self, municipality: str | None, district: str, *, fallback: bool = True) -> Station | None:
        key = (municipality, district, fallback)
        try:
            return self._station_cache[key]
        except KeyError:
            station = self._station_cache[key] = self._station_for(municipality, district, fallback=fallback)
            return station

    def _station_for(self, municipality: str | None, district: str, *, fallback: bool) -> Station | None:
        stations = self.stations.get(municipality or "")
        if not stations:
            return None
        for station in stations:
            if district and district in (station.urban_district_codes or []):
                return station
        for station in stations:
            if not station.urban_district_codes:
                return station
        return stations[0] if fallback else None

    def covers(self, record: PersonRecord, municipality: str | None = None) -> bool:
        """In scope: resident, under 6, living where a station serves. ``municipality``
        is where the search found a person whose address the register withholds."""
        return (
            record.status in NORMAL_STATUSES
            and (record.municipality_number or municipality) in self.stations
            and self.birth_from <= record.birth_date <= self.today
        )
