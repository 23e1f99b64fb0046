"""The server-side charts: escaped labels, no style attributes (CSP), readable axes."""

from __future__ import annotations

import re

from followup.statistics import svg


def test_labels_are_escaped_and_no_style_attribute_is_used():
    chart = svg.bar_chart(title="Årsaker <script>", desc="d", rows=[('<img src=x onerror="alert(1)">', 3), ("Sykdom", 1)])
    assert "<script>" not in chart and "<img" not in chart
    assert "&lt;img" in chart
    assert "style=" not in chart and "<style" not in chart
    assert 'role="img"' in chart and "<title" in chart


def test_stacked_bars_split_each_bar_by_share_and_show_the_headline():
    chart = svg.stacked_share_bars(
        title="Dekning", desc="d",
        rows=[("Hjemmebesøk", {"in_window": 3, "late": 1}, 4, 75.0), ("4 år", {}, 0, None)],
        segments=[svg.Segment("in_window", "I tide"), svg.Segment("late", "For sent")],
    )
    widths = [float(w) for w in re.findall(r'<rect x="[\d.]+" y="\d+" width="([\d.]+)" height="16" fill="#\w+"><title>', chart)]
    assert widths[:2] == [315.0, 105.0]  # 3/4 and 1/4 of 420
    assert "75,0 %" in chart and "–" in chart


def test_column_chart_ticks_are_whole_numbers():
    chart = svg.column_chart(title="t", desc="d", points=[("jan", 29), ("feb", 43)])
    ticks = re.findall(r'text-anchor="end" font-size="10"[^>]*>([^<]+)<', chart)
    assert ticks == ["0", "20", "40", "60", "80"]
