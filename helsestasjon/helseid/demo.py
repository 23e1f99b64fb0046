"""Demo personas: every demo user gets a synthetic national id (and nurses and leaders an HPR number),
written to the fake HelseID's personas file so the demo logs in the way production does.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from django.conf import settings

from helsestasjon.helseid.fake.provider import Persona, load_personas
from helsestasjon.helseid.services import user_set_national_id
from helsestasjon.models import Role, User
from helsestasjon.national_id import make_synthetic

HEALTH_PERSONNEL = (Role.NURSE, Role.LEADER)


def _synthetic_adult(rng, used: set[str]) -> str:
    while True:
        number = make_synthetic(rng.randint(1, 28), rng.randint(1, 12), rng.randint(60, 99), rng.randrange(0, 500))
        if number and number not in used:
            used.add(number)
            return number


def seed(*, children, result, rng, today) -> None:
    path = Path(settings.FAKE_HELSEID_DIR) / "personas.json"
    known = {persona.username: persona for persona in load_personas(path) if persona.username}
    used = {persona.pid for persona in known.values()}
    personas = []
    usernames = list(dict.fromkeys(username for username, *_rest in result.users))
    order = [Role.NURSE, Role.CLERK, Role.LEADER, Role.ADMIN]
    users = User.objects.filter(username__in=usernames).prefetch_related("stations")
    for user in sorted(users, key=lambda u: (order.index(u.role), u.username)):
        persona = known.get(user.username)
        if persona is None:
            hpr = str(rng.randint(1_000_000, 9_999_999)) if user.role in HEALTH_PERSONNEL else ""
            stations = ", ".join(station.name for station in user.stations.all()) or "alle helsestasjoner"
            persona = Persona(pid=_synthetic_adult(rng, used), given_name=user.first_name, family_name=user.last_name,
                              hpr_number=hpr, description=f"{user.get_role_display()}, {stations}", username=user.username)
        user_set_national_id(user=user, national_id=persona.pid)
        personas.append(persona)
    # Someone HelseID knows and the station does not: the demo of "Du har ikke tilgang".
    stranger = known.get("-") or Persona(pid=_synthetic_adult(rng, used), given_name="Ukjent", family_name="Helsearbeider",
                                         description="ikke registrert som ansatt (får ikke tilgang)", username="-")
    personas.append(stranger)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([asdict(p) for p in personas], ensure_ascii=False, indent=1), encoding="utf-8")
