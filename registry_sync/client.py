"""The population register client (../shared/spec/register-api.md): the protocol.

One small client for the real service and the fake alike: base URL, API
version, bearer token and timeout are settings. It speaks Persontjenesten's
protocol as NHN's OpenAPI document gives it: form-encoded bodies (lists as
repeated keys), the ``api-version`` header on every request, and on every
person route the ``informationParts`` the application reads
(``person_document.INFORMATION_PARTS``) and ``includeHistory=true`` (the closed
versions are what a move is told from a correction, and a former national id
from an unknown one). It retries what can succeed on a second try (429
honouring ``Retry-After``, 5xx, timeouts, dropped connections) with exponential
backoff, and turns every other failure, and every answer that is not the shape
the interface promises, into a ``RegisterError`` (``register_errors``) that the
sync records instead of applying. Large bulk answers are decoded as a stream
(``FetchedPersons.records``); the person document's parse is ``person_document``.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import date
from typing import Iterator

import requests

from registry_sync.person_document import INFORMATION_PARTS, PersonRecord, parse_person
from registry_sync.register_errors import RegisterProtocolError, RegisterRefused, RegisterUnavailable

logger = logging.getLogger(__name__)

MAX_EVENTS_PER_PAGE = 1000
MAX_BULK = 100
SEARCH_PAGE_SIZE = 5000
# A Retry-After longer than this is not waited for inside one sync run: the
# run fails, is recorded, and the next scheduled run tries again.
MAX_RETRY_AFTER_SECONDS = 60

RESIDENT_STATUSES = ("Resident",)
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
        return self.fetch_persons_by_nin(nins).documents()

    def fetch_persons_by_nin(self, nins) -> "FetchedPersons":
        """As ``fetch_persons_by_id``, by national id."""
        return self._bulk("/person/bulk-by-nin", "nins", nins)

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
