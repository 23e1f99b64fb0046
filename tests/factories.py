"""factory_boy factories shared by every test module."""

from __future__ import annotations

import itertools
from datetime import date

import factory

from helsestasjon.models import Child, Guardian, Guardianship, Municipality, Relation, Role, Station, User
from helsestasjon.national_id import make_synthetic

PASSWORD = "korrekt-hest-batteri-42"


def _synthetic_ids(d_number: bool = False):
    """An endless supply of distinct valid synthetic national ids."""
    for year2 in itertools.cycle(range(0, 100)):
        for individual in range(100, 1000):
            for day in range(1, 29):
                number = make_synthetic(day, (individual % 12) + 1, year2, individual, d_number=d_number)
                if number:
                    yield number


_ids = _synthetic_ids()
_seen: set[str] = set()


def next_national_id() -> str:
    while True:
        number = next(_ids)
        if number not in _seen:
            _seen.add(number)
            return number


class MunicipalityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Municipality
        django_get_or_create = ("number",)

    number = "4601"
    name = "Bergen"


class StationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Station

    municipality = factory.SubFactory(MunicipalityFactory)
    name = factory.Sequence(lambda n: f"Helsestasjon {n}")
    street_address = "Helseveien 1"
    postal_code = "5003"
    city = "Bergen"
    phone = "55 00 00 00"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"ansatt{n}")
    first_name = "Kari"
    last_name = factory.Sequence(lambda n: f"Ansatt{n}")
    role = Role.NURSE
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def stations(self, create, extracted, **kwargs):
        if create and extracted:
            self.stations.set(extracted)
        if create:
            self.save()


class _PersonFactory(factory.django.DjangoModelFactory):
    """What a child and a guardian share: a distinct national id, the family name and a Bergen address."""

    class Meta:
        abstract = True

    national_id = factory.LazyFunction(next_national_id)
    family_name = "Hansen"
    street_address = "Barneveien 2"
    postal_code = "5003"
    city = "Bergen"
    municipality_number = "4601"


class ChildFactory(_PersonFactory):
    class Meta:
        model = Child

    given_name = factory.Sequence(lambda n: f"Barn{n}")
    birth_date = date(2025, 1, 15)
    station = factory.SubFactory(StationFactory)


class GuardianFactory(_PersonFactory):
    class Meta:
        model = Guardian

    given_name = factory.Sequence(lambda n: f"Forelder{n}")
    mobile = factory.Sequence(lambda n: f"4{n % 10000000:07d}")


class GuardianshipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Guardianship

    child = factory.SubFactory(ChildFactory)
    guardian = factory.SubFactory(GuardianFactory)
    relation = Relation.MOTHER
    parental_responsibility = True


# --- Attendance facts and follow-up (used by tests/followup) -----------------


def _now():
    from django.utils import timezone

    return timezone.now()


def _programme_step(n: int):
    from attendance.models import ProgrammeStep

    steps = list(ProgrammeStep.objects.order_by("order"))
    return steps[n % len(steps)]


class ConsultationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "attendance.Consultation"

    child = factory.SubFactory(ChildFactory)
    step = factory.Sequence(_programme_step)
    state = "due"
    window_opens = date(2025, 1, 1)
    window_closes = date(2025, 3, 1)


class AppointmentFactory(factory.django.DjangoModelFactory):
    """An appointment with its status; give ``outcome=`` to OutcomeEventFactory to record one."""

    class Meta:
        model = "attendance.Appointment"

    consultation = factory.SubFactory(ConsultationFactory)
    child = factory.LazyAttribute(lambda o: o.consultation.child)
    station = factory.LazyAttribute(lambda o: o.consultation.child.station)
    starts_at = factory.LazyFunction(_now)
    professional = factory.SubFactory(UserFactory)
    booked_by = factory.SelfAttribute("professional")
    status = "booked"


class OutcomeEventFactory(factory.django.DjangoModelFactory):
    """An outcome event; the appointment's status follows it, as the attendance service does."""

    class Meta:
        model = "attendance.OutcomeEvent"
        skip_postgeneration_save = True

    appointment = factory.SubFactory(AppointmentFactory)
    outcome = "not_brought"
    recorded_by = factory.SelfAttribute("appointment.professional")
    recorded_at = factory.LazyAttribute(lambda o: o.appointment.starts_at)

    @factory.post_generation
    def mirror_status(self, create, extracted, **kwargs):
        if create:
            type(self.appointment).objects.filter(pk=self.appointment_id).update(status=self.outcome)
            self.appointment.status = self.outcome
