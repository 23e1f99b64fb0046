"""The journal's batch writes: what a comparison collected (``comparison.Batch``), written inside the
run's transaction.

Children's and guardians' columns go through the core's services
(``children_update_from_register``, ``guardians_update_from_register``, the guardian and
guardianship services); findings are inserted in one statement, only those not recorded
before; the holders of copies hear of changed protection; then the effects run.
"""

from __future__ import annotations

import json

from django.db import connection
from django.db.models import Q

from helsestasjon.models import Guardian, Guardianship, Language, Relation
from helsestasjon.protection import protection_changed
from helsestasjon.services import (
    children_update_from_register,
    guardian_create_from_register,
    guardian_get_or_create_organisation,
    guardians_update_from_register,
    guardianship_set,
    guardianship_set_responsibility,
)
from registry_sync import journal_io
from registry_sync.person_document import PersonRecord, guardian_key
from registry_sync.comparison import LANGUAGES, Batch, PendingFinding
from registry_sync.effects import effects_run
from registry_sync.models import Finding, FindingStatus, NationalIdAlias, Resolution

RELATION_FOR_ROLE = {"Mother": Relation.MOTHER, "Father": Relation.FATHER, "CoMother": Relation.CO_MOTHER}


def batch_write(batch: Batch, guardian_records: dict[str, PersonRecord]) -> int:
    """Write a batch (inside the caller's transaction). ``guardian_records``: the register persons of
    guardians the journal does not have yet, by national id. Returns how many findings were new."""
    children_update_from_register(changes=batch.changed_children.values())
    guardians_update_from_register(changes=batch.changed_guardians.values())
    if batch.aliases:
        NationalIdAlias.objects.bulk_create(batch.aliases, ignore_conflicts=True)
    for change in batch.guardian_changes:
        guardians_apply_change(*change, guardian_records)
    created = findings_insert_new(batch.findings)
    _protection_follows(batch)
    effects_run(batch.effects)
    return created


def findings_insert_new(findings: list[PendingFinding]) -> int:
    """Insert the findings not already recorded for the same register state; an unchanged run
    writes nothing at all. Returns how many were new."""
    if not findings:
        return 0
    subjects = list({f.subject for f in findings})
    existing = set(journal_io.rows(
        Finding.objects.filter(subject__any=subjects).values_list("kind", "subject", "fingerprint").order_by()))
    new = [f for f in findings if f.key not in existing]
    # A concurrent run may have inserted some: those are skipped.
    if new:
        journal_io.insert_rows(Finding, [_values_for_insert(f) for f in new])
    return len(new)


def _values_for_insert(pending: PendingFinding) -> dict:
    """The new row's column values by attribute name (what Finding(...) would
    save, without building the model instance and preparing each field)."""
    v = pending.values
    record, automatic, now = v["record"], v["automatic"], v["now"]
    adapt_json = connection.ops.adapt_json_value
    return {
        "kind": pending.kind,
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
        "subject": pending.subject,
        "fingerprint": pending.fingerprint,
        "details": adapt_json({**(v["details"] or {}), "register": record.summary() if record else {}}, None),
        # Open findings keep the register's current document (what a person
        # decides on, and what "Opprett journal" is made from); automatic
        # ones keep the values they applied, in details["register"].
        "snapshot": None if automatic or v["snapshot"] is None else adapt_json(current_versions(document(v["snapshot"])), None),
        "sequence_number": v["sequence_number"],
        "detected_at": now,
    }


def document(snapshot: dict | str) -> dict:
    """A person document, given as the decoded dict or its JSON text (FetchedPersons.records)."""
    return json.loads(snapshot) if isinstance(snapshot, str) else snapshot


def current_versions(doc: dict | None) -> dict | None:
    """The document with only its current versions (the history stays in the register)."""
    if doc is None:
        return None
    return {
        key: [v for v in value if not isinstance(v, dict) or v.get("isValid", True)] if isinstance(value, list) else value
        for key, value in doc.items()
    }


# ------------------------------------------------------------------ guardians


def relation_of(responsibility) -> str:
    return RELATION_FOR_ROLE.get(responsibility.kind, Relation.OTHER)


def guardian_without_identifier(responsibility) -> Guardian:
    """A parent the register knows by name only (responsibleWithoutIdentifier): a guardian without a
    national id, not an organisation; letters to them are handled by hand. Named exactly as the register
    names them, so that guardian_key finds them again on the next run."""
    given, family = responsibility.given_name or "", responsibility.family_name or ""
    return guardian_create_from_register(national_id=None, given_name=given, family_name=family or ("" if given else "Ukjent"))


