"""The comparison: a register person against the journal, giving findings and changes.

Pure: it reads nothing and writes nothing. It is given the register's records, the
journal's rows (``journal_io.JournalChild``, guardians) and the scope, and collects
in a ``Batch`` what the journal should become (changed columns, new national id
aliases, guardian links to change), the findings to record, and the effects to run
(``registry_sync/effects.py``). The runs (``registry_sync/runs.py``) read what it needs
before and write the batch after (``registry_sync/journal_writes.py``), in one transaction.

Comparing the register's current state with the journal's makes processing
idempotent: a page applied twice finds nothing new the second time, because the
journal already agrees, and each finding is keyed by (kind, person, register values).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import partial
from typing import Callable

from django.utils import timezone

from helsestasjon.models import AddressProtection, ChildStatus, Guardian, Language, Station
from registry_sync.client import CORRECTION_EVENT
from registry_sync.person_document import PersonRecord
from registry_sync.journal_io import JournalChild
from registry_sync.models import FindingKind, NationalIdAlias
from registry_sync.scope import NORMAL_STATUSES, Scope

logger = logging.getLogger(__name__)

ADDRESS_FIELDS = ("street_address", "postal_code", "city", "municipality_number", "urban_district_code")
LANGUAGES = {choice.value for choice in Language}
PROTECTION_LEVELS = tuple(AddressProtection.values)
# Kinds that need a person; the others are applied and logged as resolved.
AUTOMATIC_KINDS = {FindingKind.ADDRESS_CORRECTED, FindingKind.NAME_CHANGED, FindingKind.AGED_OUT}


@dataclass(frozen=True)
class Effect:
    """What the other parts must do for a child once the batch is written: ``plan`` its programme
    again, or ``stop`` everything (with ``reason``)."""

    action: str
    child_id: int
    reason: str = ""


class PendingFinding:
    """A finding the comparison made; the row is built only when it is new (journal_writes)."""

    __slots__ = ("kind", "subject", "fingerprint", "key", "values")

    def __init__(self, *, kind: str, subject: str, fingerprint: str, **values):
        self.kind, self.subject, self.fingerprint = kind, subject, fingerprint
        self.key = (kind, subject, fingerprint)
        self.values = values


@dataclass
class Batch:
    findings: list[PendingFinding] = field(default_factory=list)
    changed_children: dict[int, tuple[JournalChild, set[str]]] = field(default_factory=dict)
    effects: list[Effect] = field(default_factory=list)
    # (child, record, wanted responsibility keys, parents' roles by national id)
    guardian_changes: list = field(default_factory=list)
    changed_guardians: dict[int, tuple[Guardian, set[str]]] = field(default_factory=dict)
    aliases: list[NationalIdAlias] = field(default_factory=list)
    # The register's protection of every child-like person the batch saw (journal or not,
    # in scope or not), by register person id: their findings follow it (journal_writes).
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


def register_day(value, *, born: date, today: date) -> date | None:
    """The register's date of an event (a death, a move, an emigration) if the journal can use it:
    a date, not before the child's birth and not after today. Otherwise None."""
    if not value or not isinstance(value, str):
        return None
    try:
        day = date.fromisoformat(value[:10])
    except ValueError:
        return None
    return day if born <= day <= today else None


