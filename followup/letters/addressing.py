"""Who receives a child's letters, and at which address.

- A placed child's letters go to the caretaker(s) the record names (foster home,
  emergency foster home, institution), not to the parents.
- Otherwise every guardian with parental responsibility receives the letter,
  never a guardian without it.
- Guardians living at the same address share one letter addressed to them all;
  guardians at different addresses get one letter each.
- A guardian with a Confidential or StrictlyConfidential address (or no known
  address) gets a letter that goes to the manual handling list, never into the
  print batch, and the address is not stored on the letter.
- The same rule is asked again whenever a letter is used (a batch claims it, a
  print file or the letter's PDF is served): ``letters_current_protection`` gives
  the protection *now* of everyone a letter's address belongs to (each guardian it
  is addressed to and the child), so a copy never outlives the right to print it.
- For a child whose own address is protected, a letter (it names a time and a place)
  goes only to the guardians who share the child's protection; the others get no
  letter and the child's page asks the nurse for a manual decision. The rule is the
  one in followup/recipients.py, used alike by SMS.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from followup.recipients import split_guardianships
from helsestasjon.models import AddressProtection, Child, Guardian, Guardianship


@dataclass
class Recipient:
    guardian: Guardian  # the first guardian at this address: the letter's recipient row
    names: list[str] = field(default_factory=list)
    guardian_ids: list[int] = field(default_factory=list)  # every guardian the letter is addressed to
    address_lines: list[str] = field(default_factory=list)
    manual_handling: bool = False
    languages: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return " og ".join(self.names)[:250]

    @property
    def preferred_language(self) -> str:
        # Guardians sharing an address may prefer different languages; the first
        # one that is not Norwegian decides the translation.
        for language in self.languages:
            if language not in ("nb", "nn"):
                return language
        return self.languages[0] if self.languages else "nb"


def _address_key(lines: list[str]) -> tuple[str, ...]:
    return tuple(" ".join(line.lower().split()) for line in lines)


def letter_recipients(*, guardianships: list[Guardianship]) -> list[Recipient]:
    """The letters one child's letter becomes: one per distinct address (see module docstring)."""
    ordered = sorted(guardianships, key=lambda g: g.id or 0)
    caretakers = [g for g in ordered if g.is_caretaker]
    chosen = caretakers or [g for g in ordered if g.parental_responsibility]
    if chosen:
        # All rows are one child's; its protection is read from the row now, never from a copy.
        # Withheld guardians are not replaced by others (a placed child's parents do not get
        # the letter because the foster home may not).
        chosen, _withheld = split_guardianships(child_level=chosen[0].child.address_protection, guardianships=chosen)
    recipients: list[Recipient] = []
    by_address: dict[tuple[str, ...], Recipient] = {}
    for ship in chosen:
        guardian = ship.guardian
        lines = guardian.address_lines()
        if guardian.address_is_protected or not lines:
            recipients.append(
                Recipient(
                    guardian=guardian, names=[guardian.full_name], guardian_ids=[guardian.id], manual_handling=True,
                    languages=[guardian.preferred_language],
                )
            )
            continue
        key = _address_key(lines)
        if key in by_address:
            shared = by_address[key]
            shared.names.append(guardian.full_name)
            shared.guardian_ids.append(guardian.id)
            shared.languages.append(guardian.preferred_language)
            continue
        recipient = Recipient(
            guardian=guardian, names=[guardian.full_name], guardian_ids=[guardian.id], address_lines=lines,
            languages=[guardian.preferred_language],
        )
        by_address[key] = recipient
        recipients.append(recipient)
    return recipients


def recipients_for_child(child_id: int) -> list[Recipient]:
    ships = list(Guardianship.objects.filter(child_id=child_id).select_related("guardian", "child"))
    return letter_recipients(guardianships=ships)


# The strictest level wins when several persons share a letter's address.
_STRICTNESS = {AddressProtection.STRICTLY_CONFIDENTIAL: 2, AddressProtection.CONFIDENTIAL: 1}


def strictest(levels) -> str:
    return max(levels, key=lambda level: _STRICTNESS.get(level, 0), default=AddressProtection.UNCLASSIFIED)


def letter_guardian_ids(letter) -> set[int]:
    """Every guardian a letter is addressed to (rows made before addressee_ids was kept: the recipient)."""
    return {letter.recipient_id, *(letter.addressee_ids or [])}


def letters_current_protection(letters) -> dict[int, str]:
    """The protection *now* of each letter's address: the strictest of its addressees' and the child's.

    Read from the rows in one query each, never from anything stored on the letter."""
    letters = list(letters)
    guardian_ids = set().union(*(letter_guardian_ids(letter) for letter in letters)) if letters else set()
    guardians = dict(Guardian.objects.filter(id__in=guardian_ids).values_list("id", "address_protection"))
    children = dict(Child.objects.filter(id__in={letter.child_id for letter in letters}).values_list("id", "address_protection"))
    return {
        letter.pk: strictest([children.get(letter.child_id), *(guardians.get(gid) for gid in letter_guardian_ids(letter))])
        for letter in letters
    }
