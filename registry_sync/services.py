"""Register sync: follow events, reconcile the journals, record findings, run effects.

The flow (docs/architecture.md, "The register changes"): an event page is
fetched, the persons it names are re-fetched in bulk, each person is compared
with the journal (``_Reconciliation``), and the findings and the cursor are
saved in one transaction. Comparing the register's current state with the
journal's makes processing idempotent: a page applied twice finds nothing new
the second time, because the journal already agrees, and the unique constraint
on (kind, person, register values) keeps every finding single.

Effects reach the other parts only through their services: attendance
(``child_register``, ``child_plan``, ``child_cancel_future``) and followup
(``case_close_for_child``, ``case_follow_child_station``, the letters' and SMS
services). Fields of the shared domain that mirror the
register (name, address, protection, status, guardians) are updated here.
"""

from __future__ import annotations

import gc
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import Error as DbError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from attendance.services import child_cancel_future, child_plan, child_register
from followup.letters.services import letters_follow_child_station, letters_stop_for_child
from followup.services import case_close_for_child, case_follow_child_station
from followup.sms.services import sms_cancellations_send
from helsestasjon.dates import add_period
from helsestasjon.protection import protection_changed, storable_address
from helsestasjon.models import (
    AddressProtection,
    Child,
    ChildStatus,
    Guardian,
    Guardianship,
    Language,
    Relation,
    Role,
    Station,
    User,
)
from registry_sync import journal_io
from registry_sync.client import (
    CORRECTION_EVENT,
    EVENT_TYPES,
    MAX_EVENTS_PER_PAGE,
    MOVE_EVENT,
    REFETCH_EVENT_TYPES,
    PersonRecord,
    RegisterClient,
    RegisterError,
    RegisterProtocolError,
    guardian_key,
    parse_person,
)
from registry_sync.journal_io import JournalChild
from registry_sync.models import (
    ALERT_KINDS,
    Finding,
    FindingKind,
    FindingStatus,
    NationalIdAlias,
    Resolution,
    SyncCursor,
    SyncError,
    SyncRunKind,
)

logger = logging.getLogger(__name__)

PROGRAMME_YEARS = 6
# Full reconciliation works through the population in chunks, one transaction each.
FULL_CHUNK = 1000
# Statuses under which a child is followed in the programme.
NORMAL_STATUSES = ("Resident",)
# Journals the reconciliation compares with the register (aged-out ones are closed for good).
COMPARED_STATUSES = (ChildStatus.ACTIVE, ChildStatus.DECEASED, ChildStatus.EMIGRATED, ChildStatus.MOVED)
ADDRESS_FIELDS = ("street_address", "postal_code", "city", "municipality_number", "urban_district_code")
RELATION_FOR_ROLE = {"Mother": Relation.MOTHER, "Father": Relation.FATHER, "CoMother": Relation.CO_MOTHER}
LANGUAGES = {choice.value for choice in Language}
PROTECTION_LEVELS = tuple(AddressProtection.values)
# Kinds that need a person; the others are applied and logged as resolved.
AUTOMATIC_KINDS = {FindingKind.ADDRESS_CORRECTED, FindingKind.NAME_CHANGED, FindingKind.AGED_OUT}


class SyncFailed(Exception):
    """The sync stopped; a SyncError row says why (shown to the leader)."""


# --------------------------------------------------------------------- effects


def _effect_plan(child: Child) -> None:
    child_plan(child=child)


def _effect_stop(child: Child, reason: str) -> None:
    """Stop everything for the child now: future appointments (and with them
    their SMS reminders), letters that have not gone out, and any open case."""
    child_cancel_future(child=child, reason=reason, register_cause=reason)
    letters_stop_for_child(child=child)
    case_close_for_child(child=child, reason=reason)


# ----------------------------------------------------------------------- scope


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


# -------------------------------------------------------------- reconciliation


class _PendingFinding:
    """A finding the reconciliation made; the row is built only when it is new."""

    __slots__ = ("kind", "subject", "fingerprint", "key", "values")

    def __init__(self, *, kind: str, subject: str, fingerprint: str, **values):
        self.kind, self.subject, self.fingerprint = kind, subject, fingerprint
        self.key = (kind, subject, fingerprint)
        self.values = values

    def values_for_insert(self) -> dict:
        """The new row's column values by attribute name (what Finding(...) would
        save, without building the model instance and preparing each field)."""
        v = self.values
        record, automatic, now = v["record"], v["automatic"], v["now"]
        adapt_json = connection.ops.adapt_json_value
        return {
            "kind": self.kind,
            "status": FindingStatus.RESOLVED.value if automatic else FindingStatus.OPEN.value,
            "resolution": Resolution.AUTOMATIC.value if automatic else "",
            "resolved_at": now if automatic else None,
            "station_id": v["station"].pk,
            "child_id": v["child_id"],
            "national_id": record.national_id if record else v["national_id"],
            "register_person_id": record.person_id if record else v["register_person_id"],
            "name": (f"{record.given_name} {record.family_name}" if record else v["name"])[:200],
            "birth_date": record.birth_date if record else v["birth_date"],
            "protection": record.protection if record else v["protection"],
            "subject": self.subject,
            "fingerprint": self.fingerprint,
            "details": adapt_json({**(v["details"] or {}), "register": record.summary() if record else {}}, None),
            # Open findings keep the register's current document (what a person
            # decides on, and what "Opprett journal" is made from); automatic
            # ones keep the values they applied, in details["register"].
            "snapshot": None if automatic or v["snapshot"] is None else adapt_json(_current_versions(_document(v["snapshot"])), None),
            "sequence_number": v["sequence_number"],
            "detected_at": now,
        }


@dataclass
class _Batch:
    findings: list[_PendingFinding] = field(default_factory=list)
    changed_children: dict[int, tuple[JournalChild, set[str]]] = field(default_factory=dict)
    effects: list = field(default_factory=list)
    guardian_changes: list = field(default_factory=list)
    changed_guardians: dict[int, tuple[Guardian, set[str]]] = field(default_factory=dict)
    aliases: list[NationalIdAlias] = field(default_factory=list)
    # The register's protection of every child-like person the batch saw (journal or not,
    # in scope or not), by register person id: their findings follow it (_findings_follow_register).
    register_levels: dict[str, str] = field(default_factory=dict)

    def set(self, child: JournalChild, **values) -> None:
        entry = self.changed_children.setdefault(child.pk, (child, set()))
        for name, value in values.items():
            setattr(child, name, value)
            entry[1].add(name)

    def set_guardian(self, guardian: Guardian, **values) -> None:
        entry = self.changed_guardians.setdefault(guardian.pk, (guardian, set()))
        for name, value in values.items():
            setattr(guardian, name, value)
            entry[1].add(name)

    @property
    def row_changes(self) -> int:
        return len(self.changed_children) + len(self.changed_guardians) + len(self.guardian_changes) + len(self.aliases)


