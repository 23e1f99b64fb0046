"""The fake register's data for the demo: the demo journals as the register
knows them, with a realistic share of discrepancies.

``seed`` is a settings.DEMO_SEEDERS hook: after ``seed_demo`` it writes the
register file (settings.FAKE_REGISTER_DATA) that ``manage.py fake_register``
serves. ``build_register`` is also used by the tests and the benchmark.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

from django.conf import settings

from helsestasjon.models import AddressProtection, Child, Guardian, Guardianship, Relation, Station
from helsestasjon.national_id import make_synthetic
from registry_sync.fake import FakeRegister

OTHER_MUNICIPALITY = ("0301", "Oslo", "0150")
STREETS = ["Nygårdsgaten", "Solheimsgaten", "Kalfarveien", "Fjøsangerveien", "Hoffsveien", "Myrdalsvegen"]
NEW_NAMES = ["Aurora", "Ada", "Mathias", "Elias", "Sara", "Jonas", "Amir", "Lea"]
PLACEMENT_ORGANISATION = "Bergen kommune, barneverntjenesten"


def seed(*, children, result, rng: random.Random, today: date) -> None:
    """DEMO_SEEDERS hook: write the fake register's data file for the demo journals."""
    path = Path(settings.FAKE_REGISTER_DATA)
    if not children and path.exists():
        return  # ``seed_demo --if-empty`` on an existing demo: keep the register as it is.
    if path.exists():
        path.unlink()
    register = FakeRegister(path)
    journals = Child.objects.filter(pk__in=[c.pk for c in children]) if children else Child.objects.none()
    with register.bulk():
        build_register(register, journals, rng=rng, today=today, share=0.06)
    _guardians_take_their_mailboxes(journals)


def demo_mailbox(guardian) -> str | None:
    """The digital mailbox the demo register gives a guardian (most have one; chosen from the id, not
    the rng, so the discrepancies drawn stay the same); None when reserved or without one."""
    nin = guardian.national_id or ""
    if guardian.sms_reserved or not nin[-2:].isdigit() or int(nin[-2:]) % 5 == 0:
        return None
    return "digipost" if int(nin[-1]) % 2 else "eboks"


def _guardians_take_their_mailboxes(journals) -> None:
    """The demo journals' guardians as the contact register has them (issue 20): the letters' channel is
    chosen from the journal's copy, which production keeps from the register's person documents."""
    guardians = list(Guardian.objects.filter(guardianships__child__in=journals, national_id__isnull=False).distinct())
    for g in guardians:
        g.digital_mailbox = demo_mailbox(g) or ""
    Guardian.objects.bulk_update(guardians, ["digital_mailbox"], batch_size=2000)


def _new_id(register: FakeRegister, rng: random.Random, born: date, *, d_number: bool = False, taken=frozenset()) -> str:
    for _ in range(5000):
        nin = make_synthetic(born.day, born.month, born.year % 100, rng.randrange(500, 1000), d_number=d_number)
        if nin and nin not in register._by_nin and nin not in taken:
            return nin
    raise RuntimeError(f"no free synthetic id for {born}")


def _address(rng: random.Random) -> dict:
    return {"street": rng.choice(STREETS), "house_number": rng.randrange(1, 90)}


def build_register(register: FakeRegister, children, *, rng: random.Random, today: date, share: float = 0.05) -> Counter:
    """Put the children (a queryset) and their guardians in the register, then
    change about ``share`` of them the way the register would have since the
    journals were made. Returns how many of each discrepancy were made."""
    made: Counter = Counter()
    stations = list(Station.objects.select_related("municipality"))
    districts = {code: s for s in stations for code in (s.urban_district_codes or [])}
    links = (Guardianship.objects.filter(child__in=children).select_related("guardian")
             .order_by("child_id", "guardian_id"))
    by_child: dict[int, list[Guardianship]] = {}
    for link in links.iterator(chunk_size=5000):
        by_child.setdefault(link.child_id, []).append(link)
    journal_nins = set(children.values_list("national_id", flat=True))
    guardians_done: set[str] = set()
    for child in children.select_related("station__municipality").iterator(chunk_size=5000):
        mine = by_child.get(child.pk, [])
        _add_guardians(register, child, mine, guardians_done)
        discrepancy = rng.choice(DISCREPANCIES) if rng.random() < share else None
        if discrepancy == "unknown_to_register":
            made[discrepancy] += 1
            continue
        pid = _add_child(register, child, mine)
        if discrepancy:
            _discrepancy(register, rng, child, pid, discrepancy, mine, districts, today, journal_nins)
            made[discrepancy] += 1
    newcomers = max(1, int(children.count() * share / 3)) if children.exists() else 0
    added = _add_newcomers(register, rng, stations, newcomers, today, journal_nins)
    if added:
        made["unregistered_resident"] += added
    return made


DISCREPANCIES = ["unknown_to_register", "moved_out", "moved_within", "address_corrected", "emigrated", "deceased",
                 "protection_changed", "guardians_changed", "id_changed", "name_changed", "other_status"]


def _add_guardians(register: FakeRegister, child, links, done: set[str]) -> None:
    """The child's guardians with a national id, each once."""
    for link in links:
        g = link.guardian
        if not g.national_id or g.national_id in done:
            continue
        done.add(g.national_id)
        street, _, number = g.street_address.rpartition(" ")
        register.add_person(
            nin=g.national_id, given_name=g.given_name, family_name=g.family_name,
            birth_date=child.birth_date - timedelta(days=30 * 365), sex="female" if link.relation == Relation.MOTHER else "male",
            municipality=g.municipality_number or "4601", urban_district=child.urban_district_code,
            street=street or g.street_address, house_number=int(number) if number.isdigit() else None,
            postal_code=g.postal_code, city=g.city, phone=g.mobile or None, language=g.preferred_language,
            reserved=g.sms_reserved, protection=g.address_protection, save=False,
            digital_post=demo_mailbox(g),  # most have one (issue 20's demo)
        )


