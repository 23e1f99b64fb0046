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
