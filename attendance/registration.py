"""Registering a child from the population register: look the national id up, confirm, create.

The register is asked twice: once to show the child and the guardians with parental
responsibility for confirmation, and again when the clerk confirms, so what is stored is the
register's answer at that moment and never fields the browser sent back. A child the register
does not know is registered by hand and marked unverified; a register that does not answer
stops the registration (typing by hand is for unknown persons only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext

from attendance.children import NationalIdInUse, child_register
from attendance.errors import AttendanceError
from helsestasjon.models import (
    AddressProtection,
    Child,
    Guardian,
    Language,
    Relation,
    Sex,
    Station,
    User,
)
from helsestasjon.protection import address_visible, storable_address
from registry_sync.client import RegisterClient
from registry_sync.person_document import PersonRecord, parse_person
from registry_sync.register_errors import RegisterError, RegisterProtocolError

RELATION_FOR_ROLE = {"Mother": Relation.MOTHER, "Father": Relation.FATHER, "CoMother": Relation.CO_MOTHER}
LANGUAGES = {choice.value for choice in Language}


class RegisterLookupError(AttendanceError):
    """The register could not be asked or its answer read; nothing is registered."""


@dataclass(frozen=True)
class RegisterGuardian:
    national_id: str | None
    record: PersonRecord | None
    relation: str
    name: str

    def address_visible_to(self, user) -> bool:
        return self.record is not None and address_visible(self.record.protection, user)

    @property
    def relation_label(self) -> str:
        return Relation(self.relation).label

    @property
    def language_label(self) -> str:
        code = self.record.language if self.record and self.record.language in LANGUAGES else Language.NB
        return Language(code).label


@dataclass(frozen=True)
class RegisterChild:
    record: PersonRecord
    guardians: list[RegisterGuardian] = field(default_factory=list)

    @property
    def protection(self) -> str:
        return self.record.protection if self.record.protection in AddressProtection.values else AddressProtection.UNCLASSIFIED

    def address_visible_to(self, user) -> bool:
        return address_visible(self.protection, user)

    @property
    def sex_label(self) -> str:
        return Sex(self.record.sex).label if self.record.sex in Sex.values else Sex.UNKNOWN.label


def _client(client: RegisterClient | None) -> RegisterClient:
    # A clerk is waiting at the form: two attempts (half a second apart), not the sync's four.
    return client or RegisterClient.from_settings(max_attempts=2)


def register_child_lookup(*, national_id: str, client: RegisterClient | None = None) -> RegisterChild | None:
    """The child and the guardians with parental responsibility as the register gives them now; None if unknown."""
    client = _client(client)
    try:
        document = client.person_by_nin(national_id)
        if document is None:
            return None
        record = parse_person(document)
        responsible = [r for r in record.guardians if r.national_id]
        fetched = {}
        if responsible:
            for doc in client.persons_by_nin([r.national_id for r in responsible]):
                guardian = parse_person(doc)
                fetched[guardian.national_id] = guardian
    except RegisterProtocolError:
        raise RegisterLookupError(gettext("Svaret fra folkeregisteret kan ikke leses. Barnet er ikke registrert; prøv igjen senere.")) from None
    except RegisterError:
        raise RegisterLookupError(gettext("Folkeregisteret svarer ikke akkurat nå. Barnet er ikke registrert; prøv igjen om litt.")) from None
    if record.national_id != national_id and national_id not in record.former_national_ids:
        raise RegisterLookupError(gettext("Folkeregisteret svarte med en annen person. Barnet er ikke registrert."))
    roles = dict(record.parents)
    guardians = []
    for responsibility in record.guardians:
        if responsibility.organisation:
            continue  # A child welfare service: the register sync links it; it has no mobile or language to confirm.
        person = fetched.get(responsibility.national_id) if responsibility.national_id else None
        relation = RELATION_FOR_ROLE.get(roles.get(responsibility.national_id) or responsibility.kind, Relation.OTHER)
        name = f"{person.given_name} {person.family_name}".strip() if person else (responsibility.name or gettext("Ukjent"))
        guardians.append(RegisterGuardian(national_id=responsibility.national_id, record=person, relation=relation, name=name))
    return RegisterChild(record=record, guardians=guardians)


def _guardian_row(guardian: RegisterGuardian) -> Guardian:
    record = guardian.record
    if guardian.national_id:
        existing = Guardian.objects.filter(national_id=guardian.national_id).first()
        if existing is not None:
            return existing  # The register confirms who this is; the sync keeps the row current.
    if record is None:
        given, _, family = guardian.name.rpartition(" ")
        return Guardian.objects.create(national_id=guardian.national_id, given_name=given[:100], family_name=(family or "Ukjent")[:150])
    level = record.protection if record.protection in AddressProtection.values else AddressProtection.UNCLASSIFIED
    address = storable_address(level, {"street_address": record.street_address[:200], "postal_code": record.postal_code[:4],
                                        "city": record.city[:100]})
    return Guardian.objects.create(
        national_id=record.national_id, given_name=record.given_name[:100], family_name=record.family_name[:150] or "Ukjent",
        register_person_id=record.person_id, mobile=(record.phone or "")[:20],
        preferred_language=record.language if record.language in LANGUAGES else Language.NB, sms_reserved=record.reserved,
        municipality_number=record.municipality_number or "", address_protection=level, **address,
    )


def child_register_from_register(*, national_id: str, station: Station, registered_by: User,
                                 client: RegisterClient | None = None, today: date | None = None) -> Child:
    """Create the child as the register gives it out now, with its guardians, and plan the programme."""
    existing = Child.objects.filter(national_id=national_id).only("id", "station_id").first()
    if existing is not None:
        raise NationalIdInUse(existing)
    found = register_child_lookup(national_id=national_id, client=client)
    if found is None:
        raise RegisterLookupError(gettext("Folkeregisteret kjenner ikke fødselsnummeret. Registrer barnet for hånd."))
    record = found.record
    if record.is_deceased or record.status not in ("Resident", ""):
        raise RegisterLookupError(gettext("Barnet er ikke bosatt ifølge folkeregisteret og kan ikke registreres."))
    address = storable_address(found.protection, {"street_address": record.street_address[:200],
                                                  "postal_code": record.postal_code[:4], "city": record.city[:100]})
    with transaction.atomic():
        guardians = [{"guardian": _guardian_row(g), "relation": g.relation, "parental_responsibility": True} for g in found.guardians]
        try:
            return child_register(
                national_id=record.national_id, given_name=record.given_name or "Ukjent", family_name=record.family_name or "Ukjent",
                birth_date=record.birth_date, sex=record.sex if record.sex in Sex.values else Sex.UNKNOWN, station=station,
                guardians=guardians, registered_by=registered_by, today=today, register_person_id=record.person_id,
                municipality_number=record.municipality_number or station.municipality.number,
                urban_district_code=record.urban_district_code[:6], address_protection=found.protection, **address,
            )
        except NationalIdInUse:
            raise
        except ValidationError as exc:
            raise RegisterLookupError(" ".join(exc.messages)) from None
