"""Break-glass: only the administrator may use a password, and never without the TOTP code."""

from __future__ import annotations

import pytest
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from helsestasjon.models import Role, SignIn, SignInOutcome
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_with_device(db):
    admin = UserFactory(username="admin_x", role=Role.ADMIN, is_staff=True, is_superuser=True)
    device = TOTPDevice.objects.create(user=admin, name="Nødtilgang", confirmed=True)
    return admin, device


def _code(device) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


def _post(client, username, code=""):
    return client.post("/logg-inn/", {"username": username, "password": PASSWORD, "otp_token": code})


def test_the_admin_logs_in_with_password_and_code(fake_helseid, admin_with_device):
    admin, device = admin_with_device
    client = Client()
    response = _post(client, admin.username, _code(device))
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == admin.pk
    assert SignIn.objects.get().outcome == SignInOutcome.SUCCESS


def test_the_admin_without_the_second_factor_is_refused(fake_helseid, admin_with_device):
    admin, _device = admin_with_device
    client = Client()
    response = _post(client, admin.username)
    assert response.status_code == 200
    assert "Feil eller manglende engangskode" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert SignIn.objects.get().outcome == SignInOutcome.SECOND_FACTOR


def test_the_admin_with_a_wrong_code_is_refused(fake_helseid, admin_with_device):
    admin, device = admin_with_device
    wrong = f"{(int(_code(device)) + 1) % 1_000_000:06d}"
    client = Client()
    _post(client, admin.username, wrong)
    assert "_auth_user_id" not in client.session


def test_the_admin_without_a_device_cannot_log_in_with_a_password(fake_helseid):
    admin = UserFactory(username="admin_y", role=Role.ADMIN, is_staff=True)
    client = Client()
    _post(client, admin.username, "123456")
    assert "_auth_user_id" not in client.session


def test_a_nurse_cannot_use_the_password_form(fake_helseid, nurse_a):
    client = Client()
    response = _post(client, nurse_a.username)
    assert response.status_code == 200
    assert "Logg inn med HelseID" in response.content.decode()
    assert "Passord kan bare brukes av administrator" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert SignIn.objects.get().outcome == SignInOutcome.PASSWORD_NOT_ALLOWED


def test_break_glass_can_be_switched_off(fake_helseid, admin_with_device, settings):
    settings.BREAK_GLASS_LOGIN = False
    admin, device = admin_with_device
    client = Client()
    page = client.get("/logg-inn/").content.decode()
    assert "Nødtilgang" not in page and 'name="password"' not in page
    assert _post(client, admin.username, _code(device)).status_code == 403
    assert "_auth_user_id" not in client.session


def test_without_helseid_in_development_every_role_uses_the_password_form(nurse_a):
    client = Client()
    assert _post(client, nurse_a.username).status_code == 302
    assert "_auth_user_id" in client.session
