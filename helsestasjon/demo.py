"""Deterministic demo data: a municipality, two stations, staff, children, guardians.

Used by ``manage.py seed_demo`` and the benchmarks. The same seed gives the same
people (relative to the day it runs). Rows are bulk-inserted so that 40,000
children take well under a minute.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from helsestasjon.models import (
    AddressProtection,
    Child,
    Guardian,
    Guardianship,
    Language,
    Municipality,
    Relation,
    Role,
    Sex,
    Station,
    User,
)
from helsestasjon.national_id import make_synthetic

DEMO_PASSWORD = "helsestasjon-demo"

GIRLS = ["Nora", "Emma", "Olivia", "Ella", "Sofie", "Leah", "Frida", "Ingrid", "Maja", "Astrid", "Selma", "Iben", "Tiril", "Hedda", "Alma"]
BOYS = ["Jakob", "Noah", "Emil", "Lucas", "Oliver", "Isak", "William", "Filip", "Aksel", "Theodor", "Johannes", "Magnus", "Henrik", "Ludvig", "Tobias"]
FAMILY = ["Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen", "Jensen", "Karlsen", "Johnsen", "Pettersen", "Eriksen", "Berg", "Haugen", "Hagen", "Johannessen", "Andreassen", "Jacobsen", "Dahl"]
ADULT_F = ["Kari", "Ingrid", "Silje", "Marte", "Ida", "Hanne", "Camilla", "Line", "Tonje", "Stine"]
ADULT_M = ["Ola", "Per", "Lars", "Anders", "Thomas", "Martin", "Kristian", "Espen", "Jon", "Morten"]
# Families whose preferred language is not Norwegian: (language, given names F, given names M, family names).
FOREIGN = [
    (Language.PL, ["Anna", "Katarzyna", "Zofia"], ["Piotr", "Tomasz", "Jan"], ["Kowalski", "Nowak", "Wiśniewski"]),
    (Language.UK, ["Olena", "Iryna", "Oksana"], ["Andrii", "Taras", "Oleh"], ["Shevchenko", "Kovalenko", "Bondarenko"]),
    (Language.AR, ["Fatima", "Aisha", "Mariam"], ["Ahmad", "Omar", "Yusuf"], ["Haddad", "Khalil", "Nasser"]),
    (Language.SO, ["Hodan", "Amina", "Sahra"], ["Abdi", "Mohamed", "Hassan"], ["Warsame", "Farah", "Ali"]),
    (Language.EN, ["Sarah", "Emily", "Laura"], ["James", "David", "Michael"], ["Smith", "Brown", "Taylor"]),
]
STREETS = ["Kirkeveien", "Storgata", "Skolegata", "Bjørkeveien", "Granstien", "Fjordgata", "Løkkeveien", "Sjøgata", "Parkveien", "Bakkegata"]


@dataclass
class DemoResult:
    stations: list[Station] = field(default_factory=list)
    users: list[tuple[str, str, str, str]] = field(default_factory=list)  # username, password, role, station
    children: int = 0
    guardians: int = 0


class _Ids:
    """Distinct synthetic national ids (Tenor style) for given birth dates."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[str] = set()

    def for_birth(self, born: date) -> str:
        for _ in range(2000):
            number = make_synthetic(born.day, born.month, born.year % 100, self.rng.randrange(0, 1000))
            if number and number not in self.used:
                self.used.add(number)
                return number
        raise RuntimeError(f"No free synthetic id left for {born}")


def seed_demo(*, children: int = 300, seed: int = 1, today: date | None = None) -> DemoResult:
    rng = random.Random(seed)
    today = today or timezone.localdate()
    result = DemoResult()
    ids = _Ids(rng)
    with transaction.atomic():
        municipality, _ = Municipality.objects.get_or_create(number="4601", defaults={"name": "Bergen"})
        specs = [
            ("Årstad helsestasjon", ["460103"], "Inndalsveien 8", "5063"),
            ("Fana helsestasjon", ["460107"], "Østre Nesttunvegen 18", "5221"),
        ]
        for name, districts, street, postal in specs:
            station, _ = Station.objects.get_or_create(
                municipality=municipality,
                name=name,
                defaults=dict(
                    urban_district_codes=districts, street_address=street, postal_code=postal, city="Bergen",
                    phone="55 56 00 00", email="helsestasjon@bergen.example",
                ),
            )
            result.stations.append(station)

        password_hash = make_password(DEMO_PASSWORD)
        roles = [(Role.NURSE, "sykepleier", ["Nora", "Siri"]), (Role.CLERK, "merkantil", ["Mona"]), (Role.LEADER, "leder", ["Liv"])]
        for index, station in enumerate(result.stations):
            letter = "ab"[index]
            for role, prefix, names in roles:
                for n, first in enumerate(names, start=1):
                    username = f"{prefix}_{letter}" if n == 1 else f"{prefix}{n}_{letter}"
                    user, created = User.objects.get_or_create(
                        username=username,
                        defaults=dict(
                            first_name=first, last_name=FAMILY[(index * 7 + n) % len(FAMILY)], role=role,
                            password=password_hash, may_see_protected_addresses=(role == Role.LEADER),
                        ),
                    )
                    user.stations.add(station)
                    result.users.append((username, DEMO_PASSWORD, role.label, station.name))
        admin, _ = User.objects.get_or_create(
            username="admin", defaults=dict(first_name="Ada", last_name="Admin", role=Role.ADMIN, password=password_hash,
                                            is_staff=True, is_superuser=True)
        )
        result.users.append(("admin", DEMO_PASSWORD, Role.ADMIN.label, "alle"))

        new_children = _seed_children(rng, ids, result, children, today)
        # Later parts (plans and appointments, cases, register data) add their
        # demo data through the hooks listed in settings.DEMO_SEEDERS, so the
        # core never imports them.
        for path in settings.DEMO_SEEDERS:
            import_string(path)(children=new_children, result=result, rng=random.Random(f"{seed}:{path}"), today=today)
    if children:
        # Fresh planner statistics after a bulk load: without them PostgreSQL plans the
        # day list's guardian lookup as a full scan until autovacuum gets round to it.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return result