class _Reconciliation:
    """Compares register persons with the journal and collects what to write."""

    def __init__(self, scope: Scope, *, sequence_number: int | None, now, address_events: dict[str, str] | None = None):
        self.scope = scope
        # The event sync's latest address event per person (ChangeInResidentialAddress or
        # ...WithoutRelocation): where it is known, it decides a move from a correction.
        self.address_events = address_events or {}
        self.sequence_number = sequence_number
        self.now = now
        self.batch = _Batch()
        # Register persons of guardians the journal does not have yet, by national id.
        self.guardian_records: dict[str, PersonRecord] = {}
        self.seen_children: set[int] = set()

    # ------------------------------------------------------------- findings
    def finding(self, kind: str, *, record: PersonRecord | None, child: "JournalChild | None", fingerprint: str,
                station: Station | None = None, details: dict | None = None, snapshot: dict | str | None = None,
                automatic: bool | None = None) -> None:
        automatic = kind in AUTOMATIC_KINDS if automatic is None else automatic
        station = station or (child.station if child else None)
        if station is None:
            return
        # Most findings of a run are already recorded (an unchanged run finds
        # them all again): the Finding row is only built for new ones (_write).
        self.batch.findings.append(_PendingFinding(
            kind=kind, subject=record.person_id if record else child.national_id, fingerprint=fingerprint[:200],
            automatic=automatic, now=self.now, sequence_number=self.sequence_number, station=station,
            child_id=child.pk if child else None, record=record, details=details, snapshot=snapshot,
            national_id=child.national_id if child else None,
            register_person_id=str(child.register_person_id or "") if child else "",
            name=child.full_name if child else "", birth_date=child.birth_date if child else None,
            protection=child.address_protection if child else "",
        ))

    # ---------------------------------------------------------- one child
    def child(self, child: JournalChild, record: PersonRecord | None, snapshot: dict | str | None) -> None:
        self.seen_children.add(child.pk)
        if record is None:
            if child.status == ChildStatus.ACTIVE:
                self.finding(FindingKind.UNKNOWN_TO_REGISTER, record=None, child=child, fingerprint="missing")
            return
        f = lambda kind, fingerprint, **kw: self.finding(kind, record=record, child=child, fingerprint=fingerprint,  # noqa: E731
                                                          snapshot=snapshot, **kw)
        self.seen_level(record)
        if child.register_person_id is None or child.register_person_id != record.person_id:
            self.batch.set(child, register_person_id=record.person_id)
        if record.national_id != child.national_id:
            self.identity(child, record, f)
        if (record.given_name, record.family_name) != (child.given_name, child.family_name) and record.family_name:
            f(FindingKind.NAME_CHANGED, f"{record.given_name}|{record.family_name}",
              details={"before": child.full_name})
            self.batch.set(child, given_name=record.given_name[:100], family_name=record.family_name[:100])
        if record.protection != child.address_protection and record.protection in PROTECTION_LEVELS:
            f(FindingKind.PROTECTION_CHANGED, record.protection,
              details={"before": child.address_protection, "after": record.protection})
            self.batch.set(child, address_protection=record.protection)
            if record.protection == AddressProtection.STRICTLY_CONFIDENTIAL:
                self.batch.set(child, street_address="", postal_code="", city="")

        if record.is_deceased:
            if child.status != ChildStatus.DECEASED:
                f(FindingKind.DECEASED, f"deceased:{record.deceased_date}", details={"deceased_date": record.deceased_date})
                self.batch.set(child, status=ChildStatus.DECEASED, status_changed_at=self.now)
                self.batch.effects.append(lambda pk=child.pk: _effect_stop(Child.objects.get(pk=pk), "deceased"))
            return
        if child.status == ChildStatus.DECEASED:
            f(FindingKind.DEATH_ANNULLED, f"annulled:{child.status_changed_at.isoformat()}")
            self.batch.set(child, status=ChildStatus.ACTIVE, status_changed_at=self.now)
            self.batch.effects.append(lambda pk=child.pk: _effect_plan(Child.objects.get(pk=pk)))
        if record.status == "Emigrated":
            if child.status != ChildStatus.EMIGRATED:
                f(FindingKind.EMIGRATED, f"emigrated:{record.emigrated_to}", details={"country": record.emigrated_to})
                self.batch.set(child, status=ChildStatus.EMIGRATED, status_changed_at=self.now)
                self.batch.effects.append(lambda pk=child.pk: _effect_stop(Child.objects.get(pk=pk), "emigrated"))
            return
        if record.status not in NORMAL_STATUSES:
            f(FindingKind.OTHER_STATUS, f"status:{record.status}", details={"status": record.status})
            return
        self.guardians(child, record, f)
        if child.status in (ChildStatus.EMIGRATED, ChildStatus.MOVED):
            # Back in the register as resident: if in our municipality, offer to reopen the journal.
            if self.scope.covers(record):
                station = self.scope.station_for(record.municipality_number, record.urban_district_code)
                f(FindingKind.UNREGISTERED_RESIDENT, f"returned:{record.move_date}", station=station,
                  details={"reopen": True})
            return
        if child.status != ChildStatus.ACTIVE:
            return
        if record.birth_date < self.scope.birth_from:
            self.aged_out(child)
            return
        self.address(child, record, f)

    def identity(self, child: JournalChild, record: PersonRecord, f) -> None:
        taken = Child.objects.filter(national_id=record.national_id).exclude(pk=child.pk).exists()
        details = {"before": child.national_id, "after": record.national_id}
        if taken:
            # Two journals for one person: a merge, which a person must review.
            f(FindingKind.ID_CHANGED, f"merge:{record.national_id}", details={**details, "merge": True})
            return
        f(FindingKind.ID_CHANGED, f"id:{record.national_id}", details=details, automatic=True)
        self.batch.aliases.append(NationalIdAlias(child_id=child.pk, national_id=child.national_id, replaced_at=self.now))
        self.batch.set(child, national_id=record.national_id)

    def aged_out(self, child: JournalChild) -> None:
        self.finding(FindingKind.AGED_OUT, record=None, child=child, fingerprint="aged_out")
        self.batch.set(child, status=ChildStatus.AGED_OUT, status_changed_at=self.now)
        self.batch.effects.append(lambda pk=child.pk: _effect_stop(Child.objects.get(pk=pk), "aged_out"))

    def address(self, child: JournalChild, record: PersonRecord, f) -> None:
        if record.protection == AddressProtection.STRICTLY_CONFIDENTIAL or not record.has_address:
            # The register gives out no address for a strictly confidential
            # person: a missing address is never a move.
            return
        if record.municipality_number != child.station.municipality.number:
            station_elsewhere = self.scope.station_for(record.municipality_number, record.urban_district_code, fallback=False)
            if station_elsewhere is None:
                f(FindingKind.MOVED_OUT, f"moved_out:{record.municipality_number}:{record.move_date}",
                  details={"municipality": record.municipality_number})
                self.batch.set(child, status=ChildStatus.MOVED, status_changed_at=self.now)
                self.batch.effects.append(lambda pk=child.pk: _effect_stop(Child.objects.get(pk=pk), "moved_out"))
                return
        new = (record.street_address[:200], record.postal_code[:4], record.city[:100], record.municipality_number or "",
               record.urban_district_code[:6])
        if new == (child.street_address, child.postal_code, child.city, child.municipality_number, child.urban_district_code):
            changed = before = {}
        else:
            changed = {k: v for k, v in zip(ADDRESS_FIELDS, new) if getattr(child, k) != v}
            before = {k: getattr(child, k) for k in changed}
            self.batch.set(child, **changed)
        target = self.scope.station_for(record.municipality_number, record.urban_district_code, fallback=False)
        if target is not None and target.pk != child.station_id:
            f(FindingKind.MOVED_WITHIN, f"station:{target.pk}:{record.urban_district_code}:{record.move_date}",
              details={"before": before, "target_station_id": target.pk, "target_station": target.name})
        elif changed:
            corrected = self.corrected(record)
            kind = FindingKind.ADDRESS_CORRECTED if corrected else FindingKind.MOVED_WITHIN
            f(kind, f"address:{record.street_address}|{record.postal_code}|{record.move_date}", details={"before": before},
              automatic=True)

    def corrected(self, record: PersonRecord) -> bool:
        """Whether an address change is a correction without a move. The event type says so where
        the event sync has the event (the spec names it as the signal); otherwise (the full run) the
        move dates do: a correction keeps the previous version's move date. When both are known and
        disagree, the event wins and the disagreement is logged."""
        by_dates = record.previous_move_date is not None and record.previous_move_date == record.move_date
        event = self.address_events.get(record.person_id)
        if event is None:
            return by_dates
        by_event = event == CORRECTION_EVENT
        if by_event != by_dates:
            logger.warning("Register event %s for person %s disagrees with the move dates (previous %s, now %s); "
                           "the event decides", event, record.person_id, record.previous_move_date, record.move_date)
        return by_event

    def guardians(self, child: JournalChild, record: PersonRecord, f) -> None:
        if not record.guardians:
            return  # No responsibility information: never strip the journal's guardians.
        wanted = {r.key for r in record.guardians}
        have = child.responsible_keys
        if wanted == have:
            return
        roles = dict(record.parents)
        self.batch.guardian_changes.append((child, record, wanted, roles))
        organisations = [r.organisation for r in record.guardians if r.organisation]
        f(FindingKind.GUARDIANS_CHANGED, "|".join(sorted(f"{k}:{v}" for k, v in wanted)),
          details={"added": sorted(v for k, v in wanted - have if k == "nin"),
                   "removed": sorted(v for k, v in have - wanted if k == "nin"),
                   "without_identifier": sorted(r.name or "" for r in record.guardians if r.key[0] == "person"),
                   "organisations": organisations, "placement": bool(organisations)})

    # ------------------------------------------------------- not a journal
    def seen_level(self, record: PersonRecord) -> None:
        if record.protection in PROTECTION_LEVELS:
            self.batch.register_levels[record.person_id] = record.protection

    def newcomer(self, record: PersonRecord, snapshot: dict | str | None, municipality: str | None = None) -> None:
        # Before the scope check: the register withholds a strictly confidential person's address and
        # municipality, so such a person falls out of scope, and its open findings must still follow.
        self.seen_level(record)
        if not self.scope.covers(record, municipality):
            return
        station = self.scope.station_for(record.municipality_number or municipality, record.urban_district_code)
        self.finding(FindingKind.UNREGISTERED_RESIDENT, record=record, child=None, fingerprint="resident",
                     station=station, snapshot=snapshot)

    def guardian(self, guardian: Guardian, record: PersonRecord) -> None:
        """A guardian's own register changes: name, address, protection, contact register."""
        values = {"register_person_id": record.person_id, "national_id": record.national_id}
        if record.family_name:
            values.update(given_name=record.given_name[:100], family_name=record.family_name[:150])
        if record.protection in PROTECTION_LEVELS:
            values["address_protection"] = record.protection
        if record.protection == AddressProtection.STRICTLY_CONFIDENTIAL:
            values.update(street_address="", postal_code="", city="")
        elif record.has_address:
            values.update(street_address=record.street_address[:200], postal_code=record.postal_code[:4],
                          city=record.city[:100], municipality_number=record.municipality_number or "")
        if record.phone:
            values["mobile"] = record.phone[:20]
        if record.language in LANGUAGES:
            values["preferred_language"] = record.language
        values["sms_reserved"] = record.reserved
        changed = {k: v for k, v in values.items() if getattr(guardian, k) != v}
        if changed:
            self.batch.set_guardian(guardian, **changed)


