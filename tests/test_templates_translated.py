"""Every text a user reads in a template goes through Django's translation machinery.

The check reads each template's source: it drops comments, the contents of translation
blocks, template tags and variables, scripts and HTML tags, and fails on any word left
in the visible text or in the attributes a user reads (title, placeholder, aria-label,
alt, data-confirm, the value of an input button), and on quoted text in a style sheet's
`content:`. Letter texts are content, not interface, and are left as they are.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template.loader import get_template

TEMPLATES = Path(settings.BASE_DIR) / "templates"

# The letters' texts (one file per language) and the letter layout printed around them
# are content in the letter's own language, not interface: see followup/letters/translations.py.
LETTER_CONTENT = {"followup/letters/letter.html"} | {
    p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.glob("followup/letters/text_*.html")
}

# Words that are the same in every language; keep this list short and explicit.
ALLOWED_WORDS = {"HelseID", "SvarUt", "KOSTRA"}

LETTER = re.compile(r"[^\W\d_]")
TOKEN = re.compile(r"({%.*?%}|{{.*?}}|{#.*?#}|<!--.*?-->|<[^>]*>)", re.S)
READ_ATTRIBUTES = re.compile(r'\s(title|placeholder|aria-label|alt|data-confirm)\s*=\s*("[^"]*"|\'[^\']*\')')
VALUE_ATTRIBUTE = re.compile(r'\svalue\s*=\s*("[^"]*"|\'[^\']*\')')
CSS_CONTENT = re.compile(r'content:\s*([^;}]*)')
SKIPPED_REGIONS = (
    (re.compile(r"{%\s*comment\b"), re.compile(r"{%\s*endcomment\b")),
    (re.compile(r"{%\s*blocktrans(late)?\b"), re.compile(r"{%\s*endblocktrans(late)?\b")),
    (re.compile(r"<script\b", re.I), re.compile(r"</script\b", re.I)),
    (re.compile(r"<style\b", re.I), re.compile(r"</style\b", re.I)),
)


def all_templates() -> list[str]:
    return sorted(p.relative_to(TEMPLATES).as_posix() for p in TEMPLATES.rglob("*.html"))


def words(text: str) -> list[str]:
    """The words with letters in a piece of visible text, less the allowed ones."""
    text = re.sub(r"&[a-zA-Z]+;|&#\d+;", " ", text)
    return [w for w in re.split(r"[\s,.;:()«»\"'/?!–—·→←+*%|-]+", text) if LETTER.search(w) and w not in ALLOWED_WORDS]


def without_template_syntax(text: str) -> str:
    text = re.sub(r"{%\s*blocktrans(late)?\b.*?{%\s*endblocktrans(late)?\s*%}", " ", text, flags=re.S)
    return re.sub(r"{%.*?%}|{{.*?}}|{#.*?#}", " ", text, flags=re.S)


def untranslated(source: str) -> list[str]:
    """The words a user would read that are not inside a translation tag."""
    found: list[str] = []
    parts = TOKEN.split(source)
    closing = None
    for i, part in enumerate(parts):
        is_token = i % 2 == 1
        if closing is not None:
            if is_token and closing.match(part):
                closing = None
            elif part and closing.pattern.startswith("</style"):
                for m in CSS_CONTENT.finditer(without_template_syntax(part)):
                    found += words(" ".join(re.findall(r'"([^"]*)"', m.group(1))))
            continue
        if not is_token:
            found += words(part)
            continue
        for opening, end in SKIPPED_REGIONS:
            if opening.match(part):
                closing = end
        if part.startswith("<") and not part.startswith("<!--"):
            tag = without_template_syntax(part)
            for m in READ_ATTRIBUTES.finditer(tag):
                found += words(m.group(2)[1:-1])
            if re.match(r"<input\b", tag) and re.search(r"""type\s*=\s*["']?(submit|button|reset)""", tag):
                for m in VALUE_ATTRIBUTE.finditer(tag):
                    found += words(m.group(1)[1:-1])
    return found


def test_the_check_finds_untranslated_text():
    assert untranslated('<p>Ingen timer.</p><button title="Lagre">{% translate "Lagre" %}</button>') == ["Ingen", "timer", "Lagre"]
    assert untranslated("{% blocktranslate %}Side {{ n }}{% endblocktranslate %}{# Ikke vist #}<b>{{ x }}</b>") == []
    assert untranslated('<input type="submit" value="Send"><input name="a" value="attended">') == ["Send"]
    assert untranslated('<style>@page { @bottom-left { content: "Side " counter(page); } }</style>') == ["Side"]
    assert untranslated('<a aria-label="{% translate \'Sider\' %}" href="?side=2">HelseID</a>') == []
    assert untranslated('<span aria-label="{% blocktranslate %}{{ n }} nye{% endblocktranslate %}"></span>') == []
    assert untranslated('<span aria-label="{{ n }} nye varsler"></span>') == ["nye", "varsler"]


@pytest.mark.parametrize("name", [n for n in all_templates() if n not in LETTER_CONTENT])
def test_template_has_no_untranslated_text(name):
    source = (TEMPLATES / name).read_text(encoding="utf-8")
    assert untranslated(source) == [], f"{name}: wrap these in {{% translate %}} or {{% blocktranslate %}}"


@pytest.mark.parametrize("name", all_templates())
def test_template_compiles(name):
    # A translation tag with a syntax error (an unclosed blocktranslate, a dotted variable
    # inside it, a missing {% load i18n %}) fails here instead of on the page.
    get_template(name)
