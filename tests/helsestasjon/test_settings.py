"""Settings come from the environment with strict parsing and clear errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from helsestasjon.env import env_bool, env_choice, env_int, env_list, env_str

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def test_a_bad_boolean_is_an_error_not_false():
    with pytest.raises(ImproperlyConfigured, match="DEBUG='maybe' is not a boolean"):
        env_bool("DEBUG", False, environ={"DEBUG": "maybe"})
    assert env_bool("DEBUG", False, environ={"DEBUG": "Yes"}) is True
    assert env_bool("DEBUG", True, environ={"DEBUG": "0"}) is False
    assert env_bool("DEBUG", True, environ={}) is True


def test_numbers_lists_and_choices_are_parsed_strictly():
    with pytest.raises(ImproperlyConfigured, match="not a whole number"):
        env_int("SESSION_IDLE_MINUTES", 30, environ={"SESSION_IDLE_MINUTES": "half an hour"})
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("SESSION_IDLE_MINUTES", 30, minimum=1, environ={"SESSION_IDLE_MINUTES": "0"})
    assert env_list("ALLOWED_HOSTS", [], environ={"ALLOWED_HOSTS": "a.no, b.no,"}) == ["a.no", "b.no"]
    with pytest.raises(ImproperlyConfigured, match="SMS_BACKEND='pigeon' is not one of"):
        env_choice("SMS_BACKEND", "console", {"console": "x.Console"}, environ={"SMS_BACKEND": "pigeon"})


def test_secrets_can_come_from_a_file(tmp_path):
    secret = tmp_path / "key"
    secret.write_text("s3cret-from-file\n")
    assert env_str("SECRET_KEY", environ={"SECRET_KEY_FILE": str(secret)}) == "s3cret-from-file"
    with pytest.raises(ImproperlyConfigured, match="cannot be read"):
        env_str("SECRET_KEY", environ={"SECRET_KEY_FILE": str(tmp_path / "missing")})
    with pytest.raises(ImproperlyConfigured, match="not both"):
        env_str("SECRET_KEY", environ={"SECRET_KEY": "a", "SECRET_KEY_FILE": str(secret)})


def test_startup_fails_clearly_without_secret_key_in_production():
    result = run_manage("check")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_startup_fails_clearly_on_a_bad_value():
    result = run_manage("check", DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_startup_fails_clearly_on_a_database_other_than_postgresql():
    result = run_manage("check", DEBUG="true", DATABASE_URL="mysql://root@127.0.0.1:3306/helsestasjon")
    assert result.returncode != 0
    assert "DATABASE_URL must be a PostgreSQL URL" in result.stderr


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("k" * 20 + "-Production-Secret-Key-That-Is-Long-Enough-1234567890")
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY_FILE=str(secret),
        ALLOWED_HOSTS="helsestasjon.kommune.no",
        DATABASE_URL=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        REDIS_URL="redis://127.0.0.1:6379/0",
        SMS_BACKEND="http",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_defaults_are_safe(settings):
    # The running test process has DEBUG on; read what production gets from a fresh interpreter.
    code = (
        "import django;django.setup();from django.conf import settings as s;"
        "print(s.DEBUG, s.ALLOW_SYNTHETIC_IDS, s.SESSION_COOKIE_SECURE, s.TIME_ZONE, s.LANGUAGE_CODE, s.SESSION_COOKIE_AGE)"
    )
    base = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "DJANGO_SETTINGS_MODULE": "helsestasjon.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**base, "SECRET_KEY": "x" * 60, "SMS_BACKEND": "http"}, capture_output=True, text=True
    )
    assert result.stdout.split() == ["False", "False", "True", "Europe/Oslo", "nb", "1800"], result.stderr
