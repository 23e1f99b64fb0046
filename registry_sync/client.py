"""The population register client (../shared/spec/register-api.md).

Over 500 lines for a reason: it is one idea, the protocol — the routes and their retries, the
person document's parse, and the streamed decoding of large answers — and the parse must agree
with the information parts the routes ask for.

One small client for the real service and the fake alike: base URL, API
version, bearer token and timeout are settings. It speaks Persontjenesten's
protocol as NHN's OpenAPI document gives it: form-encoded bodies (lists as
repeated keys), the ``api-version`` header on every request, and on every
person route the ``informationParts`` the application reads and
``includeHistory=true`` (the closed versions are what a move is told from a
correction, and a former national id from an unknown one). It retries what can succeed on a second try
(429 honouring ``Retry-After``, 5xx, timeouts, dropped connections) with
exponential backoff, and turns every other failure, and every answer that is
not the shape the interface promises, into a ``RegisterError`` that the sync
records instead of applying.

``PersonRecord`` is the small internal value the reconciliation compares with
the journal, always read from the versions with ``isValid: true``; where an
element has several versions, they are ordered by time (``latest_version``),
never by their place in the list.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Iterator

import requests

logger = logging.getLogger(__name__)

MAX_EVENTS_PER_PAGE = 1000
MAX_BULK = 100
SEARCH_PAGE_SIZE = 5000
# A Retry-After longer than this is not waited for inside one sync run: the
# run fails, is recorded, and the next scheduled run tries again.
MAX_RETRY_AFTER_SECONDS = 60

RESIDENT_STATUSES = ("Resident",)
# Person ids are opaque strings (NHN's OpenAPI document: 1 to 64 characters).
MAX_PERSON_ID_LENGTH = 64
# The parts of a person the application reads; a required query parameter on every person route.
INFORMATION_PARTS = (
    "NorwegianIdentificationNumber", "Status", "Birth", "Name", "Gender", "AddressProtection",
    "ResidentialAddress", "ParentalResponsibility", "FamilyRelation", "EmigrationFromNorway",
    "ImmigrationToNorway", "Death", "CommonContactRegisterInformation",
)
# Event types that change what the application reads: the person named is re-fetched.
REFETCH_EVENT_TYPES = frozenset({
    "PersonIsCreated", "PersonIsUpdated", "PersonIsDeceased", "PersonIsResident", "PersonIsEmigrated",
    "ChangeInResidentialAddress", "ChangeInResidentialAddressWithoutRelocation", "ChangeInAddressProtection",
    "ChangeInParentalResponsibility", "ChangeInFamilyRelation", "ChangeInImmigrationToNorway",
    "ChangeInEmigrationFromNorway", "ChangeInNorwegianIdentificationNumber", "ChangeInName", "ChangeInDeath",
    "ChangeInSharedResidence", "ChangeInStatus", "ChangeInCommonContactRegisterInformation",
    "PersonIsDiscontinuedAsDuplicate", "PersonIsContinuedAsValidUponMerger",
    # Not named by the first version of the interface, and they change the person too: a reactivated
    # or discontinued person, a split, a corrected document, a changed birth date or gender, a false identity.
    "PersonIsReactivated", "PersonIsDiscontinued", "PersonIsChangedBySplitting", "PersonIsRestoredBySplitting",
    "PersonCorrected", "ChangeInPerson", "ChangeInBirth", "ChangeInGender", "ChangeInFalseIdentity",
    "PersonPopulated",
})
# The other types Persontjenesten sends (53 in all, EventType in NHN's OpenAPI document): read and
# skipped, since they change nothing the application reads. A type in neither set is logged.
OTHER_EVENT_TYPES = frozenset({
    "Unknown", "ChangeInIdentityVerification", "ChangeInForeignPersonIdentificationNumber",
    "ChangeInImmigrationAuthoritiesIdentificationNumber", "ChangeInIdentificationDocument",
    "ChangeInResiduaryEstateContactInformation", "ChangeInBirthInNorway", "ChangeInMaritalStatus",
    "ChangeInPresentAddress", "ChangeInUseOfSamiLanguage", "ChangeInSamiParliamentElectoralRegistryStatus",
    "ChangeInContactinformation", "ChangeInCitizenship", "ChangeInResidency", "ChangeInResidencyOnSvalbard",
    "ChangeInGuardianship", "ChangeInPostalAddress", "ChangeInForeignPostalAddress", "ChangeInResidencePermit",
    "ChangeInDeprivedLegalAuthority", "CreatedAlternateIdentificationNumber",
    "UpdatedAlternateIdentificationNumber", "ChangeInLegalAuthority",
})
EVENT_TYPES = REFETCH_EVENT_TYPES | OTHER_EVENT_TYPES
# The signal for an address change, where the event sync has it (the spec's "address corrected without a move").
MOVE_EVENT = "ChangeInResidentialAddress"
CORRECTION_EVENT = "ChangeInResidentialAddressWithoutRelocation"


class RegisterError(Exception):
    """The register could not give a usable answer; nothing may be applied."""


class RegisterUnavailable(RegisterError):
    """Timeouts, 429 or 5xx that outlasted the retries, or a refused connection."""


class RegisterRefused(RegisterError):
    """400/401/403/other 4xx: retrying the same request cannot help."""


class RegisterProtocolError(RegisterError):
    """Malformed, truncated or unexpected JSON."""


@dataclass(frozen=True)
class Event:
    sequence_number: int
    person_id: str
    event_type: str


@dataclass(frozen=True)
class EventPage:
    events: list[Event]
    start_index: int
    end_index: int


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


# The query of every person route: the parts read, and the closed versions with them.
PERSON_QUERY = [*(("informationParts", part) for part in INFORMATION_PARTS), ("includeHistory", "true")]


class RegisterClient:
    def __init__(self, base_url: str, *, token: str = "", api_version: str = "2", timeout: float = 10,
                 max_attempts: int = 4, backoff_seconds: float = 0.5, session: requests.Session | None = None,
                 sleep=time.sleep, token_provider=None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.session = session or requests.Session()
        self.session.headers["Accept"] = "application/json"
        self.session.headers["api-version"] = str(api_version)
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self._sleep = sleep
        self.requests_made = 0
        # --- HelseID (issue 19): tokens from helsestasjon.helseid.tokens instead of a static one. ---
        self.token_provider = token_provider
        # --- end HelseID ---

    @classmethod
    def from_settings(cls, **kwargs) -> "RegisterClient":
        from django.conf import settings

        # --- HelseID (issue 19) ---
        from helsestasjon.helseid.tokens import register_token_provider

        kwargs.setdefault("token_provider", register_token_provider())
        # --- end HelseID ---
        return cls(settings.REGISTER_BASE_URL, token=settings.REGISTER_TOKEN or "",
                   api_version=settings.REGISTER_API_VERSION, timeout=settings.REGISTER_TIMEOUT_SECONDS, **kwargs)

    def fork(self) -> "RegisterClient":
        """The same client with its own HTTP session, for another thread (a
        ``requests.Session`` is not meant to be shared between threads)."""
        other = copy.copy(self)
        other.session = requests.Session()
        other.session.headers.clear()
        other.session.headers.update(self.session.headers)
        other.requests_made = 0
        return other

    # ------------------------------------------------------------- transport
    def _request(self, method: str, path: str, *, form=None, params=None, allow_404: bool = False,
                 decode: bool = True):
        """The decoded JSON answer (or, with ``decode=False``, the response, its body read).
        ``form``: the body, sent form-encoded ([(key, value)], a list field as repeated keys)."""
        url = f"{self.base_url}{path}"
        for attempt in range(1, self.max_attempts + 1):
            delay = self.backoff_seconds * (2 ** (attempt - 1))
            try:
                self.requests_made += 1
                response = self._send(method, url, data=form, params=params, timeout=self.timeout)
            except (requests.Timeout, requests.ConnectionError) as exc:
                problem = f"{method} {path}: {exc.__class__.__name__}"
                if attempt == self.max_attempts:
                    raise RegisterUnavailable(problem) from exc
                logger.warning("Register %s, retrying in %.1f s", problem, delay)
                self._sleep(delay)
                continue
            if response.status_code == 404 and allow_404:
                return None
            if response.status_code == 429 or response.status_code >= 500:
                problem = f"{method} {path}: HTTP {response.status_code}"
                if response.status_code == 429:
                    delay = max(delay, _retry_after(response.headers.get("Retry-After")))
                if attempt == self.max_attempts or delay > MAX_RETRY_AFTER_SECONDS:
                    raise RegisterUnavailable(problem)
                logger.warning("Register %s, retrying in %.1f s", problem, delay)
                self._sleep(delay)
                continue
            if response.status_code >= 400:
                raise RegisterRefused(f"{method} {path}: HTTP {response.status_code} {_problem_title(response)}")
            return _decode(response, method, path) if decode else response
        raise RegisterUnavailable(f"{method} {path}: no attempts left")  # pragma: no cover - the loop always returns or raises

    # --- HelseID (issue 19): the one place a register call is authorised. ---
    def _send(self, method: str, url: str, **kwargs):
        """One HTTP request; with a token provider, a HelseID token (one fresh token and one retry on 401)."""
        if self.token_provider is None:
            return self.session.request(method, url, **kwargs)
        from helsestasjon.helseid.tokens import TokenUnavailable, send_with_token

        try:
            return send_with_token(self.session, self.token_provider, method, url, **kwargs)
        except TokenUnavailable as exc:
            raise RegisterUnavailable(f"{method} {url}: no HelseID token ({exc})") from exc
    # --- end HelseID ---

    # ----------------------------------------------------------------- calls
    def latest_event(self) -> Event | None:
        data = self._request("GET", "/event/latest", allow_404=True)
        if data is None:
            return None
        return _event(data)

    def events(self, sequence_number: int) -> EventPage:
        """Events from ``sequence_number`` (inclusive), oldest first, at most 1000. Past the end the
        register answers an empty page or 404 "Event not found": both are an empty page."""
        data = self._request("GET", "/event", params={"sequenceNumber": sequence_number}, allow_404=True)
        if data is None:
            return EventPage(events=[], start_index=sequence_number, end_index=sequence_number)
        if not isinstance(data, dict) or not isinstance(data.get("results", []) or [], list):
            raise RegisterProtocolError("The event page has no results list")
        events = [_event(e) for e in data.get("results") or []]
        if len(events) > MAX_EVENTS_PER_PAGE:
            raise RegisterProtocolError(f"The event page has {len(events)} events, more than {MAX_EVENTS_PER_PAGE}")
        seqs = [e.sequence_number for e in events]
        if seqs != sorted(seqs):
            raise RegisterProtocolError("The event page is not in sequence order")
        return EventPage(events=events, start_index=_int(data.get("startIndex", sequence_number)),
                         end_index=_int(data.get("endIndex", sequence_number)))

    def persons_by_id(self, person_ids) -> list[dict]:
        return self.fetch_persons_by_id(person_ids).documents()

    def persons_by_nin(self, nins) -> list[dict]:
        return self._bulk("/person/bulk-by-nin", "nins", nins).documents()

    def fetch_persons_by_id(self, person_ids) -> "FetchedPersons":
        """The bulk answers for these ids, received but not decoded yet. A sync
        fetches the next batch in a thread while it works on this one; decoding
        there would hold the GIL for milliseconds at a time (one json.loads per
        answer) and stall the thread that waits for the database."""
        return self._bulk("/person/bulk-by-id", "personIds", person_ids)

    def person_by_nin(self, nin: str) -> dict | None:
        data = self._request("POST", "/person/get-by-nin", form=[("nin", nin)], params=PERSON_QUERY, allow_404=True)
        if data is not None and not isinstance(data, dict):
            raise RegisterProtocolError("get-by-nin did not answer with a person")
        return data

    def _bulk(self, path: str, key: str, values) -> "FetchedPersons":
        values = list(dict.fromkeys(values))
        responses = []
        for start in range(0, len(values), MAX_BULK):
            responses.append(self._request("POST", path, form=[(key, value) for value in values[start : start + MAX_BULK]],
                                           params=PERSON_QUERY, decode=False))
        return FetchedPersons(path, responses)

    def search_ids(self, *, municipality_number: str, birth_from: date, birth_to: date,
                   statuses=RESIDENT_STATUSES, page_size: int = SEARCH_PAGE_SIZE) -> Iterator[str]:
        """Every person id the paged municipality search returns, page by page."""
        offset = 0
        while True:
            data = self._request("POST", "/search/paged-match-list", form=[
                ("MunicipalityNumber", municipality_number),
                ("BirthDateFrom", birth_from.isoformat()),
                ("BirthDateTo", birth_to.isoformat()),
                *(("PersonStatuses", status) for status in statuses),
                ("PageSize", page_size),
                ("IndexOffset", offset),
            ])
            if not isinstance(data, dict) or not isinstance(data.get("results"), list):
                raise RegisterProtocolError("The search page has no results list")
            results = data["results"]
            if not all(isinstance(r, str) for r in results):
                raise RegisterProtocolError("The search page holds something other than person ids")
            yield from results
            if len(results) < page_size:
                return
            offset += len(results)


class FetchedPersons:
    """Bulk answers received from the register, decoded by ``documents()``."""

    def __init__(self, path: str, responses: list):
        self.path = path
        self.responses = responses

    def documents(self) -> list[dict]:
        documents: list[dict] = []
        for response in self.responses:
            data = _decode(response, "POST", self.path)
            if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
                raise RegisterProtocolError(f"{self.path} did not answer with a list of persons")
            documents.extend(data)
        return documents

    def records(self) -> list[tuple[PersonRecord, str]]:
        """Every person parsed, with the document's JSON text: (record, text).

        The answers are decoded one document at a time and each document is
        parsed and dropped at once, instead of decoding whole answers and
        keeping a thousand documents (60,000 dicts and lists) alive while they
        are compared: objects that live that long are promoted and rescanned by
        the garbage collector, which cost as much as the decoding itself. The
        text is kept for what needs the document later (a finding's snapshot).
        Raises RegisterProtocolError for anything ``documents()`` would refuse.
        """
        records = []
        for response in self.responses:
            try:
                text = response.content.decode("utf-8")  # JSON between systems is UTF-8 (RFC 8259), whatever the header says.
                for doc, start, end in _iter_array(text, f"{self.path} did not answer with a list of persons"):
                    if doc.__class__ is not dict and not isinstance(doc, dict):
                        raise RegisterProtocolError(f"{self.path} did not answer with a list of persons")
                    records.append((parse_person(doc), text[start:end]))
            except ValueError as exc:  # json.JSONDecodeError and a failed text decoding
                raise RegisterProtocolError(
                    f"POST {self.path}: the answer is not valid JSON ({len(response.content)} bytes)") from exc
        return records


_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def _iter_array(text: str, not_a_list: str):
    """(element, start, end) for each element of the JSON array ``text``; what
    json.loads(text) accepts as a list, element by element. Raises
    RegisterProtocolError(not_a_list) when the answer is valid JSON but not an
    array, and ValueError when it is not JSON."""
    space = _SPACE.match
    index = space(text, 0).end()
    if text[index : index + 1] != "[":
        _DECODER.decode(text)  # Not JSON at all: ValueError, as json.loads would raise.
        raise RegisterProtocolError(not_a_list)
    index = space(text, index + 1).end()
    if text[index : index + 1] == "]":
        rest = space(text, index + 1).end()
        if rest != len(text):
            raise json.JSONDecodeError("Extra data", text, rest)
        return
    while True:
        element, end = _DECODER.raw_decode(text, index)
        yield element, index, end
        index = space(text, end).end()
        char = text[index : index + 1]
        if char == ",":
            index = space(text, index + 1).end()
        elif char == "]":
            rest = space(text, index + 1).end()
            if rest != len(text):
                raise json.JSONDecodeError("Extra data", text, rest)
            return
        else:
            raise json.JSONDecodeError("Expecting ',' delimiter", text, index)


def _decode(response, method: str, path: str):
    try:
        return response.json()
    except ValueError as exc:
        raise RegisterProtocolError(f"{method} {path}: the answer is not valid JSON ({len(response.content)} bytes)") from exc


def _event(data) -> Event:
    if not isinstance(data, dict):
        raise RegisterProtocolError("An event is not an object")
    try:
        return Event(sequence_number=int(data["sequenceNumber"]), person_id=str(data["personId"]),
                     event_type=str(data["eventType"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise RegisterProtocolError(f"Malformed event {data!r:.200}") from exc


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise RegisterProtocolError(f"Expected a number, got {value!r:.50}") from exc


def _retry_after(value: str | None) -> float:
    if not value:
        return 1.0
    try:
        return max(0.0, float(value))
    except ValueError:
        return 5.0  # An HTTP date: wait a moment rather than parse it.


def _problem_title(response) -> str:
    try:
        data = response.json()
        return str(data.get("title") or data.get("detail") or "")[:200]
    except ValueError:
        return ""
