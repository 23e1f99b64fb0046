"""A child comes into the journal: the national id checked, the guardians linked, the programme planned."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from attendance.plan import child_plan
from helsestasjon.models import Child, Guardian, Guardianship, Relation, Station, User

NATIONAL_ID_IN_USE = gettext_lazy("Fødselsnummeret kan ikke registreres her. Kontakt leder hvis barnet skal flyttes hit.")


class NationalIdInUse(ValidationError):
    """A child with this national id exists; ``child`` is it, so the attempt can be written to its access log."""

    def __init__(self, child: Child):
        super().__init__({"national_id": [NATIONAL_ID_IN_USE]})
        self.child = child


def _guardian_known_to(guardian: Guardian, user: User | None) -> bool:
    """May a guardian typed by national id be linked as the existing row for this user?

    Only when the guardian is already linked to a child at one of the user's stations (the user sees
    that guardian's details already). Internal callers without a user (seeding, tests) pass None and
    reuse, as the register path passes ``guardian=`` rows it has confirmed itself.
    """
    if user is None:
        return True
    return Guardianship.objects.filter(guardian=guardian, child__station_id__in=user.station_ids()).exists()


def _guardian_from(data: Mapping, *, user: User | None = None) -> tuple[Guardian, dict]:
    data = dict(data)
    link = {
        "relation": data.pop("relation", Relation.OTHER),
        "parental_responsibility": data.pop("parental_responsibility", True),
        "is_caretaker": data.pop("is_caretaker", False),
    }
    guardian = data.pop("guardian", None)
    if guardian is not None:
        return guardian, link
    national_id = data.get("national_id") or None
    if national_id:
        found = Guardian.objects.filter(national_id=national_id).first()
        if found is not None:
            if _guardian_known_to(found, user):
                return found, link
            # Someone another station knows: linking the real row would show this user its name,
            # mobile, language and address (or its protection), and send letters and SMS about a
            # child the user typed to that person. Keep what was typed, unverified (no national id,
            # which is unique and belongs to the real row); the register sync confirms the child's
            # guardians when it reconciles the child (docs/decisions.md).
            national_id = None
    guardian = Guardian(**{**data, "national_id": national_id})
    try:
        guardian.full_clean()
    except ValidationError as exc:
        raise ValidationError({f"guardian_{field}": errors for field, errors in exc.message_dict.items()}) from None
    guardian.save()
    return guardian, link


@transaction.atomic
def child_register(
    *,
    national_id: str,
    given_name: str,
    family_name: str,
    birth_date: date,
    sex: str,
    station: Station,
    guardians: Iterable[Mapping] = (),
    registered_by: User | None = None,
    today: date | None = None,
    **details,
) -> Child:
    """Create a child (birth notice, move-in, demo or register) and plan the programme.

    ``guardians`` are mappings of Guardian fields plus ``relation``,
    ``parental_responsibility`` and ``is_caretaker``; an existing guardian can be
    passed as ``guardian=<Guardian>``. One typed with a known national id is reused
    only when ``registered_by`` already sees that guardian at one of their stations;
    otherwise the typed details are kept as an unverified guardian.
    A national id already in use raises NationalIdInUse (the neutral message).
    ``details`` are further Child fields (address, register_person_id, ...).
    Raises ValidationError with Norwegian messages on bad input.
    """
    today = today or timezone.localdate()
    if birth_date > today:
        raise ValidationError({"birth_date": gettext("Fødselsdatoen kan ikke være i fremtiden.")})
    existing = Child.objects.filter(national_id=national_id).only("id", "station_id").first()
    if existing is not None:
        raise NationalIdInUse(existing)
    child = Child(
        national_id=national_id,
        given_name=given_name.strip(),
        family_name=family_name.strip(),
        birth_date=birth_date,
        sex=sex,
        station=station,
        **details,
    )
    child.full_clean()
    try:
        with transaction.atomic():
            child.save()
    except IntegrityError:
        # Registered by someone else a moment ago (or a register id already in use).
        existing = Child.objects.filter(national_id=national_id).only("id", "station_id").first()
        raise (NationalIdInUse(existing) if existing else ValidationError({"national_id": NATIONAL_ID_IN_USE})) from None
    for data in guardians:
        guardian, link = _guardian_from(data, user=registered_by)
        Guardianship.objects.get_or_create(child=child, guardian=guardian, defaults=link)
    child_plan(child=child, today=today)
    return child
