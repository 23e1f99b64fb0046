"""Who may receive automatic messages about a child: the one rule for SMS and letters.

A message that names a station, a place or a time (a reminder, an invitation, the
cancellation SMS, the ladder's SMS and letters) can point to where a child lives. For a
child whose address is protected (confidential or strictly confidential, asked of
``helsestasjon.protection`` from the child's protection now) such messages are denied by
default: they go only to guardians who share the child's protection (registered with the
same level, and so taken as living with the child). Every other guardian with parental
responsibility (or caretaker) gets nothing automatic; the child's page and the case show
the nurse that a manual decision is needed, and she records who is told what, with a
reason (``ManualContactDecision``). The decision never turns automatic messages back on:
if the guardian is to be told, the station tells them itself.

The same rule holds for both levels; see docs/decisions.md, "Messages about a protected child".
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from followup.sms.models import ContactDecision, ManualContactDecision
from helsestasjon.models import Child, Guardian, Guardianship, User
from helsestasjon.permissions import may_decide_manual_contact
from helsestasjon.protection import is_protected


def shares_protection(*, child_level: str | None, guardian_level: str | None) -> bool:
    """May an automatic message about a child with ``child_level`` go to a guardian with ``guardian_level``?

    Always for a child without protection; for a protected child only when the guardian is
    registered with the very same level (taken as living with the child)."""
    if not is_protected(child_level):
        return True
    return guardian_level == child_level


def split_guardianships(*, child_level: str | None, guardianships: Iterable[Guardianship]) -> tuple[list, list]:
    """(automatic, withheld): the guardianships that may get automatic messages, and those that may not."""
    automatic, withheld = [], []
    for ship in guardianships:
        if shares_protection(child_level=child_level, guardian_level=ship.guardian.address_protection):
            automatic.append(ship)
        else:
            withheld.append(ship)
    return automatic, withheld


def _child_level(child_id: int) -> str | None:
    return Child.objects.filter(pk=child_id).values_list("address_protection", flat=True).first()


def _sms_guardianships(child_id: int):
    return (
        Guardianship.objects.with_responsibility()
        .filter(child_id=child_id, guardian__sms_reserved=False)
        .exclude(guardian__mobile="")
        .select_related("guardian")
        .order_by("id")
    )


def sms_recipients(*, child_id: int) -> list[Guardian]:
    """Who gets an automatic SMS about this child (reminders, cancellations, the ladder's SMS).

    Guardians with parental responsibility, a mobile number and no reservation against digital
    contact, who may receive messages about this child under the rule above."""
    automatic, _ = split_guardianships(child_level=_child_level(child_id), guardianships=_sms_guardianships(child_id))
    return [ship.guardian for ship in automatic]


def sms_withheld(*, child_id: int) -> list[Guardian]:
    """Guardians who would get the SMS but for the child's protection (a manual decision is needed)."""
    _, withheld = split_guardianships(child_level=_child_level(child_id), guardianships=_sms_guardianships(child_id))
    return [ship.guardian for ship in withheld]


def withheld_guardianships(*, child: Child) -> list[Guardianship]:
    """Guardianships with parental responsibility (or daily care) that get no automatic messages about this child."""
    if not is_protected(child.address_protection):
        return []
    ships = (
        Guardianship.objects.filter(child_id=child.pk)
        .filter(Q(parental_responsibility=True) | Q(is_caretaker=True))
        .select_related("guardian")
        .order_by("id")
    )
    _, withheld = split_guardianships(child_level=child.address_protection, guardianships=ships)
    return withheld


def manual_contact_decisions(*, child: Child) -> list[dict]:
    """For each guardian who gets nothing automatic: the decision that holds now (or None, a decision is needed).

    A decision holds while the child has the protection it was made under; a change of level asks again."""
    withheld = withheld_guardianships(child=child)
    if not withheld:
        return []
    latest: dict[int, ManualContactDecision] = {}
    for decision in (
        ManualContactDecision.objects.filter(
            child_id=child.pk, guardian_id__in=[s.guardian_id for s in withheld], child_protection=child.address_protection
        )
        .select_related("decided_by")
        .order_by("decided_at", "id")
    ):
        latest[decision.guardian_id] = decision
    return [{"guardianship": ship, "guardian": ship.guardian, "decision": latest.get(ship.guardian_id)} for ship in withheld]


@transaction.atomic
def manual_contact_decide(
    *, child: Child, guardian_id: int, decision: str, reason: str, user: User, now: datetime | None = None
) -> ManualContactDecision:
    """Record who is told what for one guardian who gets no automatic messages, with the reason."""
    if not may_decide_manual_contact(user):
        raise ValidationError(gettext("Bare helsesykepleier eller leder kan gjøre denne avgjørelsen."))
    if decision not in ContactDecision.values:
        raise ValidationError(gettext("Velg hva den foresatte skal få vite."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(gettext("Skriv begrunnelsen for avgjørelsen."))
    # Lock the child so its protection cannot change under the decision.
    child = Child.objects.select_for_update().get(pk=child.pk)
    if guardian_id not in {ship.guardian_id for ship in withheld_guardianships(child=child)}:
        raise ValidationError(gettext("Denne foresatte får meldinger som vanlig; ingen avgjørelse trengs."))
    return ManualContactDecision.objects.create(
        child=child, guardian_id=guardian_id, child_protection=child.address_protection, decision=decision,
        reason=reason[:2000], decided_by=user, decided_at=now or timezone.now(),
    )