# -------------------------------------------------------------------- applying


def _document(snapshot: dict | str) -> dict:
    """A person document, given as the decoded dict or its JSON text (FetchedPersons.records)."""
    return json.loads(snapshot) if isinstance(snapshot, str) else snapshot


def _current_versions(doc: dict | None) -> dict | None:
    """The document with only its current versions (the history stays in the register)."""
    if doc is None:
        return None
    return {
        key: [v for v in value if not isinstance(v, dict) or v.get("isValid", True)] if isinstance(value, list) else value
        for key, value in doc.items()
    }


def _apply_guardian_change(child: JournalChild, record: PersonRecord, wanted, roles, guardian_records: dict[str, PersonRecord]) -> None:
    links = list(Guardianship.objects.filter(child_id=child.pk).select_related("guardian"))
    wanted_nins = {v for k, v in wanted if k == "nin"}
    wanted_orgs = {v for k, v in wanted if k == "org"}
    by_key = {}
    for link in links:
        g = link.guardian
        key = guardian_key(national_id=g.national_id, organisation=g.organisation, given_name=g.given_name,
                           family_name=g.family_name)
        by_key[key] = link
        should = key in wanted
        if link.parental_responsibility != should:
            link.parental_responsibility = should
            link.save(update_fields=["parental_responsibility"])
    missing_nins = [n for n in wanted_nins if ("nin", n) not in by_key]
    existing = {g.national_id: g for g in Guardian.objects.filter(national_id__in=missing_nins)}
    for nin in missing_nins:
        guardian = existing.get(nin) or _guardian_from_register(nin, guardian_records.get(nin), record)
        Guardianship.objects.update_or_create(
            child_id=child.pk, guardian=guardian,
            defaults={"relation": RELATION_FOR_ROLE.get(roles.get(nin), Relation.OTHER), "parental_responsibility": True},
        )
    for org in (r.organisation for r in record.guardians if r.organisation):
        if ("org", org.strip().lower()) in by_key or org.strip().lower() not in wanted_orgs:
            continue
        guardian = (Guardian.objects.filter(organisation=True, family_name__iexact=org.strip()).first()
                    or Guardian.objects.create(organisation=True, family_name=org.strip()[:150]))
        Guardianship.objects.update_or_create(
            child_id=child.pk, guardian=guardian, defaults={"relation": Relation.OTHER, "parental_responsibility": True}
        )
    for responsibility in record.guardians:
        if responsibility.key[0] == "person" and responsibility.key not in by_key and responsibility.key in wanted:
            Guardianship.objects.update_or_create(
                child_id=child.pk, guardian=_guardian_without_identifier(responsibility),
                defaults={"relation": _relation_of(responsibility), "parental_responsibility": True})


def _relation_of(responsibility) -> str:
    return RELATION_FOR_ROLE.get(responsibility.kind, Relation.OTHER)


def _guardian_without_identifier(responsibility) -> Guardian:
    """A parent the register knows by name only (responsibleWithoutIdentifier): a guardian without a
    national id, not an organisation; letters to them are handled by hand. Named exactly as the register
    names them, so that guardian_key finds them again on the next run."""
    given, family = responsibility.given_name or "", responsibility.family_name or ""
    return Guardian.objects.create(national_id=None, organisation=False, given_name=given[:100],
                                   family_name=(family or ("" if given else "Ukjent"))[:150])


