"""What can go wrong asking the population register: every failure the sync records instead of applying."""

from __future__ import annotations


class RegisterError(Exception):
    """The register could not give a usable answer; nothing may be applied."""


class RegisterUnavailable(RegisterError):
    """Timeouts, 429 or 5xx that outlasted the retries, or a refused connection."""


class RegisterRefused(RegisterError):
    """400/401/403/other 4xx: retrying the same request cannot help."""


class RegisterProtocolError(RegisterError):
    """Malformed, truncated or unexpected JSON."""
