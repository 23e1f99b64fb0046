"""The bokmål catalogue: complete, identical to its source texts, and optional at run time."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.template.loader import get_template
from django.test import override_settings
from django.utils import translation

PO = Path(settings.BASE_DIR) / "locale" / "nb" / "LC_MESSAGES" / "django.po"
TEMPLATES = Path(settings.BASE_DIR) / "templates"


def catalogue() -> list[dict[str, str]]:
    """The entries of the .po file (msgid, msgid_plural, msgstr, msgstr[n]), header excluded."""
    entries, entry, key = [], {}, None
    for line in PO.read_text(encoding="utf-8").splitlines() + [""]:
        if not line.strip():
            if entry:
                entries.append(entry)
            entry, key = {}, None
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            entry[key] += ast.literal_eval(line)
        else:
            key, value = line.split(" ", 1)
            entry[key] = ast.literal_eval(value)
    return [e for e in entries if e.get("msgid")]


def test_every_text_is_its_own_translation():
    # The msgid is the bokmål text, so the compiled catalogue cannot change a page.
    entries = catalogue()
    assert len(entries) > 500
    for e in entries:
        if "msgid_plural" in e:
            assert (e["msgstr[0]"], e["msgstr[1]"]) == (e["msgid"], e["msgid_plural"])
        else:
            assert e["msgstr"] == e["msgid"]


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="gettext's msgfmt is not installed")
def test_catalogue_compiles(tmp_path):
    subprocess.run(["msgfmt", "--check", "-o", str(tmp_path / "django.mo"), str(PO)], check=True)


def test_every_template_text_is_in_the_catalogue():
    msgids = {e["msgid"] for e in catalogue()}
    missing = []
    for path in TEMPLATES.rglob("*.html"):
        source = path.read_text(encoding="utf-8")
        for m in re.finditer(r"""{%\s*translate\s+("[^"]*"|'[^']*')""", source):
            text = m.group(1)[1:-1]
            if text not in msgids and text.replace("%", "%%") not in msgids:
                missing.append(f"{path.name}: {text}")
        for m in re.finditer(r"{%\s*blocktranslate\b([^%]*)%}(.*?){%\s*endblocktranslate\s*%}", source, re.S):
            if "count" in m.group(1).split():
                continue
            text = re.sub(r"{{\s*(\w+)\s*}}", r"%(\1)s", m.group(2).replace("%", "%%"))
            if text not in msgids:
                missing.append(f"{path.name}: {text}")
    assert missing == [], "run makemessages (docs/decisions.md, Interface texts and translation)"


def test_pages_read_the_same_without_a_compiled_catalogue(tmp_path):
    # A checkout that has not run compilemessages shows the msgids, which are the same texts.
    with override_settings(LOCALE_PATHS=[tmp_path]), translation.override("nb"):
        assert translation.gettext("Utfallet er registrert.") == "Utfallet er registrert."
        html = get_template("404.html").render({})
    assert "Fant ikke siden" in html
    assert "Siden finnes ikke, eller du har ikke tilgang til den." in html