def _guardian_from_register(nin: str, record: PersonRecord | None, child_record: PersonRecord) -> Guardian:
    if record is None:
        # Not fetched (the register did not know the number): keep the number so letters can be handled by hand.
        return Guardian.objects.create(national_id=nin, family_name=child_record.family_name[:150] or "Ukjent")
    strictly = record.protection == AddressProtection.STRICTLY_CONFIDENTIAL
    return Guardian.objects.create(
        national_id=nin, given_name=record.given_name[:100], family_name=record.family_name[:150] or "Ukjent",
        register_person_id=record.person_id,
        mobile=(record.phone or "")[:20], preferred_language=record.language if record.language in LANGUAGES else Language.NB,
        sms_reserved=record.reserved,
        street_address="" if strictly else record.street_address[:200], postal_code="" if strictly else record.postal_code[:4],
        city="" if strictly else record.city[:100], municipality_number=record.municipality_number or "",
        address_protection=record.protection if record.protection in AddressProtection.values else AddressProtection.UNCLASSIFIED,
    )


def _write(batch: _Batch, guardian_records: dict[str, PersonRecord]) -> int:
    """Write a batch (inside the caller's transaction). Returns how many findings were new."""
    for model, changed in ((Child, batch.changed_children), (Guardian, batch.changed_guardians)):
        # One UPDATE statement per set of changed fields (the first run links
        # thousands of journals to their register ids at once).
        groups: dict[frozenset, list] = {}
        for obj, fields in changed.values():
            groups.setdefault(frozenset(fields), []).append(obj)
        for fields, objs in groups.items():
            journal_io.update_rows(model, objs, fields)
    if batch.aliases:
        NationalIdAlias.objects.bulk_create(batch.aliases, ignore_conflicts=True)
    for change in batch.guardian_changes:
        _apply_guardian_change(*change, guardian_records)
    created = 0
    if batch.findings:
        # Findings already recorded for the same register state are left out
        # before the insert, so an unchanged run writes nothing at all.
        subjects = list({f.subject for f in batch.findings})
        existing = set(journal_io.rows(
            Finding.objects.filter(subject__any=subjects).values_list("kind", "subject", "fingerprint").order_by()))
        new = [f for f in batch.findings if f.key not in existing]
        # A concurrent run may have inserted some: those are skipped.
        if new:
            journal_io.insert_rows(Finding, [f.values_for_insert() for f in new])
        created = len(new)
    _protection_follows(batch)
    for effect in batch.effects:
        effect()
    return created


def _protection_follows(batch: _Batch) -> None:
    """Tell every holder of copies (letters, findings) whose protection this batch changed, in its transaction.

    Journal children and guardians whose row changed, and register persons whose findings held another
    level than the register's answer now: a person without a journal has no row of its own, so the
    latest level the register gave is written onto its findings (the one place it is kept) first."""
    child_ids = [obj.pk for obj, fields in batch.changed_children.values() if "address_protection" in fields]
    guardian_ids = [obj.pk for obj, fields in batch.changed_guardians.values() if "address_protection" in fields]
    person_ids = [str(obj.register_person_id) for changed in (batch.changed_children, batch.changed_guardians)
                  for obj, fields in changed.values() if "address_protection" in fields and obj.register_person_id]
    levels = batch.register_levels
    if levels:
        stale: dict[str, list[int]] = {}
        # Open findings, and the few of persons without a journal that were handled (a journal
        # child's handled findings follow the child's row through the signal).
        for pk, subject, level in Finding.objects.filter(subject__in=list(levels)).filter(
                Q(status=FindingStatus.OPEN) | Q(child__isnull=True)).values_list("pk", "subject", "protection"):
            if level != levels[subject]:
                stale.setdefault(levels[subject], []).append(pk)
                person_ids.append(subject)
        for level, pks in stale.items():
            Finding.objects.filter(pk__in=pks).update(protection=level)
    protection_changed(child_ids=child_ids, guardian_ids=guardian_ids, register_person_ids=person_ids)


def _journal_for(records: list[PersonRecord], scope: "Scope",
                 known: dict[str, JournalChild] | None = None) -> dict[str, JournalChild]:
    """The journal children the records refer to, by register person id (or a current or former national id).

    ``known``: journal children already read with their guardians' keys, by
    register person id (the full reconciliation reads its whole scope at once);
    only the records they do not cover are looked up."""
    ids = [r.person_id for r in records]
    by_person: dict[str, JournalChild] = {}
    if known is not None:
        preread = [known[i] for i in ids if i in known]
        ids = [i for i in ids if i not in known]
    else:
        preread = []
    children = journal_io.journal_rows(Child.objects.filter(register_person_id__any=ids), scope) if ids else []
    for child in preread:
        by_person[child.register_person_id] = child
    for child in children:
        by_person[child.register_person_id] = child
    nins = {n: r.person_id for r in records if r.person_id not in by_person for n in (r.national_id, *r.former_national_ids)}
    if nins:
        for child in journal_io.journal_rows(Child.objects.filter(national_id__any=list(nins)), scope):
            if child.pk not in {c.pk for c in by_person.values()}:
                by_person.setdefault(nins[child.national_id], child)
                children.append(child)
        aliases = list(NationalIdAlias.objects.filter(national_id__in=list(nins)).values_list("national_id", "child_id"))
        if aliases:
            pks = [pk for _, pk in aliases]
            aliased = {c.pk: c for c in journal_io.journal_rows(Child.objects.filter(pk__any=pks), scope)}
            for nin, child_pk in aliases:
                if nins[nin] not in by_person and child_pk in aliased:
                    by_person[nins[nin]] = aliased[child_pk]
                    children.append(aliased[child_pk])
    journal_io.attach_journal_details(children)
    return by_person


def _guardians_for(records: list[PersonRecord]) -> dict[str, Guardian]:
    ids = [r.person_id for r in records]
    nins = {r.national_id: r.person_id for r in records}
    found: dict[str, Guardian] = {}
    for guardian in Guardian.objects.filter(Q(register_person_id__in=ids) | Q(national_id__in=list(nins))):
        key = str(guardian.register_person_id) if guardian.register_person_id and str(guardian.register_person_id) in ids else nins.get(guardian.national_id)
        if key:
            found.setdefault(key, guardian)
    return found


@dataclass
class SyncResult:
    mode: str = SyncRunKind.EVENTS
    events: int = 0
    skipped_events: int = 0
    persons: int = 0
    findings: int = 0
    writes: int = 0
    pages: int = 0
    cursor: int | None = None
    full: bool = False
    busy: bool = False  # Not run: another sync held the lock (see _one_sync_at_a_time).

    def __str__(self) -> str:
        if self.busy:
            return f"{self.mode}: ikke kjørt, en annen synkronisering pågår (markør {self.cursor})"
        return (f"{self.mode}: {self.events} hendelser, {self.persons} personer, {self.findings} nye funn, "
                f"{self.writes} endringer, markør {self.cursor}")


def _parse_all(documents: list[dict]) -> list[tuple[PersonRecord, dict]]:
    return [(parse_person(doc), doc) for doc in documents]


