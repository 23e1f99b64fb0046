"""System checks for what the application needs from the machine."""

from __future__ import annotations

import ctypes.util

from django.core.checks import Warning, register


@register()
def harfbuzz_subset_check(app_configs, **kwargs):
    """WeasyPrint embeds fonts about 7x faster with HarfBuzz's subsetter."""
    if ctypes.util.find_library("harfbuzz-subset"):
        return []
    return [
        Warning(
            "libharfbuzz-subset is not installed; PDF letters will be slow.",
            hint="Install the Debian package libharfbuzz-subset0 (bin/install-system-packages).",
            id="helsestasjon.W001",
        )
    ]


@register()
def helseid_key_check(app_configs, **kwargs):
    """A HelseID client key that cannot sign would only show at the first login; say so at start-up."""
    from django.conf import settings
    from django.core.checks import Error

    if not settings.HELSEID_AUTHORITY:
        return []
    from helsestasjon.helseid.keys import load_private_key

    try:
        load_private_key(settings.HELSEID_PRIVATE_KEY)
    except Exception as exc:  # joserfc and json raise several types for an unreadable key
        return [Error(f"HELSEID_PRIVATE_KEY is not a private RSA or EC key: {exc.__class__.__name__}",
                      hint="Give the JWK (JSON) or PEM from HelseID Selvbetjening, e.g. HELSEID_PRIVATE_KEY_FILE.",
                      id="helsestasjon.E002")]
    return []
