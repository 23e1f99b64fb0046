"""What a finding says: one line per kind, from the finding's details, in Norwegian, without
addresses the reader may not see. ``Finding.describe`` reads it; the worklist and the nurses'
alerts show it."""

from __future__ import annotations

from typing import Callable

from django.utils.text import get_text_list
from django.utils.translation import gettext, gettext_lazy

from helsestasjon.models import AddressProtection, Guardian
from registry_sync.models import FindingKind

REGISTER_STATUS = {
    "Disappeared": gettext_lazy("forsvunnet"), "Temporary": gettext_lazy("midlertidig"), "Inactive": gettext_lazy("inaktiv"),
    "NotResident": gettext_lazy("ikke bosatt"), "Discontinued": gettext_lazy("opphørt"), "Active": gettext_lazy("aktiv"),
    "RegisteredAtBirth": gettext_lazy("fødselsregistrert"),
}
# The register writes a country as its ISO 3166 alpha-3 code; a person reads its Norwegian name.
# The countries families at the stations most often move to; any other is shown by its code.
COUNTRY_NAMES = {
    "SWE": gettext_lazy("Sverige"), "DNK": gettext_lazy("Danmark"), "FIN": gettext_lazy("Finland"),
    "ISL": gettext_lazy("Island"), "GBR": gettext_lazy("Storbritannia"), "DEU": gettext_lazy("Tyskland"),
    "POL": gettext_lazy("Polen"), "LTU": gettext_lazy("Litauen"), "LVA": gettext_lazy("Latvia"),
    "EST": gettext_lazy("Estland"), "NLD": gettext_lazy("Nederland"), "FRA": gettext_lazy("Frankrike"),
    "ESP": gettext_lazy("Spania"), "ITA": gettext_lazy("Italia"), "ROU": gettext_lazy("Romania"),
    "UKR": gettext_lazy("Ukraina"), "USA": gettext_lazy("USA"), "SOM": gettext_lazy("Somalia"),
    "ERI": gettext_lazy("Eritrea"), "SYR": gettext_lazy("Syria"), "AFG": gettext_lazy("Afghanistan"),
    "IRQ": gettext_lazy("Irak"), "PAK": gettext_lazy("Pakistan"), "PHL": gettext_lazy("Filippinene"),
    "THA": gettext_lazy("Thailand"), "TUR": gettext_lazy("Tyrkia"),
}


def country_name(code: str | None) -> str:
    """The Norwegian name of a country the register gives by its alpha-3 code (the code itself if unknown)."""
    if not code:
        return gettext("ukjent land")
    return str(COUNTRY_NAMES.get(code.upper(), code))


def guardian_names(findings) -> dict[str, str]:
    """The names of the guardians that guardian-change findings name by national id, in one query."""
    ids = {nin for f in findings if f.kind == FindingKind.GUARDIANS_CHANGED for nin in (f.details or {}).get("removed", [])}
    if not ids:
        return {}
    return {g.national_id: g.full_name for g in Guardian.objects.filter(national_id__in=ids).only("national_id", "given_name", "family_name")}


def status_date_note(details: dict) -> str:
    """Said of a status the register dates (death, move, emigration) when its date could not be used."""
    if details.get("status_date_from_register") is False:
        return gettext("Folkeregisteret oppga ingen gyldig dato; statusdatoen er satt til synkroniseringsdatoen.")
    return ""


def _with(text: str, extra: str) -> str:
    return f"{text} {extra}".strip()


def _unregistered(finding, d, address, names) -> str:
    text = gettext("Tidligere journal kan gjenåpnes.") if d.get("reopen") else gettext("Bosatt i kommunen, ingen journal.")
    return _with(text, address)


def _moved_out(finding, d, address, names) -> str:
    text = gettext("Bor nå i kommune %(municipality)s.") % {"municipality": d.get("municipality", "?")}
    return _with(_with(text, address), status_date_note(d))


def _moved_within(finding, d, address, names) -> str:
    if d.get("target_station"):
        return _with(gettext("Hører til %(station)s.") % {"station": d["target_station"]}, address)
    return _with(gettext("Ny adresse i kommunen."), address)


def _emigrated(finding, d, address, names) -> str:
    return _with(gettext("Utvandret til %(country)s.") % {"country": country_name(d.get("country"))}, status_date_note(d))