def _reconcile(client: RegisterClient, parsed: list[tuple[PersonRecord, dict]], *, scope: Scope, sequence_number: int | None,
               with_guardians: bool, missing_children: list[JournalChild] = (), found_in: dict[str, str] | None = None,
               known: dict[str, JournalChild] | None = None, address_events: dict[str, str] | None = None) -> _Reconciliation:
    """Compare (read-only) and collect the batch; fetches guardians the batch will need.
    ``known``: journal children read beforehand (see _journal_for); ``address_events``: see _Reconciliation."""
    records = [r for r, _ in parsed]
    children = _journal_for(records, scope, known)
    guardians = _guardians_for([r for r in records if r.person_id not in children]) if with_guardians else {}
    rec = _Reconciliation(scope, sequence_number=sequence_number, now=timezone.now(), address_events=address_events)
    for record, doc in parsed:
        child = children.get(record.person_id)
        if child is not None:
            rec.child(child, record, doc)
        elif record.person_id in guardians:
            rec.guardian(guardians[record.person_id], record)
        else:
            rec.newcomer(record, doc, (found_in or {}).get(record.person_id))
    for child in missing_children:
        rec.child(child, None, None)
    # Guardians who get parental responsibility and are not in the journal yet.
    needed = [
        v for _child, _record, wanted, _roles in rec.batch.guardian_changes for k, v in wanted if k == "nin"
    ]
    known = set(Guardian.objects.filter(national_id__in=needed).values_list("national_id", flat=True))
    unknown = [n for n in needed if n not in known]
    rec.guardian_records = {r.national_id: r for r, _ in _parse_all(client.persons_by_nin(unknown))} if unknown else {}
    return rec


def _commit(rec: _Reconciliation) -> int:
    """Write what a reconciliation collected (inside the caller's transaction)."""
    return _write(rec.batch, rec.guardian_records)


def _cursor() -> SyncCursor:
    cursor, _ = SyncCursor.objects.get_or_create(name="events")
    return cursor


def _record_error(run: str, exc: Exception, sequence_number: int | None) -> SyncError:
    logger.error("Register sync (%s) failed at %s: %s", run, sequence_number, exc)
    return SyncError.objects.create(run=run, sequence_number=sequence_number, message=f"{exc.__class__.__name__}: {exc}"[:2000])


# ------------------------------------------------------------------ event sync


_gc_lock = threading.Lock()
_gc_runs = 0


@contextmanager
def _gc_frozen():
    """Keep the objects that exist when a sync starts (Django, the app, the
    worker's state: hundreds of thousands) out of the garbage collector's
    full collections while it runs. A sync allocates millions of short-lived
    objects and keeps each chunk's records and journal rows for a while; the
    full collections that this triggers rescanned the whole heap, about a
    tenth of a full reconciliation. Unfrozen (and collectable) afterwards;
    nested and concurrent runs unfreeze when the last one ends."""
    global _gc_runs
    with _gc_lock:
        _gc_runs += 1
        if _gc_runs == 1:
            gc.freeze()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_runs -= 1
            if _gc_runs == 0:
                gc.unfreeze()



