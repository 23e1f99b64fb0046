"""A fake HelseID: a real OpenID Connect provider over HTTP on loopback, for the demo and the tests."""

from helsestasjon.helseid.fake.provider import Client, FakeHelseID, FakeHelseIDServer, Persona

__all__ = ["Client", "FakeHelseID", "FakeHelseIDServer", "Persona"]
