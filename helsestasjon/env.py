"""Strict parsers for configuration read from the environment.

A misspelt boolean or a non-numeric port must stop the process at start-up with
a message naming the variable, rather than silently falling back to a default.
Only ``settings.py`` calls these functions.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str, environ: dict | None = None) -> str | None:
    environ = os.environ if environ is None else environ
    value = environ.get(name)
    file_name = environ.get(f"{name}_FILE")
    if value is not None and file_name:
        raise ImproperlyConfigured(f"Set either {name} or {name}_FILE, not both.")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_name!r} cannot be read: {exc}") from exc
    return value


def env_str(name: str, default: str | None = None, *, environ: dict | None = None) -> str | None:
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    return value


def env_bool(name: str, default: bool, *, environ: dict | None = None) -> bool:
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a boolean; use one of true/false, 1/0, yes/no, on/off."
    )


def env_int(
    name: str, default: int, *, minimum: int | None = None, environ: dict | None = None
) -> int:
    value = _raw(name, environ)
    if value is None or value == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} must be at least {minimum}.")
    return number


def env_list(name: str, default: list[str], *, environ: dict | None = None) -> list[str]:
    value = _raw(name, environ)
    if value is None or value.strip() == "":
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(
    name: str, default: str, choices: dict[str, str], *, environ: dict | None = None
) -> str:
    """Map a short name (``console``) to a dotted path, rejecting unknown names."""
    value = env_str(name, default, environ=environ)
    if value in choices:
        return choices[value]
    if value in choices.values():
        return value
    raise ImproperlyConfigured(
        f"{name}={value!r} is not one of: {', '.join(sorted(choices))}."
    )
