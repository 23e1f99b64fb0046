"""The journal's reads for the register sync: the journal children and guardians a batch of register
persons refers to, read in bulk as plain rows.

The statements themselves (one binary array parameter per list, the ``any``
lookup, the unnest UPDATE and INSERT) are the core's, in ``helsestasjon/bulk.py``;
the batch writes go through the core's services (``children_update_from_register``, ...)
from ``registry_sync/journal_writes.py``.
"""

from __future__ import annotations

from django.db.models import Case, F, Q, TextField, When
from django.db.models.functions import Cast

from helsestasjon.bulk import insert_rows, rows, select
from helsestasjon.models import Child, ChildStatus, Guardian, Guardianship, Station
from registry_sync.person_document import PersonRecord, guardian_key
from registry_sync.models import NationalIdAlias

__all__ = ["JournalChild", "attach_journal_details", "guardians_for", "insert_rows", "journal_for", "journal_rows",
           "national_id_taken", "rows", "select"]


# ------------------------------------------------------------- journal children


_NO_KEYS: frozenset = frozenset()


class JournalChild:
    """A journal child as the reconciliation sees it: the compared columns, its
    station and its guardians' responsibility keys. Changes are set on it and
    written with ``update_rows``; effects load the real ``Child``."""

    __slots__ = (
        "address_protection",
        "birth_date",
        "city",
        "died_recorded_at",
        "family_name",
        "given_name",
        "municipality_number",
        "national_id",
        "pk",
        "postal_code",
        "register_person_id",
        "responsible_keys",
        "station",
        "station_id",
        "status",
        "status_changed_at",
        "status_recorded_at",
        "street_address",
        "urban_district_code",
    )

    def __init__(self, row, station):
        (self.pk, self.register_person_id, self.national_id, self.given_name, self.family_name, self.birth_date,
         self.status, self.station_id, self.street_address, self.postal_code, self.city, self.municipality_number,
         self.urban_district_code, self.address_protection, self.died_recorded_at) = row
        self.station = station
        self.responsible_keys = _NO_KEYS
        # Set (and written) only when the status changes.
        self.status_changed_at = self.status_recorded_at = None

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"


def _journal_values(qs):
    """The compared columns, in JournalChild's order: the register id as text (as
    the register gives it), and only of a death the time the journal recorded it
    (what an annulled death's finding is keyed by)."""
    return qs.annotate(
        _register_id=Cast("register_person_id", TextField()),
        _died_recorded_at=Case(When(status=ChildStatus.DECEASED, then=F("status_recorded_at"))),
    ).values_list(
        "id", "_register_id", "national_id", "given_name", "family_name", "birth_date", "status", "station_id",
        "street_address", "postal_code", "city", "municipality_number", "urban_district_code", "address_protection",
        "_died_recorded_at",
    ).order_by()


def journal_rows(qs, scope) -> list[JournalChild]:
    """The journal children of a ``Child`` queryset (its filter; not its columns or
    order), with their stations from the run's scope."""
    assert qs.model is Child, qs.model
    children = []
    for row in rows(_journal_values(qs)):
        station = scope.station_by_id.get(row[7])
        if station is None:  # A station made after the run started.
            station = Station.objects.select_related("municipality").get(pk=row[7])
        children.append(JournalChild(row, station))
    return children


def attach_journal_details(children: list[JournalChild]) -> list[JournalChild]:
    """Give each child the keys of the guardians with parental responsibility
    in the journal (one flat query): ("nin", national id) or ("org", name)."""
    if not children:
        return children
    keys: dict[int, set] = {}
    links = Guardianship.objects.filter(child_id__any=[c.pk for c in children], parental_responsibility=True)
    fields = ("child_id", "guardian__national_id", "guardian__organisation", "guardian__given_name", "guardian__family_name")
    for child_id, nin, organisation, given, name in rows(links.values_list(*fields).order_by()):
        keys.setdefault(child_id, set()).add(guardian_key(national_id=nin, organisation=organisation, given_name=given,
                                                          family_name=name))
    for child in children:
        child.responsible_keys = keys.get(child.pk, _NO_KEYS)
    return children


def _children_by_national_id(by_person: dict[str, JournalChild], children: list[JournalChild], nins: dict[str, str],
                             scope) -> None:
    """Add the journal children whose current or former national id a record carries (``nins``: national id ->
    register person id), for records not found by their register id."""
    for child in journal_rows(Child.objects.filter(national_id__any=list(nins)), scope):
        if child.pk not in {c.pk for c in by_person.values()}:
            by_person.setdefault(nins[child.national_id], child)
            children.append(child)
    aliases = list(NationalIdAlias.objects.filter(national_id__in=list(nins)).values_list("national_id", "child_id"))
    if aliases:
        pks = [pk for _, pk in aliases]
        aliased = {c.pk: c for c in journal_rows(Child.objects.filter(pk__any=pks), scope)}
        for nin, child_pk in aliases:
            if nins[nin] not in by_person and child_pk in aliased:
                by_person[nins[nin]] = aliased[child_pk]
                children.append(aliased[child_pk])


def journal_for(records: list[PersonRecord], scope, known: dict[str, JournalChild] | None = None) -> dict[str, JournalChild]:
    """The journal children the records refer to, by register person id (or a current or former national id).

    ``known``: journal children already read with their guardians' keys, by
    register person id (the full reconciliation reads its whole scope at once);
    only the records they do not cover are looked up."""
    ids = [r.person_id for r in records]
    preread = []
    if known is not None:
        preread = [known[i] for i in ids if i in known]
        ids = [i for i in ids if i not in known]
    children = journal_rows(Child.objects.filter(register_person_id__any=ids), scope) if ids else []
    by_person: dict[str, JournalChild] = {child.register_person_id: child for child in [*preread, *children]}
    nins = {n: r.person_id for r in records if r.person_id not in by_person for n in (r.national_id, *r.former_national_ids)}
    if nins:
        _children_by_national_id(by_person, children, nins, scope)
    attach_journal_details(children)
    return by_person


def guardians_for(records: list[PersonRecord], *, pks: list[int] | None = None) -> dict[str, Guardian]:
    """The journal's guardians the records are, by register person id (found by register id or national id);
    ``pks``: only among these guardians."""
    ids = [r.person_id for r in records]
    nins = {r.national_id: r.person_id for r in records}
    found: dict[str, Guardian] = {}
    candidates = Guardian.objects.filter(Q(register_person_id__in=ids) | Q(national_id__in=list(nins)))
    if pks is not None:
        candidates = candidates.filter(pk__in=pks)
    for guardian in candidates:
        pid = str(guardian.register_person_id) if guardian.register_person_id else ""
        key = pid if pid in ids else nins.get(guardian.national_id)
        if key:
            found.setdefault(key, guardian)
    return found


def guardians_of_children(children) -> list[tuple[int, str, str]]:
    """The persons among the guardians of ``children`` (a Child queryset): (pk, register person id or "",
    national id or ""), in pk order, those the register can be asked about (an id or a national id)."""
    found = (Guardian.objects.filter(organisation=False, guardianships__child__in=children)
             .values_list("pk", "register_person_id", "national_id").distinct().order_by("pk"))
    return [(pk, str(pid) if pid else "", nin or "") for pk, pid, nin in found if pid or nin]


def national_id_taken(national_id: str, child_id: int) -> bool:
    """Whether another journal than ``child_id`` has this national id (the comparison's merge check)."""
    return Child.objects.filter(national_id=national_id).exclude(pk=child_id).exists()
