"""The fake register's data: Person documents with version history, and events.

It behaves like the real register in the ways the client depends on: every
change closes the current version of an element (``isValid: false``,
``validTo`` set) and appends a new one, and every change appends one or more
events with increasing sequence numbers. It serves what Persontjenesten serves:
dates as date-times, the contact register's reservation as "Yes"/"No", id status
``InUse``/``Discontinued``, opaque person ids (64 hex characters for every third
person, UUIDs for the others), and for some persons the versions of each element
in shuffled order and an earlier, closed version of their name and address, so
that nothing may read "current versus previous" by the order of a list. Documents are kept serialised (the
form they are served in), so an Oslo-size population fits in memory and bulk
answers are a join of byte strings.

This module knows nothing about Django; it is used by the fake HTTP server,
the demo seeder, the tests and the benchmark. The documents' shapes and versioning are
``documents.py``; the fault switches ``faults.py``. What stays here is one idea, the
register's data: reading it as the routes serve it, the scenarios (move, death,
emigration, ...) that change it, and its file on disk.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import threading
import time
import uuid
from datetime import date
from pathlib import Path

from registry_sync.fake.documents import (
    ALWAYS_SERVED,
    RESIDENT,
    STRICTLY_CONFIDENTIAL,
    add_history,
    address_version,
    close_current,
    contact_information,
    current_version,
    day_time,
    element_name,
    encode_document,
    event_date,
    new_person_document,
    new_version,
    protection_level,
    set_person_status,
    shuffle_versions,
    street_address,
)
from registry_sync.fake.faults import Faults


class UnknownPerson(KeyError):
    pass


class FakeRegister:
    """Persons and events in memory, optionally persisted to a JSON file."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.lock = threading.RLock()
        self.path = Path(path) if path else None
        self._docs: dict[str, bytes] = {}  # person id -> served JSON document, with its history
        self._current_docs: dict[str, bytes] = {}  # person id -> served without closed versions (made when asked)
        self._full: dict[str, bytes] = {}  # person id -> the register's own (unredacted) document
        self._index: dict[str, tuple[str, str, str]] = {}  # id -> (municipality, birth date, status)
        self._keys: dict[str, tuple[str, ...]] = {}  # id -> the document's elements
        # Ids whose versions are served out of order: "shuffled" (an order of their own) or "reversed".
        self.shuffled: dict[str, str] = {}
        self._by_nin: dict[str, str] = {}
        self._event_seqs: list[int] = []
        self._events: list[tuple[int, str, str]] = []
        self._search_cache: tuple[int, tuple, list[str]] | None = None
        self._version = 0
        self.token: str | None = None
        self.faults = Faults()
        self._dirty = False
        self._deferred = False
        if self.path and self.path.exists():
            self.load()

    # ----------------------------------------------------------------- reading
    def latest_event(self) -> tuple[int, str, str] | None:
        with self.lock:
            return self._events[-1] if self._events else None

    def events_from(self, sequence_number: int, limit: int = 1000) -> list[tuple[int, str, str]]:
        with self.lock:
            start = bisect.bisect_left(self._event_seqs, sequence_number)
            return self._events[start : start + limit]

    def documents(self, person_ids, *, parts=None, history: bool = True) -> list[bytes]:
        """The served documents: only the elements of ``parts`` (informationParts; None: all), and
        without closed versions unless ``history`` (includeHistory=true)."""
        with self.lock:
            return [self._served(pid, parts, history) for pid in person_ids if pid in self._docs]

    def document_by_nin(self, nin: str, *, parts=None, history: bool = True) -> bytes | None:
        with self.lock:
            pid = self._by_nin.get(nin)
            return self._served(pid, parts, history) if pid in self._docs else None

    def _served(self, pid: str, parts, history: bool) -> bytes:
        if history:
            served = self._docs[pid]
        else:
            served = self._current_docs.get(pid)
            if served is None:
                doc = json.loads(self._docs[pid])
                served = self._current_docs[pid] = encode_document({
                    key: [v for v in value if not isinstance(v, dict) or v.get("isValid") is not False]
                    if isinstance(value, list) else value for key, value in doc.items()})
        if parts is None:
            return served
        elements = {element_name(part) for part in parts}
        keys = self._keys.get(pid) or ()
        if all(key in elements or key in ALWAYS_SERVED for key in keys):
            return served  # Everything the document holds was asked for (the client's case): as stored.
        doc = json.loads(served)
        return encode_document({key: value for key, value in doc.items() if key in elements or key in ALWAYS_SERVED})

    def person(self, person_id: str) -> dict:
        """The register's own copy (for scenarios and tests; not what is served)."""
        with self.lock:
            try:
                return json.loads(self._full[person_id])
            except KeyError:
                raise UnknownPerson(person_id) from None

    def person_id_for(self, nin: str) -> str:
        try:
            return self._by_nin[nin]
        except KeyError:
            raise UnknownPerson(nin) from None

    def search(self, municipality: str, birth_from: str, birth_to: str, statuses: list[str]) -> list[str]:
        key = (municipality, birth_from, birth_to, tuple(sorted(statuses)))
        with self.lock:
            if self._search_cache and self._search_cache[0] == self._version and self._search_cache[1] == key:
                return self._search_cache[2]
            wanted = set(statuses)
            found = sorted(
                pid for pid, (mun, born, status) in self._index.items()
                if mun == municipality and birth_from <= born <= birth_to and (not wanted or status in wanted)
            )
            self._search_cache = (self._version, key, found)
            return found

    def __len__(self) -> int:
        return len(self._docs)

    # ----------------------------------------------------------------- writing
    def _emit(self, person_id: str, *event_types: str) -> list[dict]:
        emitted = []
        for event_type in event_types:
            seq = (self._event_seqs[-1] + 1) if self._event_seqs else 1
            self._event_seqs.append(seq)
            self._events.append((seq, person_id, event_type))
            emitted.append({"sequenceNumber": str(seq), "personId": person_id, "eventType": event_type})
        return emitted

    def _next_seq(self) -> int:
        return (self._event_seqs[-1] + 1) if self._event_seqs else 1

    def _store(self, doc: dict) -> None:
        pid = doc["id"]
        self._full[pid] = encode_document(doc)
        served = doc
        protection = current_version(doc.get("addressProtection", []))
        if protection and protection.get("protectionLevel") == STRICTLY_CONFIDENTIAL:
            # A strictly confidential person has no address in what the register gives out.
            served = {**doc, **{key: [] for key in ("residentialAddress", "presentAddress") if key in doc}}
        if pid in self.shuffled:
            served = shuffle_versions(served, reverse=self.shuffled[pid] == "reversed")
        self._docs[pid] = self._full[pid] if served is doc else encode_document(served)
        self._current_docs.pop(pid, None)
        self._keys[pid] = tuple(doc)
        address = current_version(doc.get("residentialAddress", []))
        municipality = ""
        if address:
            for kind in ("streetAddress", "unknownResidence"):
                if address.get(kind):
                    municipality = address[kind].get("municipalityNumber") or ""
            if address.get("cadastralAddress"):
                municipality = address["cadastralAddress"].get("cadastralNumber", {}).get("municipalityNumber") or ""
        birth = current_version(doc.get("birth", []))
        status = current_version(doc.get("status", []))
        self._index[pid] = (municipality, ((birth or {}).get("birthDate") or "")[:10], (status or {}).get("status", ""))
        for nin_version in doc.get("norwegianIdentificationNumber", []):
            self._by_nin[nin_version["identificationNumber"]] = pid
        self._version += 1

    def _change(self, person_id: str, mutate, *event_types: str, save: bool = True) -> list[dict]:
        with self.lock:
            if person_id not in self._full:
                raise UnknownPerson(person_id)
            doc = json.loads(self._full[person_id])
            mutate(doc)
            doc["sequenceNumber"] = self._next_seq() + len(event_types) - 1
            self._store(doc)
            events = self._emit(person_id, *event_types)
        if save:
            self.save()
        return events

    def add_person(
        self, *, nin: str, given_name: str, family_name: str, birth_date: date | str, sex: str = "female",
        municipality: str | None = None, urban_district: str = "", street: str = "", house_number: int | None = None,
        postal_code: str = "", city: str = "", status: str = RESIDENT, protection: str = "Unclassified",
        phone: str | None = None, language: str = "nb", reserved: bool = False, person_id: str | None = None,
        digital_post: str | None = None, responsible: list[tuple[str, str]] | None = None, parents: list[tuple[str, str]] | None = None,
        immigrated_from: str | None = None, event_type: str = "PersonIsCreated", save: bool = True,
        shuffled: bool | str | None = None, history: bool | None = None,
    ) -> str:
        """Create a person; ``responsible`` is [(id number, responsibilityType)], ``parents`` [(id number, role)].

        Every third person (by national id) gets a 64-character id instead of a UUID; ``shuffled``
        (default: every other person by id; or "reversed") serves the versions of each element out of order,
        and ``history`` (default: as shuffled) gives the person a closed earlier name and address."""
        digest = hashlib.sha256(nin.encode()).hexdigest()
        person_id = person_id or (digest if int(digest[:8], 16) % 3 == 0 else str(uuid.uuid4()))
        shuffled = int(hashlib.sha256(person_id.encode()).hexdigest()[:8], 16) % 2 == 0 if shuffled is None else shuffled
        history = shuffled if history is None else history
        born = birth_date.isoformat() if isinstance(birth_date, date) else str(birth_date)[:10]
        doc = new_person_document(person_id=person_id, nin=nin, status=status, given_name=given_name,
                               family_name=family_name, born=born, sex=sex, immigrated_from=immigrated_from)
        address = dict(protection=protection, born=born, municipality=municipality, urban_district=urban_district,
                       postal_code=postal_code, city=city)
        if history:
            add_history(doc, family_name=family_name, **address)
        if municipality:
            doc["residentialAddress"].append(address_version(street=street, house_number=house_number, **address))
        if protection != "Unclassified":
            doc["addressProtection"].append(new_version(protectionLevel=protection))
        for responsible_nin, kind in responsible or []:
            doc["parentalResponsibility"].append(
                new_version(responsibilityType=kind, responsible=responsible_nin, responsibleOrganization=None, subjectOfResponsibility=nin)
            )
        for parent_nin, role in parents or []:
            doc["familyRelation"].append(new_version(relatedPerson=parent_nin, relatedPersonsRole=role, myRoleForRelatedPerson="Child"))
        if phone is not None or reserved or digital_post:
            doc["commonContactRegisterInformation"] = contact_information(phone, language, reserved, digital_post=digital_post)
        with self.lock:
            doc["sequenceNumber"] = self._next_seq()
            if shuffled:
                self.shuffled[person_id] = shuffled if isinstance(shuffled, str) else "shuffled"
            self._store(doc)
            self._emit(person_id, event_type)
        if save:
            self.save()
        return person_id

    # Scenarios: each closes the old version and appends events like the real register.
    def birth(self, *, nin: str, given_name: str, family_name: str, birth_date: date | str, sex: str = "female",
              mother: str | None = None, father: str | None = None, **address) -> str:
        responsible = [(p, "Joint" if (mother and father) else ("Mother" if p == mother else "Father")) for p in (mother, father) if p]
        parents = [(p, role) for p, role in ((mother, "Mother"), (father, "Father")) if p]
        pid = self.add_person(nin=nin, given_name=given_name, family_name=family_name, birth_date=birth_date, sex=sex,
                              responsible=responsible, parents=parents, save=False, **address)
        with self.lock:
            for parent_nin, role in parents:
                parent_id = self._by_nin.get(parent_nin)
                if parent_id:
                    self._change(parent_id, lambda doc, role=role: doc["familyRelation"].append(
                        new_version(relatedPerson=nin, relatedPersonsRole="Child", myRoleForRelatedPerson=role)
                    ), "ChangeInFamilyRelation", save=False)
        self.save()
        return pid

    def move(self, person_id: str, *, municipality: str, urban_district: str = "", street: str = "", house_number: int | None = None,
             postal_code: str = "", city: str = "", move_date: date | None = None) -> list[dict]:
        def mutate(doc):
            old = current_version(doc["residentialAddress"])
            close_current(doc["residentialAddress"])
            confidentiality = (old or {}).get("addressConfidentiality") or protection_level(doc)
            doc["residentialAddress"].append(
                new_version(addressConfidentiality=confidentiality,
                         moveDate=day_time(move_date or date.today()),
                         urbanDistrictCode=urban_district or None, urbanDistrictName=None,
                         streetAddress=street_address(municipality=municipality, street=street, house_number=house_number,
                                                      postal_code=postal_code, city=city))
            )
        return self._change(person_id, mutate, "ChangeInResidentialAddress")

    def correct_address(self, person_id: str, *, street: str, house_number: int | None = None, postal_code: str | None = None) -> list[dict]:
        """Same dwelling, corrected address: the same move date, and back-dated to the version it
        corrects (the same ``validFrom``, a later ``registeredAt``)."""
        def mutate(doc):
            old = current_version(doc["residentialAddress"])
            if old is None:
                raise ValueError("person has no address to correct")
            new = json.loads(json.dumps(old))
            close_current(doc["residentialAddress"])
            new.update(new_version())
            new["validFrom"] = old["validFrom"]
            new["moveDate"] = old["moveDate"]
            new["streetAddress"]["addressName"] = street
            new["streetAddress"]["addressNumber"]["houseNumber"] = str(house_number) if house_number else None
            if postal_code:
                new["streetAddress"]["city"]["postalCode"] = postal_code
            doc["residentialAddress"].append(new)
        return self._change(person_id, mutate, "ChangeInResidentialAddressWithoutRelocation")

    def emigrate(self, person_id: str, *, country: str = "SWE", when: date | str | None = None) -> list[dict]:
        def mutate(doc):
            set_person_status(doc, "Emigrated")
            close_current(doc["emigrationFromNorway"])
            doc["emigrationFromNorway"].append(
                new_version(emigratedToCountry=country, emigratedMoveDate=event_date(when))
            )
            close_current(doc["residentialAddress"])
        return self._change(person_id, mutate, "PersonIsEmigrated", "ChangeInEmigrationFromNorway", "ChangeInStatus")

    def immigrate(self, person_id: str, *, country: str = "SWE", municipality: str, urban_district: str = "",
                  street: str = "", house_number: int | None = None, postal_code: str = "", city: str = "") -> list[dict]:
        def mutate(doc):
            set_person_status(doc, RESIDENT)
            close_current(doc["immigrationToNorway"])
            doc["immigrationToNorway"].append(new_version(immigratedFromCountry=country))
            close_current(doc["residentialAddress"])
            doc["residentialAddress"].append(
                new_version(addressConfidentiality=protection_level(doc), moveDate=day_time(date.today()),
                         urbanDistrictCode=urban_district or None, urbanDistrictName=None,
                         streetAddress=street_address(municipality=municipality, street=street, house_number=house_number,
                                                      postal_code=postal_code, city=city))
            )
        return self._change(person_id, mutate, "ChangeInImmigrationToNorway", "PersonIsResident", "ChangeInStatus")

    def die(self, person_id: str, *, when: date | str | None = None) -> list[dict]:
        def mutate(doc):
            set_person_status(doc, "Deceased")
            doc["death"] = {**new_version(), "deceasedDate": event_date(when)}
        return self._change(person_id, mutate, "PersonIsDeceased", "ChangeInStatus")

    def annul_death(self, person_id: str) -> list[dict]:
        def mutate(doc):
            doc["death"] = None
            set_person_status(doc, RESIDENT)
        return self._change(person_id, mutate, "ChangeInDeath", "ChangeInStatus")

    def set_protection(self, person_id: str, level: str) -> list[dict]:
        def mutate(doc):
            close_current(doc["addressProtection"])
            if level != "Unclassified":
                doc["addressProtection"].append(new_version(protectionLevel=level))
            for address in doc["residentialAddress"]:
                if address.get("isValid"):
                    address["addressConfidentiality"] = level
        return self._change(person_id, mutate, "ChangeInAddressProtection")

    def set_responsibility(self, person_id: str, *, responsible: list[tuple[str, str]] = (), organisation: str | None = None) -> list[dict]:
        """Replace the parental responsibility: [(id number, type)] and/or an organisation (a placement)."""
        def mutate(doc):
            subject = current_version(doc["norwegianIdentificationNumber"])["identificationNumber"]
            close_current(doc["parentalResponsibility"])
            for nin, kind in responsible:
                doc["parentalResponsibility"].append(
                    new_version(responsibilityType=kind, responsible=nin, responsibleOrganization=None, subjectOfResponsibility=subject)
                )
            if organisation:
                doc["parentalResponsibility"].append(
                    new_version(responsibilityType="Other", responsible=None, responsibleOrganization=organisation,
                             subjectOfResponsibility=subject)
                )
        return self._change(person_id, mutate, "ChangeInParentalResponsibility")

    def change_id(self, person_id: str, new_nin: str) -> list[dict]:
        """E.g. a D-number replaced by a fødselsnummer; the old number stays as a closed version."""
        def mutate(doc):
            for v in doc["norwegianIdentificationNumber"]:
                if v.get("isValid"):
                    v["status"] = "Discontinued"
            close_current(doc["norwegianIdentificationNumber"])
            doc["norwegianIdentificationNumber"].append(
                new_version(identificationNumber=new_nin, identificationNumberType="NationalIdentityNumber", status="InUse")
            )
        return self._change(person_id, mutate, "ChangeInNorwegianIdentificationNumber")

    def rename(self, person_id: str, *, given_name: str | None = None, family_name: str | None = None,
               event_type: str = "ChangeInName") -> list[dict]:
        """A new name; ``event_type`` another type the register may announce it by (PersonCorrected...)."""
        def mutate(doc):
            old = current_version(doc["name"]) or {}
            close_current(doc["name"])
            doc["name"].append(new_version(givenName=given_name or old.get("givenName"), middleName=old.get("middleName"),
                                        familyName=family_name or old.get("familyName")))
        return self._change(person_id, mutate, event_type)

    def set_status(self, person_id: str, status: str) -> list[dict]:
        return self._change(person_id, lambda doc: set_person_status(doc, status), "ChangeInStatus")

    def set_contact(self, person_id: str, *, phone: str | None, language: str = "nb", reserved: bool = False,
                    status: str = "Active", notification_status: str = "CanBeNotified", digital_post: str | None = None) -> list[dict]:
        def mutate(doc):
            doc["commonContactRegisterInformation"] = contact_information(phone, language, reserved, status, notification_status, digital_post)
        return self._change(person_id, mutate, "ChangeInCommonContactRegisterInformation")

    def set_without_identifier(self, person_id: str, *, without_identifier: list[tuple[str, str, str, str]],
                               keep: bool = True) -> list[dict]:
        """Add parents without a Norwegian id: [(given name, family name, birth date, responsibilityType)];
        ``keep=False`` replaces the current responsibility instead."""
        def mutate(doc):
            subject = current_version(doc["norwegianIdentificationNumber"])["identificationNumber"]
            kept = [dict(v) for v in doc["parentalResponsibility"] if v.get("isValid")] if keep else []
            close_current(doc["parentalResponsibility"])
            for v in kept:
                doc["parentalResponsibility"].append({**v, **new_version()})
            for given, family, born, kind in without_identifier:
                doc["parentalResponsibility"].append(new_version(
                    responsibilityType=kind, responsible=None, responsibleOrganization=None, subjectOfResponsibility=subject,
                    responsibleWithoutIdentifier={"name": {"givenName": given, "middleName": None, "familyName": family},
                                                  "birthDate": day_time(born), "citizenship": None, "gender": None}))
        return self._change(person_id, mutate, "ChangeInParentalResponsibility")

    def touch(self, person_id: str, event_type: str) -> list[dict]:
        """An event without a change (e.g. an event type the application does not know)."""
        with self.lock:
            if person_id not in self._full:
                raise UnknownPerson(person_id)
            return self._emit(person_id, event_type)

    def respool(self) -> None:
        """The register was re-spooled: events start again from 1, one per person."""
        with self.lock:
            self._event_seqs, self._events = [], []
            for pid in sorted(self._full):
                self._emit(pid, "PersonIsCreated")
        self.save()

    # ------------------------------------------------------------- persistence
    def dump(self) -> dict:
        with self.lock:
            return {"persons": [json.loads(d) for d in self._full.values()], "events": [list(e) for e in self._events],
                    "shuffled": dict(self.shuffled)}

    def autosave(self, every_seconds: float) -> None:
        """Write the file at most every ``every_seconds`` instead of after each change
        (a running server: a full write of an Oslo-size register takes seconds)."""
        self._deferred = True

        def loop():
            while True:
                time.sleep(every_seconds)
                if self._dirty:
                    self.flush()

        threading.Thread(target=loop, name="fake-register-save", daemon=True).start()

    def save(self) -> None:
        if self._deferred:
            self._dirty = True
            return
        self.flush()

    def flush(self) -> None:
        self._dirty = False
        if not self.path:
            return
        with self.lock:  # Take a consistent copy quickly; write it without holding the lock.
            events = list(self._events)
            documents = list(self._full.values())
            shuffled = dict(self.shuffled)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{threading.get_ident()}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write('{"events":')
            json.dump([list(e) for e in events], fh, separators=(",", ":"))
            fh.write(',"shuffled":')
            json.dump(shuffled, fh, separators=(",", ":"))
            fh.write(',"persons":[')
            fh.write(",\n".join(d.decode() for d in documents))
            fh.write("]}")
        os.replace(tmp, self.path)

    def load(self) -> None:
        with open(self.path, encoding="utf-8") as fh:
            data = json.load(fh)
        with self.lock:
            self.shuffled = dict(data.get("shuffled") or {})
            for doc in data["persons"]:
                self._store(doc)
            self._events = [(int(s), p, t) for s, p, t in data["events"]]
            self._event_seqs = [e[0] for e in self._events]

    def bulk(self):
        """Context manager: make many changes without writing the file after each."""
        return _Bulk(self)


class _Bulk:
    def __init__(self, register: FakeRegister):
        self.register = register

    def __enter__(self):
        self.path = self.register.path
        self.register.path = None
        return self.register

    def __exit__(self, *exc):
        self.register.path = self.path
        if exc[0] is None:
            self.register.save()
