"""Services of the shared domain: the access log, staff provisioning, and the rows the register mirrors."""

from __future__ import annotations

from django.db import connections, router
from django.utils import timezone

from helsestasjon import bulk
from helsestasjon.models import AccessLog, AddressProtection, Child, ChildStatus, Guardian, Guardianship, User
from helsestasjon.protection import storable_address


def access_log_record(*, user: User, child: Child, action: str, what: str, path: str = "") -> AccessLog:
    return AccessLog.objects.create(
        at=timezone.now(),
        user=user,
        username=user.get_username(),
        role=user.role,
        child=child,
        station_id=child.station_id,
        action=action,
        what=what[:200],
        path=path[:500],
    )


def access_log_record_many(*, user: User, children, action: str, what: str, path: str = "") -> int:
    """One row per child shown in a list or export, written in one statement."""
    now = timezone.now()
    rows = [
        AccessLog(
            at=now,
            user=user,
            username=user.get_username(),
            role=user.role,
            child_id=child.pk,
            station_id=child.station_id,
            action=action,
            what=what[:200],
            path=path[:500],
        )
        for child in children
    ]
    if not rows:
        return 0
    # bulk_create wraps its INSERT in a transaction: outside one that is three
    # round trips (BEGIN, INSERT, COMMIT) on a list page a nurse opens all day.
    # A single multi-row INSERT is atomic by itself, so when it fits in one
    # statement it is sent alone.
    connection = connections[router.db_for_write(AccessLog)]
    fields = [f for f in AccessLog._meta.concrete_fields if not f.primary_key]
    if connection.get_autocommit() and connection.ops.bulk_batch_size(fields, rows) >= len(rows):
        AccessLog._base_manager._insert(rows, fields=fields, using=connection.alias)
    else:
        AccessLog.objects.bulk_create(rows)
    return len(rows)


# ---------------------------------------------------------------- staff provisioning
STAFF_COLUMNS = ("username", "first_name", "last_name", "national_id", "role", "stations", "hpr_number", "email")


class StaffImportError(Exception):
    """A row that cannot be imported; nothing of the file is saved."""


def staff_import(*, rows, dry_run: bool = False) -> dict[str, int]:
    """Create or update staff from CSV rows (``STAFF_COLUMNS``; stations separated by ";", by name).

    HelseID never creates users: this and the admin are how staff are provisioned. Users are
    matched by username; the national id is stored as a keyed digest only. Staff who log in
    through HelseID get no usable password. The whole file is one transaction.
    """
    from django.core.exceptions import ValidationError
    from django.db import transaction

    from helsestasjon.helseid.services import pid_digest
    from helsestasjon.models import Role, Station
    from helsestasjon.national_id import validator_from_settings

    counts = {"created": 0, "updated": 0}
    stations = {station.name.casefold(): station for station in Station.objects.all()}
    with transaction.atomic():
        for number, row in enumerate(rows, start=2):  # line 1 is the header
            row = {key.strip().lower(): (value or "").strip() for key, value in row.items() if key}
            where = f"linje {number}"
            if not row.get("username"):
                raise StaffImportError(f"{where}: brukernavn mangler")
            role = row.get("role", "").lower()
            if role not in Role.values:
                raise StaffImportError(f"{where}: ukjent rolle {role!r} (bruk {', '.join(Role.values)})")
            names = [name.strip() for name in row.get("stations", "").split(";") if name.strip()]
            missing = [name for name in names if name.casefold() not in stations]
            if missing:
                raise StaffImportError(f"{where}: ukjent helsestasjon {', '.join(missing)}")
            national_id = row.get("national_id", "")
            if national_id:
                try:
                    validator_from_settings(national_id)
                except ValidationError:
                    raise StaffImportError(f"{where}: ugyldig fødselsnummer") from None
            hpr = row.get("hpr_number", "")
            if hpr and not (hpr.isdigit() and len(hpr) <= 9):
                raise StaffImportError(f"{where}: ugyldig HPR-nummer")
            user, created = User.objects.get_or_create(username=row["username"], defaults={"role": role})
            if created:
                user.set_unusable_password()
            user.first_name = row.get("first_name", user.first_name)
            user.last_name = row.get("last_name", user.last_name)
            user.email = row.get("email", user.email)
            user.role = role
            user.hpr_number = hpr or user.hpr_number
            if national_id:
                digest = pid_digest(national_id)
                if User.objects.filter(national_id_digest=digest).exclude(pk=user.pk).exists():
                    raise StaffImportError(f"{where}: fødselsnummeret tilhører en annen ansatt")
                user.national_id_digest = digest
            user.save()
            user.stations.set([stations[name.casefold()] for name in names])
            counts["created" if created else "updated"] += 1
        if dry_run:
            transaction.set_rollback(True)
    return counts