@contextmanager
def _planner_for_cached_tables():
    """Let PostgreSQL's planner price a page read as a cached read while a sync
    runs (``random_page_cost`` 1.1 instead of the default 4, which assumes a
    spinning disk). A sync looks up a thousand persons at a time, scattered
    over tables that sit in memory; at the default the planner preferred
    reading the whole child and guardian tables (10-26 ms a lookup) to the
    indexes (2-4 ms). Only this connection, only for the run: the previous
    value is put back afterwards."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('random_page_cost'), set_config('random_page_cost', '1.1', false)")
        previous = cursor.fetchone()[0]
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('random_page_cost', %s, false)", [previous])
        except DbError:  # A broken connection is closed and replaced anyway.
            logger.warning("Could not restore random_page_cost after a register sync", exc_info=True)



# Any number: a PostgreSQL advisory lock is local to the database it is taken in.
_SYNC_LOCK_KEY = 0x48535359


@contextmanager
def _one_sync_at_a_time(*, wait: bool):
    """Yields whether this run may go on: one sync at a time per database.

    A full reconciliation fetches a chunk and compares it a moment later. An event
    applied in between by a concurrent event sync (a death, say) would then be
    compared with the person's older document and undone ("death annulled"), and the
    cursor would already be past the event. So the two never overlap: a full run
    waits for the lock (``wait``), an event sync that finds it taken is skipped
    and the next one (10 minutes later) follows the events from the same cursor.
    A session-level advisory lock on PostgreSQL, re-entrant within the session
    (an event sync that turns into a full run keeps it), released when the run
    ends or its connection is lost."""
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_lock(%s)", [_SYNC_LOCK_KEY])
            taken = True
        else:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [_SYNC_LOCK_KEY])
            taken = cursor.fetchone()[0]
    try:
        yield taken
    finally:
        if taken:
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [_SYNC_LOCK_KEY])
            except DbError:  # A lost connection has released it.
                logger.warning("Could not release the register sync lock", exc_info=True)

def _fetch_event_page(client: RegisterClient, next_seq: int):
    """One event page from ``next_seq`` and the current documents of the persons
    its known events name, not decoded yet: (page, the events at or after
    next_seq, FetchedPersons or None)."""
    page = client.events(next_seq)
    events = [e for e in page.events if e.sequence_number >= next_seq]
    person_ids = list(dict.fromkeys(e.person_id for e in events if e.event_type in REFETCH_EVENT_TYPES))
    return page, events, client.fetch_persons_by_id(person_ids) if person_ids else None



@_gc_frozen()
@_planner_for_cached_tables()
def register_sync(*, client: RegisterClient | None = None, today: date | None = None, max_pages: int | None = None) -> SyncResult:
    """Follow the register's events from the stored cursor (every 10 minutes by beat).

    Starts a full reconciliation instead on the first run, when one was
    requested, and when the register's sequence went backwards. Raises SyncFailed
    (after recording a SyncError) when the register gives no usable answer. Does
    nothing (``busy``) while another sync runs (_one_sync_at_a_time).
    """
    client = client or RegisterClient.from_settings()
    today = today or timezone.localdate()
    with _one_sync_at_a_time(wait=False) as free:
        if not free:
            cursor = _cursor()
            logger.info("Register event sync skipped: another sync is running (cursor %s)", cursor.last_sequence)
            return SyncResult(cursor=cursor.last_sequence, busy=True)
        return _register_sync(client=client, today=today, max_pages=max_pages)


def _register_sync(*, client: RegisterClient, today: date, max_pages: int | None) -> SyncResult:
    cursor = _cursor()
    if cursor.last_sequence is None or cursor.full_requested:
        return register_full_reconciliation(client=client, today=today)
    result = SyncResult(cursor=cursor.last_sequence)
    next_seq = cursor.last_sequence + 1
    try:
        latest = client.latest_event()
        if latest is not None and latest.sequence_number < cursor.last_sequence:
            logger.warning("Register sequence went backwards (%s < %s): full reconciliation", latest.sequence_number, cursor.last_sequence)
            SyncCursor.objects.filter(pk=cursor.pk).update(full_requested=True)
            return register_full_reconciliation(client=client, today=today, reset_cursor=True)
        scope = Scope(today)
        # The next page and its persons are fetched while this one is compared
        # and committed (as in the full reconciliation): the wait for the
        # register overlaps the work on the database.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="register-fetch") as pool:
            fetcher = client.fork()  # Its own HTTP session in the fetching thread.
            pending = pool.submit(_fetch_event_page, fetcher, next_seq)
            while max_pages is None or result.pages < max_pages:
                page, events, fetched = pending.result()
                pending = None
                if page.events and not events:
                    # A page entirely before what we asked for: the register was re-spooled.
                    SyncCursor.objects.filter(pk=cursor.pk).update(full_requested=True)
                    full = register_full_reconciliation(client=client, today=today, reset_cursor=True)
                    full.events = result.events
                    return full
                if not events:
                    break
                result.pages += 1
                last = events[-1].sequence_number
                if len(page.events) >= MAX_EVENTS_PER_PAGE and (max_pages is None or result.pages < max_pages):
                    pending = pool.submit(_fetch_event_page, fetcher, last + 1)
                address_events: dict[str, str] = {}
                for event in events:
                    if event.event_type in (MOVE_EVENT, CORRECTION_EVENT):
                        address_events[event.person_id] = event.event_type  # The latest one decides.
                    elif event.event_type not in REFETCH_EVENT_TYPES:
                        if event.event_type not in EVENT_TYPES:
                            logger.info("Skipping unknown register event type %r (sequence %s)", event.event_type,
                                        event.sequence_number)
                        result.skipped_events += 1
                parsed = fetched.records() if fetched is not None else []
                rec = _reconcile(client, parsed, scope=scope, sequence_number=last, with_guardians=True,
                                 address_events=address_events)
                with transaction.atomic():
                    locked = SyncCursor.objects.select_for_update().get(pk=cursor.pk)
                    if locked.last_sequence != next_seq - 1:
                        logger.info("Another sync moved the cursor (%s); stopping", locked.last_sequence)
                        break
                    created = _commit(rec)
                    result.findings += created
                    locked.last_sequence = last
                    locked.last_event_sync_at = timezone.now()
                    locked.save(update_fields=["last_sequence", "last_event_sync_at"])
                result.writes += rec.batch.row_changes + created
                result.events += len(events)
                result.persons += len(parsed)
                result.cursor = last
                next_seq = last + 1
                if pending is None:
                    break
    except RegisterError as exc:
        _record_error(SyncRunKind.EVENTS, exc, next_seq)
        raise SyncFailed(str(exc)) from exc
    return result


# ---------------------------------------------------------- full reconciliation


@_gc_frozen()
@_planner_for_cached_tables()
def register_full_reconciliation(*, client: RegisterClient | None = None, today: date | None = None,
                                 reset_cursor: bool = False) -> SyncResult:
    """Compare every child in scope with the register (weekly, first start, after a re-spool).

    Reads ``event/latest`` first, so events after that number are followed
    by the next event sync and nothing falls between the two.
    """
    client = client or RegisterClient.from_settings()
    today = today or timezone.localdate()
    with _one_sync_at_a_time(wait=True):
        return _register_full_reconciliation(client=client, today=today, reset_cursor=reset_cursor)


def _register_full_reconciliation(*, client: RegisterClient, today: date, reset_cursor: bool) -> SyncResult:
    scope = Scope(today)
    result = SyncResult(mode=SyncRunKind.FULL, full=True)
    try:
        latest = client.latest_event()
        found_in: dict[str, str] = {}
        seen_children: set[int] = set()
        statuses = [str(status) for status in COMPARED_STATUSES]
        station_ids = list(scope.station_by_id)

        def search_and_fetch_first(fetcher: RegisterClient):
            """The municipality search, then the first chunk of what it found."""
            found: dict[str, str] = {}
            for municipality in scope.stations:
                for person_id in fetcher.search_ids(municipality_number=municipality, birth_from=scope.birth_from, birth_to=today):
                    found[person_id] = municipality
            first = list(found)[:FULL_CHUNK]
            return found, fetcher.fetch_persons_by_id(first) if first else None

        def process(parsed, missing_pks=()):
            rec = _reconcile(client, parsed, scope=scope, sequence_number=None, with_guardians=False,
                             missing_children=[by_pk[pk] for pk in missing_pks], found_in=found_in, known=known)
            with transaction.atomic():
                created = _commit(rec)
            result.findings += created
            seen_children.update(rec.seen_children)
            # A child compared once is read afresh if another record reaches it
            # again later in the run (a national id or an alias of it): the row
            # read at the start may have been changed by this run.
            for pk in rec.seen_children:
                if pk in by_pk and by_pk[pk].register_person_id:
                    known.pop(by_pk[pk].register_person_id, None)
            result.writes += rec.batch.row_changes + created
            result.persons += len(parsed)

        # A thread with its own HTTP session runs the municipality search and
        # then fetches the next chunk while this one is compared: the wait for
        # the register overlaps the work on the database. The answers are
        # decoded here, not in the fetching thread (see fetch_persons_by_id).
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="register-fetch") as pool:
            fetcher = client.fork()
            pending = pool.submit(search_and_fetch_first, fetcher)
            # Meanwhile: the journals the register should know, read once with
            # what is compared (two queries instead of two per chunk of a
            # thousand). The rows are at most one run old when compared; a
            # change in between is written again or found again, and findings
            # are unique per register state.
            journal = journal_io.attach_journal_details(journal_io.journal_rows(
                Child.objects.filter(status__any=statuses, birth_date__gte=scope.birth_from, station_id__any=station_ids),
                scope,
            ))
            known = {child.register_person_id: child for child in journal if child.register_person_id}
            by_pk = {child.pk: child for child in journal}
            by_id = {pid: child.pk for pid, child in known.items()}
            by_nin = {child.national_id: child.pk for child in journal if not child.register_person_id}
            found, first = pending.result()
            found_in.update(found)
            # The first chunk is exactly what the thread fetched (the first
            # thousand the search found), then the rest of the search's ids and
            # the journal's children the search did not find.
            first_ids = list(found_in)[:FULL_CHUNK]
            fetched_first = set(first_ids)
            rest = [p for p in dict.fromkeys([*found_in, *by_id]) if p not in fetched_first]
            chunks = ([first_ids] if first_ids else []) + [rest[start : start + FULL_CHUNK] for start in range(0, len(rest), FULL_CHUNK)]
            pending = pool.submit(fetcher.fetch_persons_by_id, chunks[0]) if chunks and first is None else None
            for index, chunk in enumerate(chunks):
                fetched = first if index == 0 and first is not None else pending.result()
                pending = pool.submit(fetcher.fetch_persons_by_id, chunks[index + 1]) if index + 1 < len(chunks) else None
                parsed = fetched.records()
                returned = {r.person_id for r, _ in parsed}
                process(parsed, [by_id[p] for p in chunk if p in by_id and p not in returned])
        # Journals not yet linked to a register id and not met in the search.
        nins = [nin for nin, pk in by_nin.items() if pk not in seen_children]
        for start in range(0, len(nins), FULL_CHUNK):
            chunk = nins[start : start + FULL_CHUNK]
            parsed = _parse_all(client.persons_by_nin(chunk))
            returned = {n for r, _ in parsed for n in (r.national_id, *r.former_national_ids)}
            process(parsed, [by_nin[n] for n in chunk if n not in returned])
        # Children who turned 6: closed for this programme (no register call needed).
        aged = journal_io.journal_rows(Child.objects.filter(status=ChildStatus.ACTIVE, birth_date__lt=scope.birth_from), scope)
        rec = _Reconciliation(scope, sequence_number=None, now=timezone.now())
        for child in aged:
            rec.aged_out(child)
        with transaction.atomic():
            created = _commit(rec)
        result.findings += created
        result.writes += rec.batch.row_changes + created

        with transaction.atomic():
            cursor = SyncCursor.objects.select_for_update().get_or_create(name="events")[0]
            cursor.last_full_at = timezone.now()
            cursor.full_requested = False
            if cursor.last_sequence is None or reset_cursor:
                # First load or a re-spooled register: follow events from the
                # number read before this reconciliation started.
                cursor.last_sequence = latest.sequence_number if latest is not None else 0
            cursor.save()
            result.cursor = cursor.last_sequence
    except RegisterError as exc:
        _record_error(SyncRunKind.FULL, exc, None)
        raise SyncFailed(str(exc)) from exc
    return result


def register_request_full() -> None:
    """Ask the next sync run for a full reconciliation."""
    SyncCursor.objects.get_or_create(name="events")
    SyncCursor.objects.filter(name="events").update(full_requested=True)


# ------------------------------------------------------- findings follow the person

# Keys in a finding's details (also nested: details["register"], details["before"]) that say where a
# person lives. The register withholds all of them for a strictly confidential person.
_FINDING_ADDRESS_KEYS = frozenset({"street_address", "postal_code", "city", "municipality_number",
                                   "urban_district_code", "municipality"})
# Elements of a person document that hold an address.
_DOCUMENT_ADDRESS_ELEMENTS = ("residentialAddress", "presentAddress", "postalAddress", "postalAddressAbroad",
                              "sharedResidence")


def _details_without_address(value):
    if isinstance(value, dict):
        return {key: ("" if key in _FINDING_ADDRESS_KEYS and item else _details_without_address(item))
                for key, item in value.items()}
    if isinstance(value, list):
        return [_details_without_address(item) for item in value]
    return value


def _snapshot_without_address(doc):
    """The document as the register gives it out for a strictly confidential person: no address at all."""
    if not isinstance(doc, dict):
        return doc
    return {key: ([] if key in _DOCUMENT_ADDRESS_ELEMENTS and value else value) for key, value in doc.items()}


def _finding_follow(finding: Finding, level: str) -> bool:
    """Give one finding this protection and, for strictly confidential, strip the address it stores."""
    values = {}
    if finding.protection != level:
        values["protection"] = level
    if level == AddressProtection.STRICTLY_CONFIDENTIAL:
        details, snapshot = _details_without_address(finding.details), _snapshot_without_address(finding.snapshot)
        if details != finding.details:
            values["details"] = details
        if snapshot != finding.snapshot:
            values["snapshot"] = snapshot
    if not values:
        return False
    Finding.objects.filter(pk=finding.pk).update(**values)
    for name, value in values.items():
        setattr(finding, name, value)
    return True


def findings_follow_protection(*, child_ids=(), register_person_ids=()) -> int:
    """Bring these persons' findings in step with their protection now (the receiver of
    ``address_protection_changed``, inside the change's transaction). Returns how many changed.

    A journal child's findings take the child's row; a register person without a journal keeps its
    latest level on its findings (the sync writes it there each time it sees the person), so those are
    only stripped. A strictly confidential person's address goes from details and snapshot alike, of
    handled findings as well as open ones: no copy outlives the right to see it."""
    person_ids = sorted({str(pid) for pid in register_person_ids if pid})
    # Person ids are opaque strings (up to 64 characters), compared as text.
    children = list(Child.objects.filter(Q(pk__in=list(child_ids)) | Q(register_person_id__in=person_ids))
                    .values_list("pk", "register_person_id", "address_protection"))
    by_child = {pk: level for pk, _, level in children}
    by_subject = {str(pid): level for _, pid, level in children if pid}
    subjects = sorted(set(person_ids) | set(by_subject))
    if not by_child and not subjects:
        return 0
    changed = 0
    findings = Finding.objects.filter(Q(child_id__in=list(by_child)) | Q(subject__in=subjects)).only(
        "pk", "child_id", "subject", "protection", "details", "snapshot").order_by("pk")
    for finding in findings:
        level = by_child.get(finding.child_id) or by_subject.get(finding.subject) or finding.protection
        changed += _finding_follow(finding, level)
    return changed


def findings_on_protection_changed(sender, *, child_ids=(), register_person_ids=(), **kwargs) -> None:
    findings_follow_protection(child_ids=child_ids, register_person_ids=register_person_ids)


# -------------------------------------------------------------------- worklist


class FindingActionError(Exception):
    """A worklist action that cannot be done; the message is shown to the user."""


def _resolve(finding: Finding, *, user: User, resolution: str, comment: str = "", child: Child | None = None) -> Finding:
    updated = Finding.objects.filter(pk=finding.pk, status=FindingStatus.OPEN).update(
        status=FindingStatus.RESOLVED, resolution=resolution, resolved_at=timezone.now(), resolved_by=user,
        comment=comment[:2000], child=child or finding.child,
    )
    if not updated:
        raise FindingActionError(gettext("Funnet er allerede behandlet."))
    finding.refresh_from_db()
    return finding


def _fresh_record(finding: Finding, client: RegisterClient) -> PersonRecord:
    """The person as the register gives it out now; a finding's snapshot is never made into a journal."""
    try:
        if finding.register_person_id:
            documents = client.persons_by_id([finding.register_person_id])
        else:
            documents = [doc for doc in [client.person_by_nin(finding.national_id)] if doc is not None]
        records = [record for record, _ in _parse_all(documents)]
    except RegisterProtocolError:
        raise FindingActionError(gettext("Svaret fra folkeregisteret kan ikke leses. Ingen journal er opprettet.")) from None
    except RegisterError:
        raise FindingActionError(gettext("Folkeregisteret svarer ikke akkurat nå. Ingen journal er opprettet; prøv igjen om litt.")) from None
    wanted = finding.register_person_id
    record = next((r for r in records if not wanted or r.person_id == wanted), None)
    if record is None:
        raise FindingActionError(gettext("Folkeregisteret kjenner ikke lenger denne personen. Ingen journal er opprettet; "
                                   "marker funnet som gjennomgått."))
    if record.is_deceased or record.status not in NORMAL_STATUSES:
        raise FindingActionError(gettext("Personen er ikke lenger bosatt ifølge folkeregisteret. Ingen journal er opprettet; "
                                   "marker funnet som gjennomgått."))
    return record


