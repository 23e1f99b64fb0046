"""WeasyPrint rendering of letters.

A worker renders a chunk of letters as one WeasyPrint document (each letter its
own page group, so page numbers restart per letter), writes it as one PDF (fonts
are subset and embedded once per chunk, the costly part), and pypdf splits that
PDF into one archived PDF per letter. The clerk's print file is the chunks' PDFs
concatenated.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from django.conf import settings
from django.template.loader import render_to_string
from pypdf import PdfReader, PdfWriter


def _static_roots() -> list[Path]:
    roots = [Path(settings.STATIC_ROOT)] if settings.STATIC_ROOT else []
    return [root.resolve() for root in roots + [Path(d) for d in settings.STATICFILES_DIRS]]


def url_fetcher():
    """A WeasyPrint URL fetcher that fetches only the application's own static files and ``data:``.

    Markup in a PDF may carry text typed by users or copied from the register; WeasyPrint's default
    fetcher would read any ``file://`` on the server and call any host (loopback included). Every
    other URL is refused, and WeasyPrint leaves the resource out.
    """
    from weasyprint.urls import URLFetcher

    class StaticOnlyURLFetcher(URLFetcher):
        def fetch(self, url, headers=None):
            scheme, _, rest = url.partition(":")
            scheme = scheme.lower()
            if scheme == "data":
                return super().fetch(url, headers)
            if scheme == "file":
                parsed = urlsplit(url)
                if parsed.netloc in ("", "localhost"):
                    path = Path(url2pathname(unquote(parsed.path))).resolve()
                    if path.is_file() and any(path.is_relative_to(root) for root in _static_roots()):
                        return super().fetch(url, headers)
            raise ValueError(f"Refused to fetch {scheme}: URL")

    return StaticOnlyURLFetcher(allowed_protocols=("data", "file"), allow_redirects=False)


def html_document(html: str):
    """WeasyPrint's HTML for a PDF of ours: relative URLs against the project, the safe fetcher."""
    from weasyprint import HTML

    return HTML(string=html, base_url=str(settings.BASE_DIR), url_fetcher=url_fetcher())


@lru_cache(maxsize=1)
def _font_config():
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


@lru_cache(maxsize=1)
def _stylesheet():
    # Parsed once per process: every letter shares it.
    from weasyprint import CSS

    return CSS(string=render_to_string("followup/letters/letter.css"), font_config=_font_config(), url_fetcher=url_fetcher())


def letters_html(letters: list[dict]) -> str:
    """The HTML of one or more letters (each letter starts on a new page)."""
    return render_to_string("followup/letters/document.html", {"letters": letters})


def html_to_pdf(html: str) -> bytes:
    """One HTML document to one PDF, with the letter stylesheet (the benchmark's floor uses this)."""
    return html_document(html).write_pdf(stylesheets=[_stylesheet()], font_config=_font_config())


@dataclass
class RenderedChunk:
    pdf: bytes
    page_counts: list[int]

    def split(self) -> list[bytes]:
        """One PDF per letter, cut from the chunk's PDF by page counts."""
        reader = PdfReader(io.BytesIO(self.pdf))
        out, start = [], 0
        for count in self.page_counts:
            writer = PdfWriter()
            for index in range(start, start + count):
                writer.add_page(reader.pages[index])
            buffer = io.BytesIO()
            writer.write(buffer)
            out.append(buffer.getvalue())
            start += count
        return out


def render_chunk(letters: list[dict]) -> RenderedChunk:
    """Lay the letters out as one document and write it as one PDF.

    Each letter starts a page and is its own page group (letter.css), so its page
    numbers start at 1; the anchor ``letter-<n>`` on a page tells whose page it is.
    """
    document = html_document(letters_html(letters)).render(stylesheets=[_stylesheet()], font_config=_font_config())
    counts = [0] * len(letters)
    current = None
    for page in document.pages:
        owners = [int(name[len("letter-"):]) for name in page.anchors if name.startswith("letter-")]
        if owners:
            current = min(owners)
        if current is None:
            raise RuntimeError("A page belongs to no letter.")
        counts[current] += 1
    if not all(counts):
        raise RuntimeError("A letter has no pages.")
    return RenderedChunk(pdf=document.write_pdf(), page_counts=counts)


def merge_pdfs(parts: list[bytes]) -> bytes:
    writer = PdfWriter()
    for part in parts:
        writer.append(io.BytesIO(part))
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()