def _deceased(finding, d, address, names) -> str:
    text = (gettext("Død %(date)s. Alle fremtidige timer, brev og SMS er stoppet.")
            % {"date": d.get("deceased_date") or ""}).replace("  ", " ")
    return _with(text, status_date_note(d))


def _protection_changed(finding, d, address, names) -> str:
    # The level the register changed to is the finding's own; the finding's protection follows the person.
    labels = dict(AddressProtection.choices)
    after = d.get("after") or finding.fingerprint
    return gettext("Adressebeskyttelse: %(before)s → %(after)s.") % {
        "before": labels.get(d.get("before"), d.get("before")), "after": labels.get(after, after),
    }


def _guardians_changed(finding, d, address, names) -> str:
    parts = []
    if d.get("added"):
        parts.append(gettext("%(count)s ny(e) med foreldreansvar") % {"count": len(d["added"])})
    if d.get("removed"):
        names = guardian_names([finding]) if names is None else names
        named = [names[nin] for nin in d["removed"] if names.get(nin)]
        if len(named) == len(d["removed"]):
            parts.append(gettext("%(names)s har ikke lenger foreldreansvar") % {"names": get_text_list(named, gettext("og"))})
        else:
            parts.append(gettext("%(count)s har ikke lenger foreldreansvar") % {"count": len(d["removed"])})
    if d.get("organisations"):
        parts.append(gettext("foreldreansvar hos %(organisations)s (mulig plassering)") % {"organisations": ", ".join(d["organisations"])})
    text = "; ".join(parts)  # str.capitalize() would lower-case the organisation's name.
    return text[:1].upper() + text[1:] + "." if parts else gettext("Foreldreansvaret er endret.")


def _id_changed(finding, d, address, names) -> str:
    if d.get("merge"):
        return gettext("Nytt nummer %(after)s tilhører en annen journal: mulig sammenslåing, må vurderes.") % {"after": d.get("after")}
    return gettext("Nytt fødselsnummer %(after)s (tidligere %(before)s beholdt som alias).") % {
        "after": d.get("after"), "before": d.get("before"),
    }


def _other_status(finding, d, address, names) -> str:
    return gettext("Status i folkeregisteret: %(status)s.") % {"status": REGISTER_STATUS.get(d.get("status"), d.get("status"))}


def _fixed(text) -> Callable:
    return lambda finding, d, address, names: str(text)


DESCRIPTIONS: dict[str, Callable] = {
    FindingKind.UNREGISTERED_RESIDENT: _unregistered,
    FindingKind.MOVED_OUT: _moved_out,
    FindingKind.MOVED_WITHIN: _moved_within,
    FindingKind.ADDRESS_CORRECTED: lambda finding, d, address, names: _with(gettext("Adressen er rettet."), address),
    FindingKind.EMIGRATED: _emigrated,
    FindingKind.DECEASED: _deceased,
    FindingKind.DEATH_ANNULLED: _fixed(gettext_lazy(
        "Dødsfallet er annullert i folkeregisteret; journalen er gjenåpnet og programmet planlagt på nytt.")),
    FindingKind.PROTECTION_CHANGED: _protection_changed,
    FindingKind.GUARDIANS_CHANGED: _guardians_changed,
    FindingKind.ID_CHANGED: _id_changed,
    FindingKind.NAME_CHANGED: lambda finding, d, address, names: (
        gettext("Navnet er endret (tidligere %(before)s).") % {"before": d.get("before", "")}),
    FindingKind.OTHER_STATUS: _other_status,
    FindingKind.UNKNOWN_TO_REGISTER: _fixed(gettext_lazy("Folkeregisteret kjenner ikke fødselsnummeret: uverifisert identitet.")),
    FindingKind.AGED_OUT: _fixed(gettext_lazy("Barnet har fylt 6 år; journalen er avsluttet for programmet.")),
}


def describe(finding, *, show_address: bool, names: dict[str, str] | None = None) -> str:
    """One line saying what the register says, without addresses the reader may not see.

    ``names`` are the guardians' names by national id (``guardian_names``), read once for a list."""
    d = finding.details or {}
    register = d.get("register") or {}
    address = ""
    if show_address and register.get("street_address"):
        address = f"{register['street_address']}, {register.get('postal_code', '')} {register.get('city', '')}".strip()
    text = DESCRIPTIONS.get(finding.kind)
    return text(finding, d, address, names) if text else ""
