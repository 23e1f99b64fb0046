"""HelseID settings: all or nothing, no password for every role beside HelseID, a readable key, a clean deploy check."""

from __future__ import annotations

import json
import os

from helsestasjon.helseid.keys import generate_ec_key, generate_rsa_key, load_private_key
from tests.helsestasjon.test_settings import run_manage

PRODUCTION = {"SECRET_KEY": "k" * 20 + "-Production-Secret-Key-That-Is-Long-Enough-1234567890",
              "ALLOWED_HOSTS": "helsestasjon.kommune.no", "SMS_BACKEND": "http", "REDIS_URL": "redis://127.0.0.1:6379/0"}


def _production(**env):
    database = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    return {**PRODUCTION, "DATABASE_URL": database, **env}


def _key_file(tmp_path, key=None) -> str:
    path = tmp_path / "helseid.jwk"
    path.write_text(json.dumps((key or generate_rsa_key()).as_dict(private=True)))
    return str(path)


def test_check_deploy_is_clean_with_helseid_configured(tmp_path):
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", **_production(
        HELSEID_AUTHORITY="https://helseid-sts.test.nhn.no", HELSEID_CLIENT_ID="helsestasjon-kommune",
        HELSEID_PRIVATE_KEY_FILE=_key_file(tmp_path)))
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_authority_without_client_id_and_key_stops_the_start():
    result = run_manage("check", **_production(HELSEID_AUTHORITY="https://helseid-sts.test.nhn.no"))
    assert result.returncode != 0
    assert "HELSEID_CLIENT_ID and HELSEID_PRIVATE_KEY" in result.stderr


def test_password_login_for_every_role_cannot_be_combined_with_helseid(tmp_path):
    result = run_manage("check", **_production(
        HELSEID_AUTHORITY="https://helseid-sts.test.nhn.no", HELSEID_CLIENT_ID="x",
        HELSEID_PRIVATE_KEY_FILE=_key_file(tmp_path), PASSWORD_LOGIN_ALL_ROLES="true"))
    assert result.returncode != 0
    assert "PASSWORD_LOGIN_ALL_ROLES cannot be on" in result.stderr


def test_a_public_key_is_refused_at_start(tmp_path):
    public = tmp_path / "public.jwk"
    public.write_text(json.dumps(generate_rsa_key().as_dict(private=False)))
    result = run_manage("check", **_production(
        HELSEID_AUTHORITY="https://helseid-sts.test.nhn.no", HELSEID_CLIENT_ID="x", HELSEID_PRIVATE_KEY_FILE=str(public)))
    assert result.returncode != 0
    assert "helsestasjon.E002" in result.stderr + result.stdout


def test_keys_load_from_jwk_and_pem():
    from cryptography.hazmat.primitives import serialization

    for key in (generate_rsa_key(), generate_ec_key()):
        assert load_private_key(json.dumps(key.as_dict(private=True))).is_private
        pem = key.private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()).decode()
        assert load_private_key(pem).key_type == key.key_type


def test_production_lets_no_role_but_the_break_glass_admin_use_a_password():
    result = run_manage("shell", "-c", "from django.conf import settings as s; print(s.PASSWORD_LOGIN_ALL_ROLES, s.BREAK_GLASS_LOGIN)",
                        **_production())
    assert result.stdout.split()[-2:] == ["False", "True"], result.stdout + result.stderr
