"""Planning the programme for a child: newborns, children moving in, window edges."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError

from attendance.models import Consultation, ConsultationState, ProgrammeStep
from attendance.children import child_register
from attendance.plan import child_plan
from helsestasjon.dates import add_months
from tests.factories import ChildFactory, next_national_id

pytestmark = pytest.mark.django_db

S = ConsultationState


def states(child) -> dict[str, str]:
    return dict(Consultation.objects.filter(child=child).values_list("step__code", "state"))


def test_the_programme_has_fourteen_steps_as_in_the_spec():
    steps = list(ProgrammeStep.objects.order_by("order").values_list("code", "opens_after", "opens_unit", "closes_after", "closes_unit"))
    assert [s[0] for s in steps] == ["HV", "W4", "W6", "M3", "M4", "M5", "M6", "M8", "M10", "M12", "M15", "M17", "Y2", "Y4"]
    assert steps[0][1:] == (3, "day", 14, "day")
    assert steps[2][1:] == (5, "week", 8, "week")
    assert steps[-2][1:] == (23, "month", 36, "month")
    assert steps[-1][1:] == (47, "month", 60, "month")


def test_a_newborn_gets_all_fourteen_consultations_planned(station_a):
    born = date(2026, 3, 2)
    child = child_register(
        national_id=next_national_id(), given_name="Nyfødt", family_name="Hansen", birth_date=born, sex="female",
        station=station_a, guardians=[{"given_name": "Mor", "family_name": "Hansen", "relation": "mother"}], today=born,
    )
    assert states(child) == {code: S.PLANNED for code in states(child)}
    assert len(states(child)) == 14
    hv = Consultation.objects.get(child=child, step__code="HV")
    assert (hv.window_opens, hv.window_closes) == (date(2026, 3, 5), date(2026, 3, 16))
    assert child.guardianships.get().guardian.given_name == "Mor"


def test_a_child_moving_in_at_two_and_a_half_catches_up_on_what_is_still_open(station_a):
    born = date(2023, 9, 15)
    today = add_months(born, 30)
    child = child_register(
        national_id=next_national_id(), given_name="Innflytter", family_name="Berg", birth_date=born, sex="male",
        station=station_a, today=today,
    )
    result = states(child)
    closed = ["HV", "W4", "W6", "M3", "M4", "M5", "M6", "M8", "M10", "M12", "M15", "M17"]
    assert all(result[code] == S.NOT_APPLICABLE for code in closed), result
    assert result["Y2"] == S.DUE  # 23 months to 3 years: still open, so it is the catch-up.
    assert result["Y4"] == S.PLANNED
    assert not Consultation.objects.filter(child=child, state=S.EXPIRED).exists()


@pytest.mark.parametrize(
    "offset, expected",
    [(-1, S.PLANNED), (0, S.DUE)],
)
def test_a_window_opens_on_its_opening_day(station_a, offset, expected):
    born = date(2026, 1, 31)
    m8_opens = add_months(born, 7)  # 31 August
    child = ChildFactory(station=station_a, birth_date=born)
    child_plan(child=child, today=m8_opens + timedelta(days=offset))
    assert states(child)["M8"] == expected


@pytest.mark.parametrize("offset, expected", [(-1, S.DUE), (0, S.NOT_APPLICABLE)])
def test_a_window_closes_before_its_closing_day(station_a, offset, expected):
    born = date(2025, 10, 31)
    m3_closes = date(2026, 2, 28)  # 31 October + 4 calendar months = end of February
    child = ChildFactory(station=station_a, birth_date=born)
    child_plan(child=child, today=m3_closes + timedelta(days=offset))
    assert Consultation.objects.get(child=child, step__code="M3").window_closes == m3_closes
    assert states(child)["M3"] == expected


def test_a_child_born_31_january_is_one_month_old_at_the_end_of_february():
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)


def test_planning_twice_creates_nothing_new(station_a):
    child = ChildFactory(station=station_a, birth_date=date(2026, 1, 1))
    child_plan(child=child, today=date(2026, 2, 1))
    assert child_plan(child=child, today=date(2026, 6, 1)) == []
    assert Consultation.objects.filter(child=child).count() == 14


def test_registering_rejects_a_birth_date_in_the_future(station_a):
    with pytest.raises(ValidationError) as exc:
        child_register(
            national_id=next_national_id(), given_name="A", family_name="B", birth_date=date(2026, 5, 2),
            sex="female", station=station_a, today=date(2026, 5, 1),
        )
    assert "fremtiden" in str(exc.value)


def test_registering_rejects_a_national_id_already_registered(station_a, child_a):
    with pytest.raises(ValidationError) as exc:
        child_register(
            national_id=child_a.national_id, given_name="A", family_name="B", birth_date=date(2026, 1, 2),
            sex="female", station=station_a, today=date(2026, 5, 1),
        )
    assert "national_id" in exc.value.message_dict
