"""Small server-side SVG charts (no JavaScript, no chart framework).

The charts use presentation attributes only (fill, stroke, font-size): the
Content-Security-Policy forbids style attributes and <style> elements. Every
label passes through ``escape``. Colours differ in lightness as well as hue, and
each chart carries its numbers as text, so a grey-scale print stays readable; the
page shows the same numbers as a table beside each chart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import count

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

FONT = 'font-family="system-ui, sans-serif"'
INK = "#1f1f1f"
GRID = "#d6d6d0"

# Dark to light, so neighbouring segments stay apart in grey-scale print.
PALETTE = {
    "in_window": "#1e6b35",
    "late": "#8fcf8a",
    "expired": "#b3261e",
    "open": "#d0d0cb",
    "not_brought": "#b3261e",
    "cancelled_by_guardian": "#e0a040",
    "bar": "#2a5d9f",
}

_ids = count(1)


@dataclass(frozen=True)
class Segment:
    key: str
    label: str


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}".replace(".", ",") + " %"


def _open(width: int, height: int, title: str, desc: str) -> tuple[str, str]:
    uid = f"chart{next(_ids)}"
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-labelledby="{uid}-t {uid}-d">'
        f'<title id="{uid}-t">{escape(title)}</title><desc id="{uid}-d">{escape(desc)}</desc>'
    )
    return head, "</svg>"


def _text(x: float, y: float, text: str, *, anchor: str = "start", size: int = 12, weight: str = "normal", fill: str = INK) -> str:
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}" font-size="{size}" font-weight="{weight}" '
        f'fill="{fill}" {FONT}>{escape(text)}</text>'
    )


def _legend(segments: list[Segment], y: float, x0: float) -> str:
    parts, x = [], x0
    for segment in segments:
        parts.append(
            f'<rect x="{_num(x)}" y="{_num(y - 10)}" width="12" height="12" fill="{PALETTE[segment.key]}" stroke="{INK}" stroke-width="0.5"/>'
        )
        parts.append(_text(x + 16, y, segment.label, size=11))
        x += 26 + 5.9 * len(segment.label)
    return "".join(parts)


def stacked_share_bars(
    *, title: str, desc: str, rows: list[tuple[str, dict[str, int], int, float | None]], segments: list[Segment]
) -> SafeString:
    """One horizontal bar per row, split into segments as shares of the row's total.

    ``rows`` are (label, {segment key: count}, total, headline share in percent).
    A row whose total is zero draws an empty frame and a dash.
    """
    label_w, bar_w, value_w, row_h = 130, 420, 70, 22
    width = label_w + bar_w + value_w
    top = 30
    height = top + row_h * len(rows) + 12
    head, tail = _open(width, height, title, desc)
    parts = [head, _legend(segments, 16, 4)]
    for index, (label, counts, total, headline) in enumerate(rows):
        y = top + index * row_h
        parts.append(_text(label_w - 8, y + 15, label, anchor="end"))
        x = float(label_w)
        if total:
            for segment in segments:
                value = counts.get(segment.key, 0)
                if not value:
                    continue
                w = bar_w * value / total
                parts.append(
                    f'<rect x="{_num(x)}" y="{y + 3}" width="{_num(w)}" height="{row_h - 6}" fill="{PALETTE[segment.key]}">'
                    f"<title>{escape(gettext('%(label)s: %(value)s av %(total)s') % {'label': segment.label, 'value': value, 'total': total})}</title></rect>"
                )
                x += w
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{bar_w}" height="{row_h - 6}" fill="none" stroke="{INK}" stroke-width="0.6"/>'
        )
        parts.append(_text(label_w + bar_w + 6, y + 15, _percent(headline), weight="bold"))
    parts.append(tail)
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


def _nice_step(value: int, ticks: int = 4) -> int:
    """The smallest whole 1, 2 or 5 times a power of ten that reaches ``value`` in ``ticks`` steps."""
    if value <= ticks:
        return 1
    magnitude = 10 ** int(math.log10(value / ticks))
    for step in (1, 2, 5, 10):
        if value <= ticks * step * magnitude:
            return step * magnitude
    return 10 * magnitude


def column_chart(*, title: str, desc: str, points: list[tuple[str, int]], key: str = "not_brought") -> SafeString:
    """Vertical bars, one per point (e.g. a month), with the value above each bar."""
    left, bottom, top, plot_h = 40, 34, 14, 160
    col_w = max(18, min(48, 560 // max(1, len(points))))
    width = left + col_w * len(points) + 10
    height = top + plot_h + bottom
    step = _nice_step(max((value for _label, value in points), default=0))
    peak = 4 * step
    head, tail = _open(width, height, title, desc)
    parts = [head]
    for tick in range(0, 5):
        value = step * tick
        y = top + plot_h - plot_h * tick / 4
        parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{_num(y)}" y2="{_num(y)}" stroke="{GRID}" stroke-width="1"/>')
        parts.append(_text(left - 4, y + 4, _num(value), anchor="end", size=10))
    for index, (label, value) in enumerate(points):
        x = left + index * col_w
        h = plot_h * value / peak if peak else 0
        y = top + plot_h - h
        parts.append(
            f'<rect x="{x + 3}" y="{_num(y)}" width="{col_w - 6}" height="{_num(h)}" fill="{PALETTE[key]}">'
            f"<title>{escape(label)}: {value}</title></rect>"
        )
        if value:
            parts.append(_text(x + col_w / 2, y - 3, str(value), anchor="middle", size=10))
        parts.append(_text(x + col_w / 2, top + plot_h + 14, label, anchor="middle", size=10))
    parts.append(f'<line x1="{left}" x2="{width - 10}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="{INK}" stroke-width="1"/>')
    parts.append(tail)
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


def _short(label: str, limit: int = 44) -> str:
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def bar_chart(*, title: str, desc: str, rows: list[tuple[str, int]], key: str = "bar") -> SafeString:
    """Horizontal bars with their values, in the order given (long labels are shortened; the table has them whole)."""
    label_w, bar_w, value_w, row_h = 300, 260, 50, 22
    width = label_w + bar_w + value_w
    height = row_h * len(rows) + 8
    peak = max((value for _label, value in rows), default=0)
    head, tail = _open(width, height, title, desc)
    parts = [head]
    for index, (label, value) in enumerate(rows):
        y = 4 + index * row_h
        w = bar_w * value / peak if peak else 0
        parts.append(_text(label_w - 8, y + 15, _short(label), anchor="end"))
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{_num(w)}" height="{row_h - 6}" fill="{PALETTE[key]}">'
            f"<title>{escape(label)}: {value}</title></rect>"
        )
        parts.append(_text(label_w + w + 6, y + 15, str(value)))
    parts.append(tail)
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