# ---------------------------------------------------------------- rows the register mirrors
# The register sync changes children and guardians only through these (docs/architecture.md).

# A child's columns that mirror the register; the batch writes change no other.
CHILD_REGISTER_FIELDS = frozenset({
    "register_person_id", "national_id", "given_name", "family_name", "street_address", "postal_code", "city",
    "municipality_number", "urban_district_code", "address_protection", "status", "status_changed_at",
    "status_recorded_at",
})
GUARDIAN_REGISTER_FIELDS = frozenset({
    "register_person_id", "national_id", "given_name", "family_name", "street_address", "postal_code", "city",
    "municipality_number", "address_protection", "mobile", "preferred_language", "sms_reserved",
    "krr_reserved", "digital_mailbox",
})


def _update_from_register(model, changes, allowed: frozenset) -> int:
    groups: dict[frozenset, list] = {}
    for obj, fields in changes:
        if not allowed.issuperset(fields):
            raise ValueError(f"Not a register field of {model.__name__}: {sorted(set(fields) - allowed)}")
        groups.setdefault(frozenset(fields), []).append(obj)
    # One UPDATE per set of changed fields (a first run links thousands of journals at once).
    for fields, objs in groups.items():
        bulk.update_rows(model, objs, fields)
    return sum(len(objs) for objs in groups.values())


def children_update_from_register(*, changes) -> int:
    """Write the register's values onto journal children, in bulk: ``changes`` are (row, field names),
    a row being any object with the child's ``pk`` and the new values as attributes. Returns how many rows."""
    return _update_from_register(Child, changes, CHILD_REGISTER_FIELDS)


def guardians_update_from_register(*, changes) -> int:
    """As ``children_update_from_register``, for guardians."""
    return _update_from_register(Guardian, changes, GUARDIAN_REGISTER_FIELDS)


def child_update_from_register(*, child: Child, **values) -> Child:
    """One child's register-mirrored fields (and ``station``, where a finding moves or reopens it)."""
    if not (CHILD_REGISTER_FIELDS | {"station"}).issuperset(values):
        raise ValueError(f"Not a register field of Child: {sorted(set(values) - CHILD_REGISTER_FIELDS)}")
    Child.objects.filter(pk=child.pk).update(**values)
    child.refresh_from_db()
    return child


def child_reopen(*, child: Child, station) -> Child:
    """A closed journal in the programme again (the register says the child lives here again)."""
    now = timezone.now()
    return child_update_from_register(child=child, status=ChildStatus.ACTIVE, status_changed_at=now,
                                      status_recorded_at=now, station=station)


def guardian_get_or_create_organisation(*, name: str):
    """The guardian row of an organisation with parental responsibility (child welfare), by name."""
    name = name.strip()
    return (Guardian.objects.filter(organisation=True, family_name__iexact=name).first()
            or Guardian.objects.create(organisation=True, family_name=name[:150]))


def guardian_create_from_register(*, national_id: str | None, family_name: str, given_name: str = "", **values):
    """A guardian the register names (as it names them: no name is made up here); a strictly
    confidential address is never stored."""
    if values.get("address_protection") not in AddressProtection.values:
        values["address_protection"] = AddressProtection.UNCLASSIFIED
    values = storable_address(values["address_protection"], values)
    return Guardian.objects.create(national_id=national_id, given_name=given_name[:100],
                                   family_name=family_name[:150], **values)


def guardianship_set(*, child_id: int, guardian, relation: str, parental_responsibility: bool = True):
    """Link a guardian to a child (or change the link's relation and responsibility)."""
    link, _ = Guardianship.objects.update_or_create(
        child_id=child_id, guardian=guardian,
        defaults={"relation": relation, "parental_responsibility": parental_responsibility})
    return link


def guardianship_set_responsibility(*, link, parental_responsibility: bool) -> bool:
    """Give or take a guardian's parental responsibility for a child. Returns whether it changed."""
    if link.parental_responsibility == parental_responsibility:
        return False
    link.parental_responsibility = parental_responsibility
    link.save(update_fields=["parental_responsibility"])
    return True
