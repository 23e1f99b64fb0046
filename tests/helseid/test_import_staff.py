"""Staff are provisioned locally, from the admin or in bulk from CSV; HelseID never creates them."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from helsestasjon.helseid.services import user_for_pid
from helsestasjon.models import Role, User
from tests.factories import next_national_id

pytestmark = pytest.mark.django_db


def _csv(tmp_path, text: str):
    path = tmp_path / "ansatte.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_import_creates_staff_with_roles_stations_and_a_hashed_national_id(tmp_path, station_a, station_b):
    pid = next_national_id()
    path = _csv(tmp_path, "username,first_name,last_name,national_id,role,stations,hpr_number,email\n"
                          f"hanne,Hanne,Holm,{pid},nurse,Helsestasjon A;Helsestasjon B,1234567,h@example.no\n")
    call_command("import_staff", path)
    user = User.objects.get(username="hanne")
    assert user.role == Role.NURSE and user.hpr_number == "1234567"
    assert sorted(s.name for s in user.stations.all()) == ["Helsestasjon A", "Helsestasjon B"]
    assert not user.has_usable_password()
    assert pid not in (user.national_id_digest or "")
    assert user_for_pid(pid) == user


def test_an_unknown_station_saves_nothing(tmp_path, station_a):
    path = _csv(tmp_path, "username,first_name,last_name,national_id,role,stations,hpr_number,email\n"
                          "a,A,A,,clerk,Helsestasjon A,,\n"
                          "b,B,B,,clerk,Finnes ikke,,\n")
    with pytest.raises(CommandError, match="Finnes ikke"):
        call_command("import_staff", path)
    assert not User.objects.filter(username__in=["a", "b"]).exists()


def test_the_dry_run_saves_nothing(tmp_path, station_a):
    path = _csv(tmp_path, "username,first_name,last_name,national_id,role,stations,hpr_number,email\n"
                          "a,A,A,,leader,Helsestasjon A,,\n")
    call_command("import_staff", path, "--dry-run")
    assert not User.objects.filter(username="a").exists()


def test_a_national_id_that_belongs_to_someone_else_is_refused(tmp_path, station_a, nurse_a):
    from helsestasjon.helseid.services import user_set_national_id

    pid = next_national_id()
    user_set_national_id(user=nurse_a, national_id=pid)
    path = _csv(tmp_path, "username,first_name,last_name,national_id,role,stations,hpr_number,email\n"
                          f"x,X,X,{pid},nurse,Helsestasjon A,,\n")
    with pytest.raises(CommandError, match="annen ansatt"):
        call_command("import_staff", path)


def test_the_admin_sets_a_national_id_that_is_never_shown_again(login, station_a, nurse_a):
    from tests.factories import UserFactory

    admin = UserFactory(username="admin_x", role=Role.ADMIN, is_staff=True, is_superuser=True)
    client = login(admin)
    pid = next_national_id()
    page = client.get(f"/admin/helsestasjon/user/{nurse_a.pk}/change/")
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and not isinstance(v, (list, tuple))}
    data.update({"stations": [station_a.pk], "national_id": pid, "hpr_number": "7654321", "date_joined_0": "2026-01-01",
                 "date_joined_1": "10:00:00", "role": "nurse", "username": nurse_a.username, "password": ""})
    data.pop("last_login", None)
    response = client.post(f"/admin/helsestasjon/user/{nurse_a.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert user_for_pid(pid) == nurse_a
    again = client.get(f"/admin/helsestasjon/user/{nurse_a.pk}/change/").content.decode()
    assert pid not in again and "7654321" in again