class Comparison:
    """Compares register persons with the journal and collects what to write (``batch``)."""

    def __init__(self, scope: Scope, *, sequence_number: int | None, now, address_events: dict[str, str] | None = None,
                 national_id_taken: Callable[[str, int], bool] = lambda national_id, child_id: False):
        self.scope = scope
        # The event sync's latest address event per person (ChangeInResidentialAddress or
        # ...WithoutRelocation): where it is known, it decides a move from a correction.
        self.address_events = address_events or {}
        self.sequence_number = sequence_number
        self.now = now
        self.today = timezone.localdate(now)
        # Whether another journal has this national id (a merge): asked of the journal by the run.
        self.national_id_taken = national_id_taken
        self.batch = Batch()
        self.seen_children: set[int] = set()

    # ------------------------------------------------------------- findings
    def finding(self, kind: str, *, record: PersonRecord | None, child: JournalChild | None, fingerprint: str,
                station: Station | None = None, details: dict | None = None, snapshot: dict | str | None = None,
                automatic: bool | None = None) -> None:
        automatic = kind in AUTOMATIC_KINDS if automatic is None else automatic
        station = station or (child.station if child else None)
        if station is None:
            return
        # Most findings of a run are already recorded (an unchanged run finds
        # them all again): the Finding row is only built for new ones.
        self.batch.findings.append(PendingFinding(
            kind=kind, subject=record.person_id if record else child.national_id, fingerprint=fingerprint[:200],
            automatic=automatic, now=self.now, sequence_number=self.sequence_number, station=station,
            child_id=child.pk if child else None, record=record, details=details, snapshot=snapshot,
            national_id=child.national_id if child else None,
            register_person_id=str(child.register_person_id or "") if child else "",
            name=child.full_name if child else "", birth_date=child.birth_date if child else None,
            protection=child.address_protection if child else "",
        ))

    def _finding_about(self, record: PersonRecord, child: JournalChild, snapshot, kind: str, fingerprint: str, **kw) -> None:
        self.finding(kind, record=record, child=child, fingerprint=fingerprint, snapshot=snapshot, **kw)

    # ---------------------------------------------------------- one child
    def child(self, child: JournalChild, record: PersonRecord | None, snapshot: dict | str | None) -> None:
        self.seen_children.add(child.pk)
        if record is None:
            if child.status == ChildStatus.ACTIVE:
                self.finding(FindingKind.UNKNOWN_TO_REGISTER, record=None, child=child, fingerprint="missing")
            return
        f = partial(self._finding_about, record, child, snapshot)
        self.seen_level(record)
        self.identity_and_name(child, record, f)
        self.protection(child, record, f)
        if self.status(child, record, f):
            return
        self.guardians(child, record, f)
        self.resident(child, record, f)

    def identity_and_name(self, child: JournalChild, record: PersonRecord, f) -> None:
        if child.register_person_id is None or child.register_person_id != record.person_id:
            self.batch.set(child, register_person_id=record.person_id)
        if record.national_id != child.national_id:
            self.identity(child, record, f)
        if (record.given_name, record.family_name) != (child.given_name, child.family_name) and record.family_name:
            f(FindingKind.NAME_CHANGED, f"{record.given_name}|{record.family_name}", details={"before": child.full_name})
            self.batch.set(child, given_name=record.given_name[:100], family_name=record.family_name[:100])

    def protection(self, child: JournalChild, record: PersonRecord, f) -> None:
        if record.protection != child.address_protection and record.protection in PROTECTION_LEVELS:
            f(FindingKind.PROTECTION_CHANGED, record.protection,
              details={"before": child.address_protection, "after": record.protection})
            self.batch.set(child, address_protection=record.protection)
            if record.protection == AddressProtection.STRICTLY_CONFIDENTIAL:
                self.batch.set(child, street_address="", postal_code="", city="")

    def set_status(self, child: JournalChild, status: str, *, register_date=None, dated: bool = False) -> dict:
        """Give the child a new status. A ``dated`` status (death, move, emigration) is dated by the
        register's own date where it gives a usable one, else by the sync's; the sync's time is kept
        as recorded-at either way. Returns what the finding records of the date."""
        day = register_day(register_date, born=child.birth_date, today=self.today) if dated else None
        at = self.now if day is None else timezone.make_aware(datetime.combine(day, time()))
        self.batch.set(child, status=status, status_changed_at=at, status_recorded_at=self.now)
        if not dated:
            return {}
        return {"status_date": (day or self.today).isoformat(), "status_date_from_register": day is not None}

    def stop(self, child: JournalChild, reason: str) -> None:
        self.batch.effects.append(Effect("stop", child.pk, reason))

    def leave(self, child: JournalChild, status: str, register_date, f, kind: str, key: str, details: dict) -> None:
        """A child who is no longer resident (died, emigrated), unless already so: the dated status, the
        finding with what it records of the date, and the stop of the programme (its reason: `status`)."""
        if child.status == status:
            return
        dated = self.set_status(child, status, register_date=register_date, dated=True)
        f(kind, key, details={**details, **dated})
        self.stop(child, str(status))

    def status(self, child: JournalChild, record: PersonRecord, f) -> bool:
        """Death, an annulled death, emigration and other register statuses. Returns whether the
        comparison of this child ends here (the child is not resident)."""
        if record.is_deceased:
            self.leave(child, ChildStatus.DECEASED, record.deceased_date, f, FindingKind.DECEASED,
                       f"deceased:{record.deceased_date}", {"deceased_date": record.deceased_date})
            return True
        if child.status == ChildStatus.DECEASED:
            f(FindingKind.DEATH_ANNULLED, f"annulled:{child.died_recorded_at.isoformat()}")
            self.set_status(child, ChildStatus.ACTIVE)
            self.batch.effects.append(Effect("plan", child.pk))
        if record.status == "Emigrated":
            self.leave(child, ChildStatus.EMIGRATED, record.emigration_date, f, FindingKind.EMIGRATED,
                       f"emigrated:{record.emigrated_to}", {"country": record.emigrated_to})
            return True
        if record.status not in NORMAL_STATUSES:
            f(FindingKind.OTHER_STATUS, f"status:{record.status}", details={"status": record.status})
            return True
        return False

    def resident(self, child: JournalChild, record: PersonRecord, f) -> None:
        """A resident child: back from abroad or another municipality, aged out, or its address."""
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
        details = {"before": child.national_id, "after": record.national_id}
        if self.national_id_taken(record.national_id, child.pk):
            # Two journals for one person: a merge, which a person must review.
            f(FindingKind.ID_CHANGED, f"merge:{record.national_id}", details={**details, "merge": True})
            return
        f(FindingKind.ID_CHANGED, f"id:{record.national_id}", details=details, automatic=True)
        self.batch.aliases.append(NationalIdAlias(child_id=child.pk, national_id=child.national_id, replaced_at=self.now))
        self.batch.set(child, national_id=record.national_id)

    def aged_out(self, child: JournalChild) -> None:
        self.finding(FindingKind.AGED_OUT, record=None, child=child, fingerprint="aged_out")
        self.set_status(child, ChildStatus.AGED_OUT)
        self.stop(child, "aged_out")

    def address(self, child: JournalChild, record: PersonRecord, f) -> None:
        if record.protection == AddressProtection.STRICTLY_CONFIDENTIAL or not record.has_address:
            # The register gives out no address for a strictly confidential
            # person: a missing address is never a move.
            return
        if record.municipality_number != child.station.municipality.number and self.moved_out(child, record, f):
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
            kind = FindingKind.ADDRESS_CORRECTED if self.corrected(record) else FindingKind.MOVED_WITHIN
            f(kind, f"address:{record.street_address}|{record.postal_code}|{record.move_date}", details={"before": before},
              automatic=True)

    def moved_out(self, child: JournalChild, record: PersonRecord, f) -> bool:
        """A move to a municipality no station serves: the child leaves the programme. Returns whether it did."""
        if self.scope.station_for(record.municipality_number, record.urban_district_code, fallback=False) is not None:
            return False
        dated = self.set_status(child, ChildStatus.MOVED, register_date=record.move_date, dated=True)
        f(FindingKind.MOVED_OUT, f"moved_out:{record.municipality_number}:{record.move_date}",
          details={"municipality": record.municipality_number, **dated})
        self.stop(child, "moved_out")
        return True

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
        self.batch.guardian_changes.append((child, record, wanted, dict(record.parents)))
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
        values["krr_reserved"] = record.krr_reserved
        values["digital_mailbox"] = record.digital_mailbox
        changed = {k: v for k, v in values.items() if getattr(guardian, k) != v}
        if changed:
            self.batch.set_guardian(guardian, **changed)