def guardian_from_register(nin: str, record: PersonRecord | None, child_record: PersonRecord) -> Guardian:
    """A guardian the register names by national id, from its own register person when it was fetched."""
    if record is None:
        # Not fetched (the register did not know the number): keep the number so letters can be handled by hand.
        return guardian_create_from_register(national_id=nin, family_name=child_record.family_name[:150] or "Ukjent")
    return guardian_create_from_register(
        national_id=nin, given_name=record.given_name, family_name=record.family_name[:150] or "Ukjent",
        register_person_id=record.person_id, mobile=(record.phone or "")[:20],
        preferred_language=record.language if record.language in LANGUAGES else Language.NB, sms_reserved=record.reserved,
        krr_reserved=record.krr_reserved, digital_mailbox=record.digital_mailbox,
        street_address=record.street_address[:200], postal_code=record.postal_code[:4], city=record.city[:100],
        municipality_number=record.municipality_number or "", address_protection=record.protection,
    )


def guardians_apply_change(child, record: PersonRecord, wanted, roles, guardian_records: dict[str, PersonRecord]) -> None:
    """Bring a child's guardians with parental responsibility in line with the register's (``wanted``:
    their responsibility keys; ``roles``: the parents' roles by national id)."""
    by_key = {}
    for link in Guardianship.objects.filter(child_id=child.pk).select_related("guardian"):
        g = link.guardian
        key = guardian_key(national_id=g.national_id, organisation=g.organisation, given_name=g.given_name,
                           family_name=g.family_name)
        by_key[key] = link
        guardianship_set_responsibility(link=link, parental_responsibility=key in wanted)
    missing_nins = [v for k, v in wanted if k == "nin" and (k, v) not in by_key]
    existing = {g.national_id: g for g in Guardian.objects.filter(national_id__in=missing_nins)}
    for nin in missing_nins:
        guardian = existing.get(nin) or guardian_from_register(nin, guardian_records.get(nin), record)
        guardianship_set(child_id=child.pk, guardian=guardian, relation=RELATION_FOR_ROLE.get(roles.get(nin), Relation.OTHER))
    wanted_orgs = {v for k, v in wanted if k == "org"}
    for org in (r.organisation for r in record.guardians if r.organisation):
        if ("org", org.strip().lower()) in by_key or org.strip().lower() not in wanted_orgs:
            continue
        guardianship_set(child_id=child.pk, guardian=guardian_get_or_create_organisation(name=org), relation=Relation.OTHER)
    for responsibility in record.guardians:
        if responsibility.key[0] == "person" and responsibility.key not in by_key and responsibility.key in wanted:
            guardianship_set(child_id=child.pk, guardian=guardian_without_identifier(responsibility),
                             relation=relation_of(responsibility))


# ----------------------------------------------------------------- protection


def _protection_follows(batch: Batch) -> None:
    """Tell every holder of copies (letters, findings) whose protection this batch changed, in its transaction.

    Journal children and guardians whose row changed, and register persons whose findings held another
    level than the register's answer now: a person without a journal has no row of its own, so the
    latest level the register gave is written onto its findings (the one place it is kept) first."""
    child_ids = [obj.pk for obj, fields in batch.changed_children.values() if "address_protection" in fields]
    guardian_ids = [obj.pk for obj, fields in batch.changed_guardians.values() if "address_protection" in fields]
    person_ids = [str(obj.register_person_id) for changed in (batch.changed_children, batch.changed_guardians)
                  for obj, fields in changed.values() if "address_protection" in fields and obj.register_person_id]
    person_ids += _register_levels_onto_findings(batch.register_levels)
    protection_changed(child_ids=child_ids, guardian_ids=guardian_ids, register_person_ids=person_ids)


def _register_levels_onto_findings(levels: dict[str, str]) -> list[str]:
    """Write the register's latest level of each person onto the findings that hold another. Open
    findings, and the few of persons without a journal that were handled (a journal child's handled
    findings follow the child's row through the signal). Returns the persons whose findings changed."""
    if not levels:
        return []
    stale: dict[str, list[int]] = {}
    changed = []
    for pk, subject, level in Finding.objects.filter(subject__in=list(levels)).filter(
            Q(status=FindingStatus.OPEN) | Q(child__isnull=True)).values_list("pk", "subject", "protection"):
        if level != levels[subject]:
            stale.setdefault(levels[subject], []).append(pk)
            changed.append(subject)
    for level, pks in stale.items():
        Finding.objects.filter(pk__in=pks).update(protection=level)
    return changed


__all__ = ["RELATION_FOR_ROLE", "batch_write", "current_versions", "document",
           "findings_insert_new", "guardian_from_register", "guardian_without_identifier", "guardians_apply_change",
           "relation_of"]
