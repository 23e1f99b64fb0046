"""The schema tests' shared steps: a module's OpenAPI document as a fixture, and a recorded exchange's
content type (the fakes record headers as the client sent them, in any case)."""

from __future__ import annotations

from pathlib import Path

import pytest
from openapi_core import OpenAPI


def schema_fixture(path: Path):
    """A module-scoped `openapi` fixture reading the document at `path` once."""

    @pytest.fixture(scope="module")
    def openapi():
        return OpenAPI.from_file_path(str(path))

    return openapi


def content_type(exchange: dict) -> str:
    return next((v for k, v in exchange["headers"].items() if k.lower() == "content-type"), "")
