"""A fake SvarUt (and the fake register whose contact-register data it reads) over real HTTP, per test."""

from __future__ import annotations

import pytest

from followup.letters.svarut.fake import FakeSvarUt, FakeSvarUtServer, krr_from_register
from registry_sync.fake import FakeRegister
from tests.followup.letters_support import _media  # noqa: F401 - media in a temp dir
from tests.followup.letters_support import parent

ACCOUNT = "0b7a5d2e-3c41-4f7e-9a0d-6c2b1e8f4a37"
TOKEN = "svarut-test-token"


@pytest.fixture
def svarut(settings):
    register = FakeRegister()
    fake = FakeSvarUt(account=ACCOUNT, token=TOKEN, krr=krr_from_register(register))
    server = FakeSvarUtServer(fake)
    server.start_in_thread()
    settings.SVARUT_BASE_URL = server.base_url
    settings.SVARUT_EXTERNAL_REFERENCE_URL = server.lookup_url
    settings.SVARUT_ACCOUNT = ACCOUNT
    settings.SVARUT_TOKEN = TOKEN
    settings.SVARUT_MASKINPORTEN_TOKEN_URL = ""
    settings.SVARUT_TIMEOUT_SECONDS = 1
    settings.SVARUT_SEND_TIMEOUT_SECONDS = 1
    settings.SVARUT_BACKOFF_SECONDS = 0
    settings.SVARUT_MAX_ATTEMPTS = 4
    fake.server = server
    fake.register = register
    yield fake
    server.shutdown()
    server.server_close()


def guardian(child, svarut, *, mailbox: str | None = "digipost", reserved: bool = False, in_register_mailbox: str | None = "same",
             reads_after: float | None = 2.0, **fields):
    """A guardian with parental responsibility, known alike to the journal and to the fake register.

    ``mailbox`` is what the journal holds from the contact register; ``in_register_mailbox`` what the
    fake register (and so the fake SvarUt) holds now ("same" = the same)."""
    g = parent(child, krr_reserved=reserved, digital_mailbox=mailbox if (mailbox and not reserved) else "", **fields)
    register_mailbox = mailbox if in_register_mailbox == "same" else in_register_mailbox
    svarut.register.add_person(nin=g.national_id, given_name=g.given_name, family_name=g.family_name, birth_date="1990-01-01",
                               municipality="4601", street=g.street_address, postal_code=g.postal_code, city=g.city,
                               phone=g.mobile, reserved=reserved, digital_post=register_mailbox)
    svarut.readers[g.national_id] = reads_after
    return g