def finding_create_journal(*, finding: Finding, user: User, client: RegisterClient | None = None) -> Child:
    """Create the journal from the person as the register gives it out now and plan it (catch-up
    rules), or reopen a closed one. The register is asked before the transaction opens."""
    if finding.kind != FindingKind.UNREGISTERED_RESIDENT or not finding.is_open:
        raise FindingActionError(gettext("Dette funnet kan ikke gi en ny journal."))
    if finding.child is not None:
        with transaction.atomic():
            child = finding.child
            Child.objects.filter(pk=child.pk).update(status=ChildStatus.ACTIVE, status_changed_at=timezone.now(), station=finding.station)
            child.refresh_from_db()
            _effect_plan(child)
            _resolve(finding, user=user, resolution=Resolution.JOURNAL_CREATED, child=child)
        return child
    client = client or RegisterClient.from_settings()
    record = _fresh_record(finding, client)
    level = record.protection if record.protection in AddressProtection.values else AddressProtection.UNCLASSIFIED
    # The person's findings learn the register's answer (and lose a strictly confidential address)
    # whether or not the journal can be made.
    with transaction.atomic():
        findings_register_level(person_id=record.person_id, level=level)
    finding.refresh_from_db()
    with transaction.atomic():
        return _create_journal(finding=finding, user=user, client=client, record=record, level=level)


