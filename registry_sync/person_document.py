"""The register's person document, read into ``PersonRecord`` (../shared/spec/register-api.md).

``PersonRecord`` is the small internal value the reconciliation compares with the journal, always
read from the versions with ``isValid: true``; where an element has several versions, they are
ordered by time (``latest_version``), never by their place in the list. ``INFORMATION_PARTS`` are
the parts this parse reads, and the client asks every person route for exactly these. Anything
that is not the shape the interface promises is a ``RegisterProtocolError``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from registry_sync.register_errors import RegisterProtocolError

# The parts of a person the application reads; a required query parameter on every person route.
INFORMATION_PARTS = (
    "NorwegianIdentificationNumber", "Status", "Birth", "Name", "Gender", "AddressProtection",
    "ResidentialAddress", "ParentalResponsibility", "FamilyRelation", "EmigrationFromNorway",
    "ImmigrationToNorway", "Death", "CommonContactRegisterInformation",
)
# Person ids are opaque strings (NHN's OpenAPI document: 1 to 64 characters).
MAX_PERSON_ID_LENGTH = 64


@dataclass(frozen=True)
class Responsibility:
    national_id: str | None
    organisation: str | None
    kind: str
    # A parent without a Norwegian id (responsibleWithoutIdentifier): known by name only.
    given_name: str | None = None
    family_name: str | None = None

    @property
    def name(self) -> str | None:
        return " ".join(part for part in (self.given_name, self.family_name) if part) or None

    @property
    def key(self) -> tuple[str, str]:
        """How the journal's guardian with this responsibility is recognised (guardian_key)."""
        if self.national_id:
            return ("nin", self.national_id)
        if self.organisation:
            return ("org", self.organisation.strip().lower())
        return ("person", (self.name or "Ukjent").lower())


def guardian_key(*, national_id: str | None, organisation: bool, given_name: str, family_name: str) -> tuple[str, str]:
    """A journal guardian's key, as ``Responsibility.key`` gives it for the register's answer."""
    if national_id:
        return ("nin", national_id)
    if organisation:
        return ("org", family_name.strip().lower())
    return ("person", (" ".join(part for part in (given_name.strip(), family_name.strip()) if part) or "Ukjent").lower())


@dataclass(frozen=True)
class PersonRecord:
    person_id: str
    sequence_number: int | None
    national_id: str
    id_type: str
    former_national_ids: tuple[str, ...]
    status: str
    birth_date: date
    given_name: str
    family_name: str
    sex: str
    municipality_number: str | None
    urban_district_code: str
    street_address: str
    postal_code: str
    city: str
    move_date: str | None
    # The previous address version's move date; equal to move_date when the
    # current address is a correction without a move.
    previous_move_date: str | None
    protection: str
    guardians: tuple[Responsibility, ...] = field(default_factory=tuple)
    parents: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    emigrated_to: str | None = None
    # The register's dates of an emigration and a death (as it sends them; the
    # comparison checks they are dates before using them).
    emigration_date: str | None = None
    deceased_date: str | None = None
    phone: str | None = None
    language: str | None = None
    reserved: bool = False
    # The contact register's own reservation against digital contact, and the digital mailbox
    # ("digitalPostVendorAddress") when the record is Active: the letters' channel rule reads these.
    krr_reserved: bool = False
    digital_mailbox: str = ""

    @property
    def is_deceased(self) -> bool:
        return self.status == "Deceased" or self.deceased_date is not None

    @property
    def has_address(self) -> bool:
        return self.municipality_number is not None

    def summary(self) -> dict:
        """A JSON-safe copy for a finding's details."""
        return {
            "person_id": self.person_id, "national_id": self.national_id, "id_type": self.id_type,
            "former_national_ids": list(self.former_national_ids), "status": self.status,
            "birth_date": self.birth_date.isoformat(), "given_name": self.given_name, "family_name": self.family_name,
            "municipality_number": self.municipality_number, "urban_district_code": self.urban_district_code,
            "street_address": self.street_address, "postal_code": self.postal_code, "city": self.city,
            "move_date": self.move_date, "protection": self.protection,
            "guardians": [[g.national_id, g.organisation, g.kind, g.name] for g in self.guardians],
            "emigrated_to": self.emigrated_to, "emigration_date": self.emigration_date, "deceased_date": self.deceased_date,
            "phone": self.phone, "language": self.language, "reserved": self.reserved,
        }


