"""A fake population register serving the real interface over HTTP (see store.py, server.py)."""

from registry_sync.fake.server import FakeRegisterServer
from registry_sync.fake.store import FakeRegister, UnknownPerson

__all__ = ["FakeRegister", "FakeRegisterServer", "UnknownPerson"]