def findings_register_level(*, person_id: str, level: str) -> int:
    """The register's latest protection of a person, written onto its findings (see _protection_follows);
    when it changed, the holders of copies are told. Returns how many findings changed level."""
    changed = Finding.objects.filter(subject=person_id).filter(
        Q(status=FindingStatus.OPEN) | Q(child__isnull=True)).exclude(protection=level).update(protection=level)
    if changed or level == AddressProtection.STRICTLY_CONFIDENTIAL:
        protection_changed(register_person_ids=[person_id])
    return changed


def _create_journal(*, finding: Finding, user: User, client: RegisterClient, record: PersonRecord, level: str) -> Child:
    responsible = {r.national_id for r in record.guardians if r.national_id}
    known = {g.national_id: g for g in Guardian.objects.filter(national_id__in=responsible)}
    try:
        fetched = {r.national_id: r for r, _ in _parse_all(client.persons_by_nin([n for n in responsible if n not in known]))} \
            if responsible - set(known) else {}
    except RegisterError:
        raise FindingActionError(gettext("Folkeregisteret svarer ikke akkurat nå. Ingen journal er opprettet; prøv igjen om litt.")) from None
    roles = dict(record.parents)
    guardians = []
    for nin in sorted(responsible):
        link = {"relation": RELATION_FOR_ROLE.get(roles.get(nin), Relation.OTHER), "parental_responsibility": True}
        if nin in known:
            guardians.append({"guardian": known[nin], **link})
            continue
        guardians.append({"guardian": _guardian_from_register(nin, fetched.get(nin), record), **link})
    for responsibility in record.guardians:
        if responsibility.key[0] == "person":
            guardians.append({"guardian": _guardian_without_identifier(responsibility),
                              "relation": _relation_of(responsibility), "parental_responsibility": True})
    for organisation in {r.organisation.strip() for r in record.guardians if r.organisation}:
        org = (Guardian.objects.filter(organisation=True, family_name__iexact=organisation).first()
               or Guardian.objects.create(organisation=True, family_name=organisation[:150]))
        guardians.append({"guardian": org, "relation": Relation.OTHER, "parental_responsibility": True})
    address = storable_address(level, {"street_address": record.street_address[:200], "postal_code": record.postal_code[:4],
                                        "city": record.city[:100]})
    try:
        child = child_register(
            national_id=record.national_id, given_name=record.given_name or "Ukjent", family_name=record.family_name or "Ukjent",
            birth_date=record.birth_date, sex=record.sex, station=finding.station, guardians=guardians, registered_by=user,
            register_person_id=record.person_id, **address,
            municipality_number=record.municipality_number or "", urban_district_code=record.urban_district_code[:6],
            address_protection=level,
        )
    except ValidationError as exc:
        raise FindingActionError(" ".join(exc.messages)) from None
    _resolve(finding, user=user, resolution=Resolution.JOURNAL_CREATED, child=child)
    return child


@transaction.atomic
def finding_move_station(*, finding: Finding, user: User, station: Station) -> Child:
    """Move the child to the station of its new urban district. Its future appointments at
    the old station are cancelled by the station (the consultations are due again and wait
    on the new station's booking worklist), and its open case and unrendered letters go
    with it."""
    if finding.child is None:
        raise FindingActionError(gettext("Dette funnet gjelder ingen journal."))
    _resolve(finding, user=user, resolution=Resolution.MOVED_STATION, comment=gettext("Flyttet til %(station)s") % {"station": station.name})
    child = Child.objects.select_for_update().get(pk=finding.child_id)
    if child.status != ChildStatus.ACTIVE:
        raise FindingActionError(
            gettext("Barnet er ikke aktivt i programmet (%(status)s); det flyttes ikke. Marker funnet som gjennomgått.")
            % {"status": child.get_status_display().lower()}
        )
    if child.station_id != station.pk:
        cancelled = child_cancel_future(child=child, reason=(gettext("Flyttet til %(station)s") % {"station": station.name})[:200], recorded_by=user, register_cause="moved_station")
        # The family is told, so nobody comes to the old station for a time that is gone.
        notified = sms_cancellations_send(appointment_ids=cancelled)
        if cancelled:
            finding.comment = (
                gettext("Flyttet til %(station)s. %(cancelled)s bestilt(e) time(r) avlyst; %(notified)s SMS til foresatte.")
                % {"station": station.name, "cancelled": len(cancelled), "notified": notified}
            )[:2000]
            Finding.objects.filter(pk=finding.pk).update(comment=finding.comment)
        Child.objects.filter(pk=child.pk).update(station=station)
        child.refresh_from_db()
        case_follow_child_station(child=child, by=user)
        letters_follow_child_station(child=child)
        # The child's findings still to be handled, and alerts no nurse has seen, go to the new
        # station's worklist and nurses; handled ones stay where they were handled.
        Finding.objects.filter(child=child).filter(
            Q(status=FindingStatus.OPEN) | Q(kind__in=[str(k) for k in ALERT_KINDS], alert_seen_at__isnull=True)
        ).update(station=station)
    finding.child = child
    return child


def finding_alert_seen(*, finding: Finding, user: User) -> bool:
    """A nurse has seen an alert (a death, a death annulled, a change of parental
    responsibility). The first one to mark it is recorded; a second click, or a
    colleague's at the same moment, changes nothing. Returns whether this call marked it."""
    if finding.kind not in ALERT_KINDS or finding.child_id is None:
        raise FindingActionError(gettext("Dette funnet er ikke et varsel."))
    if user.role != Role.NURSE:
        raise FindingActionError(gettext("Bare helsesykepleiere markerer varsler som sett."))
    marked = Finding.objects.filter(pk=finding.pk, alert_seen_at__isnull=True).update(
        alert_seen_at=timezone.now(), alert_seen_by=user)
    finding.refresh_from_db()
    return bool(marked)


@transaction.atomic
def finding_resolve(*, finding: Finding, user: User, resolution: str, comment: str = "") -> Finding:
    """Close, transfer, update or mark reviewed with a comment."""
    if resolution not in (Resolution.TRANSFERRED, Resolution.UPDATED, Resolution.REVIEWED):
        raise FindingActionError(gettext("Ukjent behandling."))
    if resolution == Resolution.REVIEWED and not comment.strip():
        raise FindingActionError(gettext("Skriv en kommentar når du markerer funnet som gjennomgått."))
    if resolution == Resolution.TRANSFERRED and finding.kind not in (FindingKind.MOVED_OUT, FindingKind.EMIGRATED):
        raise FindingActionError(gettext("Bare barn som har flyttet ut kan få journalen overført."))
    return _resolve(finding, user=user, resolution=resolution, comment=comment)


def findings_open_json() -> list[dict]:
    """The open findings for ``manage.py register_findings --format json``."""
    return [
        {
            "id": f.pk, "national_id": f.national_id, "kind": f.kind, "detected_at": f.detected_at.isoformat(),
            "station": f.station.name, "child_id": f.child_id, "name": f.name, "register_person_id": f.register_person_id,
            "sequence_number": f.sequence_number,
        }
        for f in Finding.objects.open().select_related("station").order_by("detected_at", "id")
    ]
