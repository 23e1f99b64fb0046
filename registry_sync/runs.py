"""The runs: the event sync (every 10 minutes) and the full reconciliation (weekly, first start,
after a re-spool), with their cursor and their errors.

The flow (docs/architecture.md, "The register changes"): an event page is fetched, the persons it
names are re-fetched in bulk, the journal rows they refer to are read (``journal_io``), each person
is compared with the journal (``comparison``), and the batch and the cursor are written in one
transaction (``journal_writes``). The next page is fetched in a thread meanwhile. Only one run at a
time (``run_control``).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date

from django.db import transaction
from django.utils import timezone

from helsestasjon.models import Child, ChildStatus, Guardian
from registry_sync import journal_io
from registry_sync.client import (
    CORRECTION_EVENT,
    EVENT_TYPES,
    MAX_EVENTS_PER_PAGE,
    MOVE_EVENT,
    REFETCH_EVENT_TYPES,
    RegisterClient,
)
from registry_sync.person_document import PersonRecord, parse_persons
from registry_sync.register_errors import RegisterError
from registry_sync.comparison import Batch, Comparison
from registry_sync.journal_io import JournalChild
from registry_sync.journal_writes import batch_write
from registry_sync.models import SyncCursor, SyncError, SyncRunKind
from registry_sync.run_control import gc_frozen, one_sync_at_a_time, planner_for_cached_tables
from registry_sync.scope import COMPARED_STATUSES, Scope

logger = logging.getLogger(__name__)

# Full reconciliation works through the population in chunks, one transaction each.
FULL_CHUNK = 1000


class SyncFailed(Exception):
    """The sync stopped; a SyncError row says why (shown to the leader)."""


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
    busy: bool = False  # Not run: another sync held the lock (see run_control.one_sync_at_a_time).

    def __str__(self) -> str:
        if self.busy:
            return f"{self.mode}: ikke kjørt, en annen synkronisering pågår (markør {self.cursor})"
        return (f"{self.mode}: {self.events} hendelser, {self.persons} personer, {self.findings} nye funn, "
                f"{self.writes} endringer, markør {self.cursor}")


# ------------------------------------------------------------- one batch


@dataclass
class Compared:
    """A batch compared (read-only), with the register persons of the guardians it will create."""

    batch: Batch
    seen_children: set[int]
    guardian_records: dict[str, PersonRecord] = field(default_factory=dict)

    def write(self, result: SyncResult) -> int:
        """Write the batch (inside the caller's transaction) and count it. Returns the new findings."""
        created = batch_write(self.batch, self.guardian_records)
        result.findings += created
        result.writes += self.batch.row_changes + created
        return created


def compare(client: RegisterClient, parsed: list[tuple[PersonRecord, dict]], *, scope: Scope, sequence_number: int | None,
            with_guardians: bool, missing_children: list[JournalChild] = (), found_in: dict[str, str] | None = None,
            known: dict[str, JournalChild] | None = None, address_events: dict[str, str] | None = None) -> Compared:
    """Read the journal rows the records refer to, compare, and fetch the guardians the batch will need.
    ``known``: journal children read beforehand (see journal_io.journal_for); ``address_events``: see Comparison."""
    records = [r for r, _ in parsed]
    children = journal_io.journal_for(records, scope, known)
    guardians = journal_io.guardians_for([r for r in records if r.person_id not in children]) if with_guardians else {}
    comparison = Comparison(scope, sequence_number=sequence_number, now=timezone.now(), address_events=address_events,
                            national_id_taken=journal_io.national_id_taken)
    for record, doc in parsed:
        child = children.get(record.person_id)
        if child is not None:
            comparison.child(child, record, doc)
        elif record.person_id in guardians:
            comparison.guardian(guardians[record.person_id], record)
        else:
            comparison.newcomer(record, doc, (found_in or {}).get(record.person_id))
    for child in missing_children:
        comparison.child(child, None, None)
    return Compared(comparison.batch, comparison.seen_children, _new_guardians(client, comparison.batch))


def _new_guardians(client: RegisterClient, batch: Batch) -> dict[str, PersonRecord]:
    """The register persons of guardians who get parental responsibility and are not in the journal yet."""
    needed = [v for _child, _record, wanted, _roles in batch.guardian_changes for k, v in wanted if k == "nin"]
    known = set(Guardian.objects.filter(national_id__in=needed).values_list("national_id", flat=True))
    unknown = [n for n in needed if n not in known]
    return {r.national_id: r for r, _ in parse_persons(client.persons_by_nin(unknown))} if unknown else {}


def _cursor() -> SyncCursor:
    cursor, _ = SyncCursor.objects.get_or_create(name="events")
    return cursor


def _record_error(run: str, exc: Exception, sequence_number: int | None) -> SyncError:
    logger.error("Register sync (%s) failed at %s: %s", run, sequence_number, exc)
    return SyncError.objects.create(run=run, sequence_number=sequence_number, message=f"{exc.__class__.__name__}: {exc}"[:2000])


# ------------------------------------------------------------------ event sync


def _fetch_event_page(client: RegisterClient, next_seq: int):
    """One event page from ``next_seq`` and the current documents of the persons
    its known events name, not decoded yet: (page, the events at or after
    next_seq, FetchedPersons or None)."""
    page = client.events(next_seq)
    events = [e for e in page.events if e.sequence_number >= next_seq]
    person_ids = list(dict.fromkeys(e.person_id for e in events if e.event_type in REFETCH_EVENT_TYPES))
    return page, events, client.fetch_persons_by_id(person_ids) if person_ids else None


@gc_frozen()
@planner_for_cached_tables()
def register_sync(*, client: RegisterClient | None = None, today: date | None = None, max_pages: int | None = None) -> SyncResult:
    """Follow the register's events from the stored cursor (every 10 minutes by beat).

    Starts a full reconciliation instead on the first run, when one was
    requested, and when the register's sequence went backwards. Raises SyncFailed
    (after recording a SyncError) when the register gives no usable answer. Does
    nothing (``busy``) while another sync runs (run_control.one_sync_at_a_time).
    """
    client = client or RegisterClient.from_settings()
    today = today or timezone.localdate()
    with one_sync_at_a_time(wait=False) as free:
        if not free:
            cursor = _cursor()
            logger.info("Register event sync skipped: another sync is running (cursor %s)", cursor.last_sequence)
            return SyncResult(cursor=cursor.last_sequence, busy=True)
        return _register_sync(client=client, today=today, max_pages=max_pages)


def _register_sync(*, client: RegisterClient, today: date, max_pages: int | None) -> SyncResult:
    cursor = _cursor()
    if cursor.last_sequence is None or cursor.full_requested:
        return register_full_reconciliation(client=client, today=today)
    next_seq = cursor.last_sequence + 1
    try:
        latest = client.latest_event()
        if latest is not None and latest.sequence_number < cursor.last_sequence:
            logger.warning("Register sequence went backwards (%s < %s): full reconciliation", latest.sequence_number, cursor.last_sequence)
            return _full_after_respool(client, today, cursor, SyncResult(cursor=cursor.last_sequence))
        return _follow_events(client, today, cursor, max_pages)
    except RegisterError as exc:
        _record_error(SyncRunKind.EVENTS, exc, next_seq)
        raise SyncFailed(str(exc)) from exc


def _full_after_respool(client: RegisterClient, today: date, cursor: SyncCursor, so_far: SyncResult) -> SyncResult:
    """The register was re-spooled: a full run, which then follows the events from the register's new latest."""
    SyncCursor.objects.filter(pk=cursor.pk).update(full_requested=True)
    full = register_full_reconciliation(client=client, today=today, reset_cursor=True)
    full.events = so_far.events
    return full


def _follow_events(client: RegisterClient, today: date, cursor: SyncCursor, max_pages: int | None) -> SyncResult:
    """Apply event pages from the cursor until the register has no more (or ``max_pages``)."""
    result = SyncResult(cursor=cursor.last_sequence)
    scope = Scope(today)
    next_seq = cursor.last_sequence + 1
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
                return _full_after_respool(client, today, cursor, result)
            if not events:
                break
            result.pages += 1
            last = events[-1].sequence_number
            if len(page.events) >= MAX_EVENTS_PER_PAGE and (max_pages is None or result.pages < max_pages):
                pending = pool.submit(_fetch_event_page, fetcher, last + 1)
            if not _apply_event_page(client, scope, cursor, next_seq, events, fetched, result):
                break
            next_seq = last + 1
            if pending is None:
                break
    return result


def _address_events(events, result: SyncResult) -> dict[str, str]:
    """The latest address event per person (a move or a correction); counts the events not followed."""
    address_events: dict[str, str] = {}
    for event in events:
        if event.event_type in (MOVE_EVENT, CORRECTION_EVENT):
            address_events[event.person_id] = event.event_type  # The latest one decides.
        elif event.event_type not in REFETCH_EVENT_TYPES:
            if event.event_type not in EVENT_TYPES:
                logger.info("Skipping unknown register event type %r (sequence %s)", event.event_type, event.sequence_number)
            result.skipped_events += 1
    return address_events


def _apply_event_page(client: RegisterClient, scope: Scope, cursor: SyncCursor, next_seq: int, events, fetched,
                      result: SyncResult) -> bool:
    """Compare one page's persons and write the batch with the cursor, in one transaction. Returns
    False (and writes nothing) when another sync moved the cursor meanwhile."""
    last = events[-1].sequence_number
    address_events = _address_events(events, result)
    parsed = fetched.records() if fetched is not None else []
    compared = compare(client, parsed, scope=scope, sequence_number=last, with_guardians=True, address_events=address_events)
    with transaction.atomic():
        locked = SyncCursor.objects.select_for_update().get(pk=cursor.pk)
        if locked.last_sequence != next_seq - 1:
            logger.info("Another sync moved the cursor (%s); stopping", locked.last_sequence)
            return False
        compared.write(result)
        locked.last_sequence = last
        locked.last_event_sync_at = timezone.now()
        locked.save(update_fields=["last_sequence", "last_event_sync_at"])
    result.events += len(events)
    result.persons += len(parsed)
    result.cursor = last
    return True


# ---------------------------------------------------------- full reconciliation


@gc_frozen()
@planner_for_cached_tables()
def register_full_reconciliation(*, client: RegisterClient | None = None, today: date | None = None,
                                 reset_cursor: bool = False) -> SyncResult:
    """Compare every child in scope with the register (weekly, first start, after a re-spool).

    Reads ``event/latest`` first, so events after that number are followed
    by the next event sync and nothing falls between the two.
    """
    client = client or RegisterClient.from_settings()
    today = today or timezone.localdate()
    with one_sync_at_a_time(wait=True):
        try:
            return _register_full_reconciliation(client=client, today=today, reset_cursor=reset_cursor)
        except RegisterError as exc:
            _record_error(SyncRunKind.FULL, exc, None)
            raise SyncFailed(str(exc)) from exc


@dataclass
class _FullRun:
    """What a full reconciliation knows as it goes: the journal read at the start (by register id,
    by primary key, and the unlinked ones by national id), where the search found each person, and
    the children compared so far."""

    client: RegisterClient
    scope: Scope
    result: SyncResult
    known: dict[str, JournalChild] = field(default_factory=dict)
    by_pk: dict[int, JournalChild] = field(default_factory=dict)
    by_id: dict[str, int] = field(default_factory=dict)
    by_nin: dict[str, int] = field(default_factory=dict)
    found_in: dict[str, str] = field(default_factory=dict)
    seen_children: set[int] = field(default_factory=set)


def _register_full_reconciliation(*, client: RegisterClient, today: date, reset_cursor: bool) -> SyncResult:
    run = _FullRun(client=client, scope=Scope(today), result=SyncResult(mode=SyncRunKind.FULL, full=True))
    latest = client.latest_event()
    _full_search_and_compare(run, today)
    _full_by_national_id(run)
    _full_guardians(run)
    _full_aged_out(run)
    _full_finish(run, latest, reset_cursor)
    return run.result


def _search_and_fetch_first(fetcher: RegisterClient, scope: Scope, today: date):
    """The municipality search, then the first chunk of what it found."""
    found: dict[str, str] = {}
    for municipality in scope.stations:
        for person_id in fetcher.search_ids(municipality_number=municipality, birth_from=scope.birth_from, birth_to=today):
            found[person_id] = municipality
    first = list(found)[:FULL_CHUNK]
    return found, fetcher.fetch_persons_by_id(first) if first else None


def _compared_children(scope: Scope):
    """The journals a full reconciliation compares: in the programme's ages, at the scope's stations."""
    statuses = [str(status) for status in COMPARED_STATUSES]
    return Child.objects.filter(status__any=statuses, birth_date__gte=scope.birth_from, station_id__any=list(scope.station_by_id))


def _full_read_journal(run: _FullRun) -> None:
    """The journals the register should know, read once with what is compared (two queries instead
    of two per chunk of a thousand). The rows are at most one run old when compared; a change in
    between is written again or found again, and findings are unique per register state."""
    journal = journal_io.attach_journal_details(journal_io.journal_rows(_compared_children(run.scope), run.scope))
    run.known = {child.register_person_id: child for child in journal if child.register_person_id}
    run.by_pk = {child.pk: child for child in journal}
    run.by_id = {pid: child.pk for pid, child in run.known.items()}
    run.by_nin = {child.national_id: child.pk for child in journal if not child.register_person_id}


def _full_process(run: _FullRun, parsed, missing_pks=()) -> None:
    """Compare and write one chunk (its own transaction)."""
    compared = compare(run.client, parsed, scope=run.scope, sequence_number=None, with_guardians=False,
                       missing_children=[run.by_pk[pk] for pk in missing_pks], found_in=run.found_in, known=run.known)
    with transaction.atomic():
        compared.write(run.result)
    run.seen_children.update(compared.seen_children)
    # A child compared once is read afresh if another record reaches it
    # again later in the run (a national id or an alias of it): the row
    # read at the start may have been changed by this run.
    for pk in compared.seen_children:
        if pk in run.by_pk and run.by_pk[pk].register_person_id:
            run.known.pop(run.by_pk[pk].register_person_id, None)
    run.result.persons += len(parsed)


def _full_search_and_compare(run: _FullRun, today: date) -> None:
    """The persons the search finds and the journal's linked children, fetched in chunks and compared.

    A thread with its own HTTP session runs the municipality search and then
    fetches the next chunk while this one is compared: the wait for the
    register overlaps the work on the database. The answers are decoded here,
    not in the fetching thread (see fetch_persons_by_id)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="register-fetch") as pool:
        fetcher = run.client.fork()
        pending = pool.submit(_search_and_fetch_first, fetcher, run.scope, today)
        _full_read_journal(run)  # Meanwhile.
        found, first = pending.result()
        run.found_in.update(found)
        chunks = _full_chunks(run)
        pending = pool.submit(fetcher.fetch_persons_by_id, chunks[0]) if chunks and first is None else None
        for index, chunk in enumerate(chunks):
            fetched = first if index == 0 and first is not None else pending.result()
            pending = pool.submit(fetcher.fetch_persons_by_id, chunks[index + 1]) if index + 1 < len(chunks) else None
            parsed = fetched.records()
            returned = {r.person_id for r, _ in parsed}
            _full_process(run, parsed, [run.by_id[p] for p in chunk if p in run.by_id and p not in returned])


def _full_chunks(run: _FullRun) -> list[list[str]]:
    """The first chunk is exactly what the search thread fetched (the first thousand the search
    found), then the rest of the search's ids and the journal's children the search did not find."""
    first_ids = list(run.found_in)[:FULL_CHUNK]
    fetched_first = set(first_ids)
    rest = [p for p in dict.fromkeys([*run.found_in, *run.by_id]) if p not in fetched_first]
    return ([first_ids] if first_ids else []) + [rest[start : start + FULL_CHUNK] for start in range(0, len(rest), FULL_CHUNK)]


def _full_by_national_id(run: _FullRun) -> None:
    """Journals not yet linked to a register id and not met in the search, looked up by national id."""
    nins = [nin for nin, pk in run.by_nin.items() if pk not in run.seen_children]
    for start in range(0, len(nins), FULL_CHUNK):
        chunk = nins[start : start + FULL_CHUNK]
        parsed = parse_persons(run.client.persons_by_nin(chunk))
        returned = {n for r, _ in parsed for n in (r.national_id, *r.former_national_ids)}
        _full_process(run, parsed, [run.by_nin[n] for n in chunk if n not in returned])


def _full_guardians(run: _FullRun) -> None:
    """The journal's guardians of the compared children, fetched again and compared as guardians.

    A guardian's own changes (name, address, protection) and the contact register's (mobile,
    reservations, digital mailbox) are in no child's document, and the municipality search finds
    children only: without this pass a full run would refresh the guardians it creates and never
    the ones the journal has. Each chunk is written through the core's service in its own
    transaction; as for the children, the next chunk is fetched in a thread meanwhile.
    """
    guardians = journal_io.guardians_of_children(_compared_children(run.scope))
    by_id = [(pk, pid) for pk, pid, _nin in guardians if pid]
    by_nin = [(pk, nin) for pk, pid, nin in guardians if not pid]
    chunks = [(by_id[i : i + FULL_CHUNK], "id") for i in range(0, len(by_id), FULL_CHUNK)]
    chunks += [(by_nin[i : i + FULL_CHUNK], "nin") for i in range(0, len(by_nin), FULL_CHUNK)]
    if not chunks:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="register-fetch") as pool:
        fetcher = run.client.fork()

        def fetch(index: int):
            chunk, by = chunks[index]
            values = [value for _pk, value in chunk]
            return pool.submit(fetcher.fetch_persons_by_id if by == "id" else fetcher.fetch_persons_by_nin, values)

        pending = fetch(0)
        for index, (chunk, _by) in enumerate(chunks):
            fetched = pending.result()
            pending = fetch(index + 1) if index + 1 < len(chunks) else None
            _full_compare_guardians(run, [pk for pk, _ in chunk], fetched.records())


def _full_compare_guardians(run: _FullRun, pks: list[int], parsed) -> None:
    """Compare one chunk of guardians with the register's persons (found by register id or national id)."""
    guardians = journal_io.guardians_for([record for record, _ in parsed], pks=pks)
    comparison = Comparison(run.scope, sequence_number=None, now=timezone.now())
    for record, _doc in parsed:
        if record.person_id in guardians:
            comparison.guardian(guardians[record.person_id], record)
    with transaction.atomic():
        Compared(comparison.batch, comparison.seen_children).write(run.result)


def _full_aged_out(run: _FullRun) -> None:
    """Children who turned 6: closed for this programme (no register call needed)."""
    aged = journal_io.journal_rows(Child.objects.filter(status=ChildStatus.ACTIVE, birth_date__lt=run.scope.birth_from), run.scope)
    comparison = Comparison(run.scope, sequence_number=None, now=timezone.now())
    for child in aged:
        comparison.aged_out(child)
    with transaction.atomic():
        Compared(comparison.batch, comparison.seen_children).write(run.result)


def _full_finish(run: _FullRun, latest, reset_cursor: bool) -> None:
    """The cursor after a full run: its time, and on a first load or a re-spooled register the
    number read before this reconciliation started (events after it are followed next)."""
    with transaction.atomic():
        cursor = SyncCursor.objects.select_for_update().get_or_create(name="events")[0]
        cursor.last_full_at = timezone.now()
        cursor.full_requested = False
        if cursor.last_sequence is None or reset_cursor:
            cursor.last_sequence = latest.sequence_number if latest is not None else 0
        cursor.save()
        run.result.cursor = cursor.last_sequence
