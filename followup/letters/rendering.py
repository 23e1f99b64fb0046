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

from django.conf import settings
from django.template.loader import render_to_string
from pypdf import PdfReader, PdfWriter


@lru_cache(maxsize=1)
def _font_config():
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


@lru_cache(maxsize=1)
def _stylesheet():
    # Parsed once per process: every letter shares it.
    from weasyprint import CSS

    return CSS(string=render_to_string("followup/letters/letter.css"), font_config=_font_config())


def letters_html(letters: list[dict]) -> str:
    """The HTML of one or more letters (each letter starts on a new page)."""
    return render_to_string("followup/letters/document.html", {"letters": letters})


def html_to_pdf(html: str) -> bytes:
    """One HTML document to one PDF, with the letter stylesheet (the benchmark's floor uses this)."""
    from weasyprint import HTML

    return HTML(string=html, base_url=str(settings.BASE_DIR)).write_pdf(
        stylesheets=[_stylesheet()], font_config=_font_config()
    )


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
    from weasyprint import HTML

    document = HTML(string=letters_html(letters), base_url=str(settings.BASE_DIR)).render(
        stylesheets=[_stylesheet()], font_config=_font_config()
    )
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
