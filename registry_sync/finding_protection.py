"""Findings follow the person's protection: a finding keeps the register's copy of a person
(name, address, document), so when the person's protection changes, the finding's does, and a
strictly confidential person's address goes from every finding that stores it."""

from __future__ import annotations

from django.db.models import Q

from helsestasjon.models import AddressProtection, Child
from helsestasjon.protection import protection_changed
from registry_sync.models import Finding, FindingStatus


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


def findings_register_level(*, person_id: str, level: str) -> int:
    """The register's latest protection of a person, written onto its findings (see journal_writes._register_levels_onto_findings);
    when it changed, the holders of copies are told. Returns how many findings changed level."""
    changed = Finding.objects.filter(subject=person_id).filter(
        Q(status=FindingStatus.OPEN) | Q(child__isnull=True)).exclude(protection=level).update(protection=level)
    if changed or level == AddressProtection.STRICTLY_CONFIDENTIAL:
        protection_changed(register_person_ids=[person_id])
    return changed