def _add_child(register: FakeRegister, child, links) -> str:
    """The journal child as the register has it, with its parents and responsibility. Returns its register id."""
    responsible = [l for l in links if l.parental_responsibility and l.guardian.national_id]
    kind = "Joint" if len(responsible) > 1 else None
    street, _, number = child.street_address.rpartition(" ")
    pid = register.add_person(
        nin=child.national_id, given_name=child.given_name, family_name=child.family_name, birth_date=child.birth_date,
        sex=child.sex, municipality=child.municipality_number or child.station.municipality.number,
        urban_district=child.urban_district_code, street=street or child.street_address,
        house_number=int(number) if number.isdigit() else None, postal_code=child.postal_code, city=child.city,
        protection=child.address_protection,
        responsible=[(l.guardian.national_id, kind or {"mother": "Mother", "father": "Father"}.get(l.relation, "Other"))
                     for l in responsible],
        parents=[(l.guardian.national_id, {"mother": "Mother", "father": "Father", "co_mother": "CoMother"}[l.relation])
                 for l in links if l.guardian.national_id and l.relation in ("mother", "father", "co_mother")],
        save=False,
    )
    organisations = [l.guardian.family_name for l in links if l.parental_responsibility and l.guardian.organisation]
    if organisations:
        register.set_responsibility(pid, responsible=[(l.guardian.national_id, "Other") for l in responsible],
                                    organisation=organisations[0])
    return pid


def _add_newcomers(register: FakeRegister, rng: random.Random, stations, count: int, today: date, journal_nins) -> int:
    """Residents the journal does not have yet: newborns and children who moved in or immigrated. Returns how many."""
    made = 0
    for i in range(count):
        station = stations[i % len(stations)] if stations else None
        if station is None:
            break
        born = today - timedelta(days=rng.randrange(1, 10) if i % 3 == 0 else rng.randrange(30, 5 * 365))
        mother_born = born - timedelta(days=rng.randrange(22 * 365, 40 * 365))
        family = rng.choice(["Lie", "Moen", "Strand", "Bakke", "Holm", "Ahmadi"])
        address = dict(municipality=station.municipality.number,
                       urban_district=(station.urban_district_codes or [""])[0], postal_code=station.postal_code,
                       city=station.city, **_address(rng))
        mother = _new_id(register, rng, mother_born, taken=journal_nins)
        register.add_person(nin=mother, given_name=rng.choice(["Marit", "Hilde", "Amina", "Olena"]), family_name=family,
                            birth_date=mother_born, sex="female", phone=f"4{rng.randrange(10**6, 10**7)}", save=False, **address)
        nin = _new_id(register, rng, born, d_number=(i % 3 == 2), taken=journal_nins)
        if i % 3 == 2:
            register.add_person(nin=nin, given_name=rng.choice(NEW_NAMES), family_name=family, birth_date=born,
                                sex=rng.choice(["female", "male"]), responsible=[(mother, "Mother")],
                                parents=[(mother, "Mother")], immigrated_from="UKR", save=False, **address)
        else:
            register.birth(nin=nin, given_name=rng.choice(NEW_NAMES), family_name=family, birth_date=born,
                           sex=rng.choice(["female", "male"]), mother=mother, **address)
        made += 1
    return made


def _discrepancy(register, rng, child, pid, kind, links, districts, today, journal_nins) -> None:
    if kind == "moved_out":
        register.move(pid, municipality=OTHER_MUNICIPALITY[0], urban_district="030102", street="Thorvald Meyers gate",
                      house_number=rng.randrange(1, 80), postal_code=OTHER_MUNICIPALITY[2], city=OTHER_MUNICIPALITY[1])
    elif kind == "moved_within":
        other = [code for code in districts if code != child.urban_district_code]
        code = rng.choice(other) if other and rng.random() < 0.5 else child.urban_district_code
        station = districts.get(code)
        register.move(pid, municipality=child.municipality_number or "4601", urban_district=code,
                      postal_code=station.postal_code if station else child.postal_code, city=child.city, **_address(rng))
    elif kind == "address_corrected":
        street, _, number = child.street_address.rpartition(" ")
        register.correct_address(pid, street=(street or child.street_address) + "s", house_number=int(number) if number.isdigit() else None)
    elif kind == "emigrated":
        register.emigrate(pid, country=rng.choice(["SWE", "POL", "GBR"]), when=today - timedelta(days=rng.randrange(1, 60)))
    elif kind == "deceased":
        register.die(pid, when=today - timedelta(days=rng.randrange(1, 30)))
    elif kind == "protection_changed":
        register.set_protection(pid, rng.choice([AddressProtection.CONFIDENTIAL, AddressProtection.STRICTLY_CONFIDENTIAL]))
    elif kind == "guardians_changed":
        responsible = [(l.guardian.national_id, "Mother" if l.relation == "mother" else "Father")
                       for l in links if l.guardian.national_id and l.parental_responsibility]
        if rng.random() < 0.5 or len(responsible) < 2:
            register.set_responsibility(pid, organisation=PLACEMENT_ORGANISATION)  # A child-welfare placement.
        else:
            register.set_responsibility(pid, responsible=responsible[:1])
    elif kind == "id_changed":
        register.change_id(pid, _new_id(register, rng, child.birth_date, taken=journal_nins))
    elif kind == "name_changed":
        register.rename(pid, family_name=rng.choice(["Nordli", "Solberg", "Vik", "Aas"]))
    elif kind == "other_status":
        register.set_status(pid, rng.choice(["Disappeared", "NotResident", "Inactive"]))
