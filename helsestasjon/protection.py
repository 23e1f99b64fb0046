"""Protected addresses: the one rule, and what happens to copies when protection changes.

The rule (docs/decisions.md, "Protected addresses"):
- a strictly confidential address (kode 6) is shown to nobody, printed on nothing and stored nowhere
  but in the register;
- a confidential address (kode 7) is shown only to users with ``may_see_protected_addresses``;
- every other address is shown to anyone who may see the person.

It is always asked of the person's protection *now* (the child's or guardian's current row, or for a
register person without a journal the register's latest answer), never of a level stored beside a copy
(a letter's address, a finding's details, a print file).

When a person's protection changes, whoever changed it (the register sync, the admin, a form) calls
``protection_changed`` inside the same transaction. It sends ``address_protection_changed``; each part
that holds copies (letters, register findings) listens and re-addresses or withdraws its copies, so no
copy outlives the right to see it.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

from helsestasjon.models import PROTECTED_LEVELS, AddressProtection

ADDRESS_FIELDS = ("street_address", "postal_code", "city")

# Sent with guardian_ids and child_ids (lists of primary keys) and register_person_ids (the register's
# opaque ids, also for persons without a journal). Receivers run inside the caller's transaction.
address_protection_changed = Signal()


def is_protected(level: str | None) -> bool:
    return level in PROTECTED_LEVELS


def address_visible(level: str | None, user) -> bool:
    """May this user see an address whose owner's protection is ``level`` now?"""
    if level == AddressProtection.STRICTLY_CONFIDENTIAL:
        return False
    if level == AddressProtection.CONFIDENTIAL:
        return bool(getattr(user, "is_authenticated", False) and getattr(user, "may_see_protected_addresses", False))
    return True


def address_printable(level: str | None) -> bool:
    """May an address with this protection go on paper that leaves the station (print batch, envelope)?

    Neither level is ever printed automatically: a protected family's letter goes to manual handling.
    """
    return not is_protected(level)


def storable_address(level: str | None, values: dict) -> dict:
    """The address fields to store for a person with this protection: blanked when strictly confidential."""
    if level == AddressProtection.STRICTLY_CONFIDENTIAL:
        return {**values, **{name: "" for name in ADDRESS_FIELDS if name in values}}
    return values


def protection_changed(*, guardian_ids=(), child_ids=(), register_person_ids=()) -> None:
    """Tell every holder of copies that these persons' protection changed (call inside the change's transaction)."""
    guardian_ids, child_ids = sorted(set(guardian_ids)), sorted(set(child_ids))
    register_person_ids = sorted({str(pid) for pid in register_person_ids if pid})
    if not (guardian_ids or child_ids or register_person_ids):
        return
    with transaction.atomic():
        address_protection_changed.send(
            sender=None, guardian_ids=guardian_ids, child_ids=child_ids, register_person_ids=register_person_ids
        )


def _person_set_protection(person, level: str, **ids) -> bool:
    """Change a child's or guardian's protection by hand: blank a strictly confidential address, tell the copies."""
    if person.address_protection == level:
        return False
    with transaction.atomic():
        values = {"address_protection": level, **person.stored_address(level)}
        type(person).objects.filter(pk=person.pk).update(**values)
        for name, value in values.items():
            setattr(person, name, value)
        protection_changed(register_person_ids=[person.register_person_id], **ids)
    return True


def guardian_set_protection(*, guardian, level: str) -> bool:
    """Change a guardian's protection by hand (admin, form): blank a strictly confidential address, tell the copies."""
    return _person_set_protection(guardian, level, guardian_ids=[guardian.pk])


def child_set_protection(*, child, level: str) -> bool:
    """Change a child's protection by hand: blank a strictly confidential address, tell the copies."""
    return _person_set_protection(child, level, child_ids=[child.pk])
