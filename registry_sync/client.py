"""The population register client (../shared/spec/register-api.md).

One small client for the real service and the fake alike: base URL, bearer
token and timeout are settings. It retries what can succeed on a second try
(429 honouring ``Retry-After``, 5xx, timeouts, dropped connections) with
exponential backoff, and turns every other failure, and every answer that is
not the shape the interface promises, into a ``RegisterError`` that the sync
records instead of applying.

``PersonRecord`` is the small internal value the reconciliation compares with
the journal, always read from the versions with ``isValid: true``.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import date
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
_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}")
KNOWN_EVENT_TYPES = frozenset({
    "PersonIsCreated", "PersonIsUpdated", "PersonIsDeceased", "PersonIsResident", "PersonIsEmigrated",
    "ChangeInResidentialAddress", "ChangeInResidentialAddressWithoutRelocation", "ChangeInAddressProtection",
    "ChangeInParentalResponsibility", "ChangeInFamilyRelation", "ChangeInImmigrationToNorway",
    "ChangeInEmigrationFromNorway", "ChangeInNorwegianIdentificationNumber", "ChangeInName", "ChangeInDeath",
    "ChangeInSharedResidence", "ChangeInStatus", "ChangeInCommonContactRegisterInformation",
    "PersonIsDiscontinuedAsDuplicate", "PersonIsContinuedAsValidUponMerger",
})


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
    deceased_date: str | None = None
    phone: str | None = None
    language: str | None = None
    reserved: bool = False

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
            "guardians": [[g.national_id, g.organisation, g.kind] for g in self.guardians],
            "emigrated_to": self.emigrated_to, "deceased_date": self.deceased_date,
            "phone": self.phone, "language": self.language, "reserved": self.reserved,
        }


def _current(versions) -> list[dict]:
    if versions is None:
        return []
    if not isinstance(versions, list):
        raise RegisterProtocolError("Expected a list of versions")
    return [v for v in versions if isinstance(v, dict) and v.get("isValid") is True]


def _one(versions) -> dict | None:
    """The current version (the last valid one when the register gives several)."""
    if not versions:
        return None
    if not isinstance(versions, list):
        raise RegisterProtocolError("Expected a list of versions")
    last = versions[-1]
    if last.__class__ is dict and last.get("isValid") is True:
        return last  # Nearly always: the current version comes last.
    for v in reversed(versions):
        if v.__class__ is dict and v.get("isValid") is True:
            return v
    return None


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


def _responsibility(national_id: str | None, organisation: str | None, kind: str) -> Responsibility:
    """``Responsibility(national_id, organisation, kind)``, built as ``_record`` builds a PersonRecord."""
    responsibility = object.__new__(Responsibility)
    _set_dict(responsibility, "__dict__", {"national_id": national_id, "organisation": organisation, "kind": kind})
    return responsibility


_set_dict = object.__setattr__


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
    if not _UUID.fullmatch(person_id):
        raise RegisterProtocolError(f"A person id that is not a UUID: {person_id!r:.60}")
    get = doc.get
    try:
        ids = get("norwegianIdentificationNumber")
        current_id = _one(ids)
        national_id = None if current_id is None else str(current_id.get("identificationNumber", ""))
        if national_id is None or not national_id.isdigit():
            raise RegisterProtocolError(f"Person {person_id} has no current identification number")
        if len(ids) == 1:
            former = ()
        else:
            former = tuple(
                str(v["identificationNumber"]) for v in ids
                if isinstance(v, dict) and not v.get("isValid") and v.get("identificationNumber")
            )
        status = (_one(get("status")) or _NO_DICT).get("status") or ""
        birth = _one(get("birth"))
        if not birth or not birth.get("birthDate"):
            raise RegisterProtocolError(f"Person {person_id} has no birth date")
        birth_date = date.fromisoformat(str(birth["birthDate"])[:10])  # The time part is ignored.
        name = _one(get("name")) or _NO_DICT
        given_name, middle_name = name.get("givenName"), name.get("middleName")
        if given_name and middle_name:
            given = " ".join((given_name, middle_name))
        elif given_name or middle_name:
            given = " ".join((given_name or middle_name,))
        else:
            given = ""
        sex = _SEX.get((_one(get("gender")) or _NO_DICT).get("gender") or "", "unknown")

        protection = (_one(get("addressProtection")) or _NO_DICT).get("protectionLevel") or "Unclassified"
        addresses = get("residentialAddress") or []
        address = _one(addresses)
        municipality = None
        street = postal = city = district = ""
        move_date = previous_move_date = None
        if address:
            district = address.get("urbanDistrictCode") or ""
            move_date = address.get("moveDate")
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
            if protection == "Unclassified" and address.get("addressConfidentiality"):
                protection = address["addressConfidentiality"]
            if len(addresses) > 1:
                for closed in reversed(addresses):  # The last closed version.
                    if isinstance(closed, dict) and not closed.get("isValid"):
                        previous_move_date = closed.get("moveDate")
                        break

        responsibility = get("parentalResponsibility")
        guardians = tuple([
            _responsibility(str(v["responsible"]) if v.get("responsible") else None,
                            v.get("responsibleOrganization") or None, v.get("responsibilityType") or "Unknown")
            for v in _current(responsibility)
        ]) if responsibility.__class__ is not list or responsibility else ()
        relations = get("familyRelation")
        parents = tuple([
            (str(v.get("relatedPerson")), str(v.get("relatedPersonsRole")))
            for v in _current(relations)
            if v.get("relatedPersonsRole") in _PARENT_ROLES
        ]) if relations.__class__ is not list or relations else ()
        emigration = _one(get("emigrationFromNorway"))
        emigrated_to = (emigration or _NO_DICT).get("emigratedToCountry") if status == "Emigrated" else None
        death = get("death")
        deceased = death.get("deceasedDate") if isinstance(death, dict) and death.get("isValid", True) else None
        contact = get("commonContactRegisterInformation") or _NO_DICT
        phone = ((contact.get("contactInformation") or _NO_DICT).get("phoneNumber")) or None
        if phone and phone.startswith("+47"):
            phone = phone[3:]
        seq = get("sequenceNumber")
        return _record(
            person_id=person_id,
            sequence_number=int(seq) if seq not in (None, "") else None,
            national_id=national_id,
            id_type=current_id.get("identificationNumberType") or "",
            former_national_ids=former,
            status=status,
            birth_date=birth_date,
            given_name=given,
            family_name=name.get("familyName") or "",
            sex=sex,
            municipality_number=municipality,
            urban_district_code=district,
            street_address=street,
            postal_code=postal,
            city=city,
            move_date=move_date,
            previous_move_date=previous_move_date,
            protection=protection,
            guardians=guardians,
            parents=parents,
            emigrated_to=emigrated_to,
            deceased_date=deceased,
            phone=phone,
            language=contact.get("language") or None,
            reserved=bool(contact.get("reservation")),
        )
    except RegisterProtocolError:
        raise
    except (AttributeError, KeyError, TypeError, ValueError, OverflowError) as exc:
        raise RegisterProtocolError(f"Unexpected person document {person_id}: {exc!r}") from exc


class RegisterClient:
    def __init__(self, base_url: str, *, token: str = "", timeout: float = 10, max_attempts: int = 4,
                 backoff_seconds: float = 0.5, session: requests.Session | None = None, sleep=time.sleep,
                 token_provider=None):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.session = session or requests.Session()
        self.session.headers["Accept"] = "application/json"
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
                   timeout=settings.REGISTER_TIMEOUT_SECONDS, **kwargs)

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
    def _request(self, method: str, path: str, *, json_body=None, params=None, allow_404: bool = False,
                 decode: bool = True):
        """The decoded JSON answer (or, with ``decode=False``, the response, its body read)."""
        url = f"{self.base_url}{path}"
        for attempt in range(1, self.max_attempts + 1):
            delay = self.backoff_seconds * (2 ** (attempt - 1))
            try:
                self.requests_made += 1
                response = self._send(method, url, json=json_body, params=params, timeout=self.timeout)
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
        """Events from ``sequence_number`` (inclusive), oldest first, at most 1000."""
        data = self._request("GET", "/event", params={"sequenceNumber": sequence_number})
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise RegisterProtocolError("The event page has no results list")
        events = [_event(e) for e in data["results"]]
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
        data = self._request("POST", "/person/get-by-nin", json_body={"nin": nin}, allow_404=True)
        if data is not None and not isinstance(data, dict):
            raise RegisterProtocolError("get-by-nin did not answer with a person")
        return data

    def _bulk(self, path: str, key: str, values) -> "FetchedPersons":
        values = list(dict.fromkeys(values))
        responses = []
        for start in range(0, len(values), MAX_BULK):
            responses.append(self._request("POST", path, json_body={key: values[start : start + MAX_BULK]}, decode=False))
        return FetchedPersons(path, responses)

    def search_ids(self, *, municipality_number: str, birth_from: date, birth_to: date,
                   statuses=RESIDENT_STATUSES, page_size: int = SEARCH_PAGE_SIZE) -> Iterator[str]:
        """Every person id the paged municipality search returns, page by page."""
        offset = 0
        while True:
            data = self._request("POST", "/search/paged-match-list", json_body={
                "MunicipalityNumber": municipality_number,
                "BirthDateFrom": birth_from.isoformat(),
                "BirthDateTo": birth_to.isoformat(),
                "PersonStatuses": list(statuses),
                "PageSize": page_size,
                "IndexOffset": offset,
            })
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