def _current(versions) -> list[dict]:
    if versions is None:
        return []
    if not isinstance(versions, list):
        raise RegisterProtocolError("Expected a list of versions")
    return [v for v in versions if isinstance(v, dict) and v.get("isValid") is True]


_EARLIEST = datetime.min.replace(tzinfo=timezone.utc)
_LATEST = datetime.max.replace(tzinfo=timezone.utc)


def _instant(value, missing: datetime) -> datetime:
    """A version's timestamp (ISO 8601, with or without a zone: UTC when without)."""
    if not value:
        return missing
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise RegisterProtocolError(f"A version time that is not ISO 8601: {value!r:.40}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def version_time(version: dict) -> tuple[datetime, datetime, datetime]:
    """The order of a version among its element's versions (docs/decisions.md, "Register versions
    and protocol"): ``validFrom`` first, when it took effect; when two took effect at the same time
    (a correction is back-dated to the version it corrects), the later ``registeredAt``, which
    replaced the other; then ``validTo``, an open version (no ``validTo``) after a closed one. A
    missing ``validFrom`` or ``registeredAt`` counts as the earliest."""
    get = version.get
    return (_instant(get("validFrom"), _EARLIEST), _instant(get("registeredAt"), _EARLIEST),
            _instant(get("validTo"), _LATEST))


def latest_version(versions, *, valid: bool = True) -> dict | None:
    """The latest version by time (``version_time``) that is current (``valid``) or closed.
    Every "current versus previous" read goes through here; list order is never used."""
    if not versions:
        return None
    if not isinstance(versions, list):
        raise RegisterProtocolError("Expected a list of versions")
    if len(versions) == 1:  # Nearly always; no time to compare.
        only = versions[0]
        return only if only.__class__ is dict and (only.get("isValid") is True) is valid else None
    wanted = [v for v in versions if v.__class__ is dict and (v.get("isValid") is True) is valid]
    if len(wanted) <= 1:
        return wanted[0] if wanted else None
    return max(wanted, key=version_time)


def _one(versions) -> dict | None:
    """The current version (the latest by time when the register gives several)."""
    return latest_version(versions)


_SEX = {"Female": "female", "Male": "male"}
_PARENT_ROLES = ("Mother", "Father", "CoMother")
_NO_DICT: dict = {}


def _record(**values) -> PersonRecord:
    """A PersonRecord without the frozen dataclass's generated ``__init__``
    (one ``object.__setattr__`` per field made it a fifth of the parse); every
    field is given, so the instance is the same as ``PersonRecord(**values)``."""
    record = object.__new__(PersonRecord)
    _set_dict(record, "__dict__", values)
    return record


def _responsibility(national_id: str | None, organisation: str | None, kind: str, given_name: str | None = None,
                    family_name: str | None = None) -> Responsibility:
    """``Responsibility(national_id, organisation, kind, ...)``, built as ``_record`` builds a PersonRecord."""
    responsibility = object.__new__(Responsibility)
    _set_dict(responsibility, "__dict__", {"national_id": national_id, "organisation": organisation, "kind": kind,
                                           "given_name": given_name, "family_name": family_name})
    return responsibility


def _responsibility_of(version: dict) -> Responsibility:
    kind = version.get("responsibilityType") or "Unknown"
    if version.get("responsible"):
        return _responsibility(str(version["responsible"]), None, kind)
    if version.get("responsibleOrganization"):
        return _responsibility(None, version["responsibleOrganization"], kind)
    without = version.get("responsibleWithoutIdentifier")
    if isinstance(without, dict):
        name = without.get("name") or _NO_DICT
        given = " ".join(part.strip() for part in (name.get("givenName"), name.get("middleName")) if part and part.strip())
        family = (name.get("familyName") or "").strip()
        return _responsibility(None, None, kind, given or None, family or None)
    return _responsibility(None, None, kind)


def _contact(contact: dict) -> tuple[str | None, str | None, bool]:
    """(mobile number, language, reserved) from the contact register (KRR). ``reservation`` is the
    string "Yes" or "No"; a record that is not ``Active`` (deleted, not registered) holds no number
    to use, and a person who ``CanNotBeNotified`` (contact details not confirmed) is not sent SMS."""
    if contact.get("status") not in (None, "Active"):
        return None, None, contact.get("reservation") == "Yes"
    phone = ((contact.get("contactInformation") or _NO_DICT).get("phoneNumber")) or None
    if phone and phone.startswith("+47"):
        phone = phone[3:]
    reserved = contact.get("reservation") == "Yes" or contact.get("notificationStatus") == "CanNotBeNotified"
    return phone, contact.get("language") or None, reserved


def _digital_post(contact: dict) -> tuple[bool, str]:
    """(reserved against digital contact, the digital mailbox or "") from the contact register."""
    reserved = contact.get("reservation") == "Yes"
    post = contact.get("digitalPost")
    if reserved or contact.get("status") != "Active" or not isinstance(post, dict):
        return reserved, ""
    mailbox = post.get("digitalPostVendorAddress") or post.get("digitalPostAddress") or ""
    return reserved, mailbox if isinstance(mailbox, str) else ""


_set_dict = object.__setattr__


def _day(value) -> str | None:
    """The date of a date-time the register sends for a date (its time part must be ignored).
    Not checked here: whoever uses it as a date parses it (comparison.register_day)."""
    return str(value)[:10] if value else None


def parse_persons(documents: list[dict]) -> list[tuple[PersonRecord, dict]]:
    """Each document parsed, with the document (RegisterProtocolError on the first that is not a person)."""
    return [(parse_person(doc), doc) for doc in documents]


def _national_ids(ids, person_id: str) -> tuple[dict, str, tuple[str, ...]]:
    """(the current identification version, its number, the former numbers)."""
    current_id = _one(ids)
    national_id = None if current_id is None else str(current_id.get("identificationNumber", ""))
    if national_id is None or not national_id.isdigit():
        raise RegisterProtocolError(f"Person {person_id} has no current identification number")
    if len(ids) == 1:
        return current_id, national_id, ()
    return current_id, national_id, tuple(
        str(v["identificationNumber"]) for v in ids
        if isinstance(v, dict) and not v.get("isValid") and v.get("identificationNumber")
    )


def _given_name(name: dict) -> str:
    given_name, middle_name = name.get("givenName"), name.get("middleName")
    if given_name and middle_name:
        return " ".join((given_name, middle_name))
    if given_name or middle_name:
        return " ".join((given_name or middle_name,))
    return ""


_NO_RESIDENCE = (None, "", "", "", "", None, None, None)


def _residence(addresses: list) -> tuple:
    """(municipality, urban district, street, postal code, city, move date, the previous version's
    move date, its confidentiality) of the current residential address."""
    address = _one(addresses)
    if not address:
        return _NO_RESIDENCE
    municipality = None
    street = postal = city = ""
    district = address.get("urbanDistrictCode") or ""
    move_date = _day(address.get("moveDate"))
    sa = address.get("streetAddress")
    if sa:
        municipality = sa.get("municipalityNumber")
        number = sa.get("addressNumber") or _NO_DICT
        street_name, house_number = sa.get("addressName"), number.get("houseNumber")
        if street_name and house_number:
            street = f"{street_name} {house_number}"
        elif street_name or house_number:
            street = str(street_name or house_number)
        street += number.get("houseLetter") or ""
        place = sa.get("city") or _NO_DICT
        postal = place.get("postalCode") or ""
        city = place.get("cityName") or ""
    elif address.get("cadastralAddress"):
        ca = address["cadastralAddress"]
        municipality = (ca.get("cadastralNumber") or _NO_DICT).get("municipalityNumber")
        place = ca.get("city") or _NO_DICT
        postal = place.get("postalCode") or ""
        city = place.get("cityName") or ""
    elif address.get("unknownResidence"):
        municipality = address["unknownResidence"].get("municipalityNumber")
    previous_move_date = None
    if len(addresses) > 1:
        previous = latest_version(addresses, valid=False)  # The version most recently closed.
        previous_move_date = _day(previous.get("moveDate")) if previous else None
    return municipality, district, street, postal, city, move_date, previous_move_date, address.get("addressConfidentiality")


def _family(get) -> tuple[tuple, tuple]:
    """(the current parental responsibilities, the parents' (national id, role))."""
    responsibility = get("parentalResponsibility")
    guardians = tuple([_responsibility_of(v) for v in _current(responsibility)]) \
        if responsibility.__class__ is not list or responsibility else ()
    relations = get("familyRelation")
    parents = tuple([
        (str(v.get("relatedPerson")), str(v.get("relatedPersonsRole")))
        for v in _current(relations)
        if v.get("relatedPersonsRole") in _PARENT_ROLES
    ]) if relations.__class__ is not list or relations else ()
    return guardians, parents


def parse_person(doc) -> PersonRecord:
    """Turn a Person document into a PersonRecord, or raise RegisterProtocolError.

    Called for every person of every sync run, so it reads each field once
    and builds nothing it does not return."""
    if doc.__class__ is not dict:
        if not isinstance(doc, dict):
            raise RegisterProtocolError("A person document without an id")
    person_id = doc.get("id")
    if not isinstance(person_id, str):
        raise RegisterProtocolError("A person document without an id")
    if not 0 < len(person_id) <= MAX_PERSON_ID_LENGTH:
        raise RegisterProtocolError(f"A person id of {len(person_id)} characters: {person_id!r:.80}")
    get = doc.get
    try:
        current_id, national_id, former = _national_ids(get("norwegianIdentificationNumber"), person_id)
        status = (_one(get("status")) or _NO_DICT).get("status") or ""
        birth = _one(get("birth"))
        if not birth or not birth.get("birthDate"):
            raise RegisterProtocolError(f"Person {person_id} has no birth date")
        name = _one(get("name")) or _NO_DICT
        protection = (_one(get("addressProtection")) or _NO_DICT).get("protectionLevel") or "Unclassified"
        addresses = get("residentialAddress") or []
        municipality, district, street, postal, city, move_date, previous_move_date, confidentiality = _residence(addresses)
        if protection == "Unclassified" and confidentiality:
            protection = confidentiality
        guardians, parents = _family(get)
        emigration = _one(get("emigrationFromNorway")) or _NO_DICT
        if status != "Emigrated":
            emigration = _NO_DICT
        death = get("death")
        phone, language, reserved = _contact(get("commonContactRegisterInformation") or _NO_DICT)
        krr_reserved, digital_mailbox = _digital_post(get("commonContactRegisterInformation") or _NO_DICT)
        seq = get("sequenceNumber")
        return _record(
            person_id=person_id, sequence_number=int(seq) if seq not in (None, "") else None,
            national_id=national_id, id_type=current_id.get("identificationNumberType") or "", former_national_ids=former,
            status=status, birth_date=date.fromisoformat(str(birth["birthDate"])[:10]),  # The time part is ignored.
            given_name=_given_name(name), family_name=name.get("familyName") or "",
            sex=_SEX.get((_one(get("gender")) or _NO_DICT).get("gender") or "", "unknown"),
            municipality_number=municipality, urban_district_code=district, street_address=street, postal_code=postal,
            city=city, move_date=move_date, previous_move_date=previous_move_date, protection=protection,
            guardians=guardians, parents=parents,
            emigrated_to=emigration.get("emigratedToCountry"), emigration_date=_day(emigration.get("emigratedMoveDate")),
            deceased_date=_day(death.get("deceasedDate")) if isinstance(death, dict) and death.get("isValid", True) else None,
            phone=phone, language=language, reserved=reserved,
            krr_reserved=krr_reserved, digital_mailbox=digital_mailbox[:100],
        )
    except RegisterProtocolError:
        raise
    except (AttributeError, KeyError, TypeError, ValueError, OverflowError) as exc:
        raise RegisterProtocolError(f"Unexpected person document {person_id}: {exc!r}") from exc