def _seed_children(rng: random.Random, ids: _Ids, result: DemoResult, count: int, today: date) -> list[Child]:
    existing = set(Child.objects.values_list("national_id", flat=True)) | set(
        Guardian.objects.exclude(national_id=None).values_list("national_id", flat=True)
    )
    ids.used |= existing
    child_rows: list[Child] = []
    guardian_rows: list[Guardian] = []
    links: list[tuple[int, int, str, bool, bool]] = []  # child index, guardian index, relation, responsibility, caretaker

    for i in range(count):
        station = result.stations[i % len(result.stations)]
        born = today - timedelta(days=rng.randrange(0, 6 * 365))
        sex = rng.choice([Sex.FEMALE, Sex.MALE])
        foreign = FOREIGN[rng.randrange(len(FOREIGN))] if rng.random() < 0.18 else None
        family = rng.choice(foreign[3] if foreign else FAMILY)
        girls, boys = (foreign[1], foreign[2]) if foreign else (GIRLS, BOYS)
        given = rng.choice(girls if sex == Sex.FEMALE else boys)
        street = f"{rng.choice(STREETS)} {rng.randrange(1, 120)}"
        postal = station.postal_code
        child_rows.append(
            Child(
                national_id=ids.for_birth(born), given_name=given, family_name=family, birth_date=born, sex=sex,
                station=station, street_address=street, postal_code=postal, city="Bergen", municipality_number="4601",
                urban_district_code=station.urban_district_codes[0] if station.urban_district_codes else "",
                special_attention=rng.random() < 0.02,
            )
        )
        language = foreign[0] if foreign else Language.NB
        mother_name = rng.choice(foreign[1] if foreign else ADULT_F)
        father_name = rng.choice(foreign[2] if foreign else ADULT_M)
        parents_split = rng.random() < 0.12
        for role, name, relation in (("mother", mother_name, Relation.MOTHER), ("father", father_name, Relation.FATHER)):
            if role == "father" and rng.random() < 0.06:
                continue  # Single-parent household.
            parent_born = born - timedelta(days=rng.randrange(20 * 365, 42 * 365))
            address = street if not (parents_split and role == "father") else f"{rng.choice(STREETS)} {rng.randrange(1, 120)}"
            guardian_rows.append(
                Guardian(
                    national_id=ids.for_birth(parent_born), given_name=name, family_name=family,
                    mobile=f"9{rng.randrange(0, 10**7):07d}" if rng.random() < 0.93 else "",
                    preferred_language=language, interpreter_needed=bool(foreign) and rng.random() < 0.4,
                    sms_reserved=rng.random() < 0.02, street_address=address, postal_code=postal, city="Bergen",
                    municipality_number="4601",
                )
            )
            responsibility = not (role == "father" and parents_split and rng.random() < 0.3)
            links.append((i, len(guardian_rows) - 1, relation, responsibility, False))

    # The cases every demo must show: one protected address, one child in foster care.
    if count >= 2:
        protected_child = 0
        for child_index, guardian_index, *_ in links:
            if child_index == protected_child:
                guardian_rows[guardian_index].address_protection = AddressProtection.CONFIDENTIAL
        child_rows[protected_child].address_protection = AddressProtection.CONFIDENTIAL
        placed = 1
        links[:] = [
            (c, g, rel, False if c == placed else resp, care) for c, g, rel, resp, care in links
        ]
        guardian_rows.append(
            Guardian(
                national_id=None, given_name="", family_name="Bergen kommune, barneverntjenesten", organisation=True,
                street_address="Postboks 7700", postal_code="5020", city="Bergen", municipality_number="4601",
            )
        )
        links.append((placed, len(guardian_rows) - 1, Relation.OTHER, True, False))
        guardian_rows.append(
            Guardian(
                national_id=ids.for_birth(today - timedelta(days=45 * 365)), given_name="Gunn", family_name="Fosterheim",
                mobile="98765432", street_address="Fosterveien 3", postal_code="5221", city="Bergen", municipality_number="4601",
            )
        )
        links.append((placed, len(guardian_rows) - 1, Relation.FOSTER_HOME, False, True))
        child_rows[placed].special_attention = True

    Child.objects.bulk_create(child_rows, batch_size=2000)
    Guardian.objects.bulk_create(guardian_rows, batch_size=2000)
    # bulk_create sets the primary keys (INSERT ... RETURNING).
    Guardianship.objects.bulk_create(
        [
            Guardianship(
                child=child_rows[c], guardian=guardian_rows[g], relation=rel, parental_responsibility=resp, is_caretaker=care
            )
            for c, g, rel, resp, care in links
        ],
        batch_size=5000,
    )
    result.children = len(child_rows)
    result.guardians = len(guardian_rows)
    return child_rows
