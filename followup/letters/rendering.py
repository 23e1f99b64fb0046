"""WeasyPrint rendering of letters.

A worker renders a chunk of letters: each letter is laid out as its own document
(so its page numbers count its own pages), the pages of the whole chunk are written
as one PDF (fonts are subset and embedded once per chunk, the costly part), and
pypdf splits that PDF into one archived PDF per letter. The clerk's print file is
the chunks' PDFs concatenated.
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
    """Lay out each letter on its own, then write all their pages as one PDF."""
    from weasyprint import HTML

    documents = [
        HTML(string=letters_html([letter]), base_url=str(settings.BASE_DIR)).render(
            stylesheets=[_stylesheet()], font_config=_font_config()
        )
        for letter in letters
    ]
    pages = [page for document in documents for page in document.pages]
    pdf = documents[0].copy(pages).write_pdf()
    return RenderedChunk(pdf=pdf, page_counts=[len(document.pages) for document in documents])


def merge_pdfs(parts: list[bytes]) -> bytes:
    writer = PdfWriter()
    for part in parts:
        writer.append(io.BytesIO(part))
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()
