"""The fake register's Person documents: how each element is shaped and versioned as Persontjenesten serves it.

Every change closes the current version of an element (``isValid: false``, ``validTo`` set) and
appends a new one (``new_version``); dates are served as date-times; the contact register's part
is shaped as KRR gives it. ``FakeRegister`` (store.py) builds and changes its documents with these.
"""

from __future__ import annotations

import json
import random
import threading
from datetime import date, datetime, timedelta, timezone

RESIDENT = "Resident"
STRICTLY_CONFIDENTIAL = "StrictlyConfidential"
# InformationPart in NHN's OpenAPI document: each names one element of a Person (lower camel case).
INFORMATION_PARTS = (
    "AddressProtection", "CitizenshipRetention", "ResidentialAddress", "UseOfSamiLanguage", "SharedResidence", "Death",
    "FalseIdentity", "FamilyRelation", "Birth", "BirthInNorway", "ParentalResponsibility",
    "SamiParliamentElectoralRegistryStatus", "NorwegianIdentificationNumber", "IdentityVerification",
    "ImmigrationToNorway", "Gender", "ResiduaryEstateContactInformation", "IdentificationDocument", "Name",
    "ResidencePermit", "StayOnSvalbard", "PresentAddress", "PostalAddress", "ForeignPostalAddress",
    "PreferredContactAddress", "MaritalStatus", "Citizenship", "Status", "ForeignPersonIdentificationNumber",
    "EmigrationFromNorway", "ImmigrationAuthoritiesIdentificationNumber", "GuardianshipOrFuturePowerOfAttorney",
    "DeprivedLegalAuthority", "CommonContactRegisterInformation", "LegalAuthority",
)
ALWAYS_SERVED = ("id", "sequenceNumber")


def element_name(part: str) -> str:
    return part[0].lower() + part[1:]


def day_time(day: date | str) -> str:
    """A date as the register sends it: a date-time whose time part means nothing."""
    return f"{day.isoformat() if isinstance(day, date) else str(day)[:10]}T00:00:00Z"


def event_date(when: date | str | None) -> str | None:
    """The date of a death or an emigration as served: a date as the register sends it (today if not
    given); a string is served as it is, and an empty one as null (a register answer without the date,
    or with a malformed one, for tests)."""
    if isinstance(when, str):
        return when or None
    return day_time(when or date.today())


def new_person_document(*, person_id: str, nin: str, status: str, given_name: str, family_name: str, born: str, sex: str,
                     immigrated_from: str | None) -> dict:
    """A new person's document, every element as the register shapes it, without address or relations yet."""
    id_type = "DNumber" if int(nin[0]) >= 4 else "NationalIdentityNumber"
    return {
        "id": person_id,
        "sequenceNumber": None,
        "norwegianIdentificationNumber": [new_version(identificationNumber=nin, identificationNumberType=id_type, status="InUse")],
        "status": [new_version(status=status)],
        "name": [new_version(givenName=given_name, middleName=None, familyName=family_name)],
        "birth": [new_version(birthDate=day_time(born), birthYear=born[:4], birthCountry="NOR")],
        "gender": [new_version(gender="Female" if sex == "female" else "Male")],
        "residentialAddress": [],
        "addressProtection": [],
        "parentalResponsibility": [],
        "familyRelation": [],
        "immigrationToNorway": [new_version(immigratedFromCountry=immigrated_from)] if immigrated_from else [],
        "emigrationFromNorway": [],
        "death": None,
        "commonContactRegisterInformation": None,
    }


def address_version(*, protection: str, born: str, municipality: str, urban_district: str, street: str,
                     house_number: int | None, postal_code: str, city: str) -> dict:
    """A residential address version, moved into at birth."""
    return new_version(
        addressConfidentiality=protection, moveDate=day_time(born), urbanDistrictCode=urban_district or None,
        urbanDistrictName=None,
        streetAddress=street_address(municipality=municipality, street=street, house_number=house_number,
                                     postal_code=postal_code, city=city),
    )


def add_history(doc: dict, *, family_name: str, municipality: str | None, **address) -> None:
    """An earlier name and address, closed: the name given after birth, the first address."""
    earlier = new_version(givenName=None, middleName=None, familyName=family_name)
    doc["name"].insert(0, {**earlier, "isValid": False, "validTo": doc["name"][0]["validFrom"]})
    if municipality:
        first = address_version(street="Fødeveien", house_number=1, municipality=municipality, **address)
        doc["residentialAddress"].append({**first, "isValid": False, "validTo": _now()})


def _now() -> str:
    # Strictly increasing: two changes in the same microsecond would make their versions' order a tie.
    global _last_now
    with _now_lock:
        moment = max(datetime.now(timezone.utc), _last_now + timedelta(microseconds=1))
        _last_now = moment
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_now_lock = threading.Lock()
_last_now = datetime.min.replace(tzinfo=timezone.utc)


def new_version(**fields) -> dict:
    now = _now()
    return {"isValid": True, "validFrom": now, "validTo": None, "registeredAt": now, "source": "Skatteetaten", "reason": None, **fields}


def close_current(versions: list[dict]) -> None:
    now = _now()
    for v in versions:
        if v.get("isValid"):
            v["isValid"] = False
            v["validTo"] = now


def current_version(versions: list[dict]) -> dict | None:
    for v in versions or []:
        if v.get("isValid"):
            return v
    return None


def street_address(*, municipality: str, street: str = "", house_number: int | None = None, postal_code: str = "",
                   city: str = "", municipality_name: str = "") -> dict:
    return {
        "municipalityNumber": municipality,
        "municipalityName": municipality_name,
        "addressName": street,
        "addressNumber": {"houseNumber": str(house_number) if house_number else None, "houseLetter": None},
        "separatelyOccupiedUnitNumber": None,
        "city": {"postalCode": postal_code, "cityName": city},
        "coAddressName": None,
    }


def encode_document(doc: dict) -> bytes:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def set_person_status(doc: dict, status: str) -> None:
    close_current(doc["status"])
    doc["status"].append(new_version(status=status))


def protection_level(doc: dict) -> str:
    current = current_version(doc.get("addressProtection", []))
    return current["protectionLevel"] if current else "Unclassified"


def shuffle_versions(doc: dict, *, reverse: bool = False) -> dict:
    """The document with each element's versions newest first (``reverse``) or in an order of their
    own, the same each time and never the recorded one."""
    rng = random.Random(doc["id"])
    served = {}
    for key, value in doc.items():
        if isinstance(value, list) and len(value) > 1:
            value = value[::-1]
            for _ in range(0 if reverse else 5):
                rng.shuffle(value)
                if value != doc[key]:
                    break
        served[key] = value
    return served


def contact_information(phone: str | None, language: str, reserved: bool, status: str = "Active",
             notification_status: str = "CanBeNotified", digital_post: str | None = None) -> dict:
    return {
        "reservation": "Yes" if reserved else "No",
        "status": status,
        "notificationStatus": notification_status,
        "contactInformation": {"phoneNumber": f"+47{phone}" if phone else None, "email": None},
        # digitalPost as KRR gives it: the mailbox vendor's address (e.g. "digipost") and the person's address there.
        "digitalPost": {"digitalPostAddress": f"{digital_post}-{phone or 'x'}", "digitalPostVendorAddress": digital_post}
        if digital_post else None,
        "language": language,
    }
