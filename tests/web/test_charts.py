"""Inline SVG bar charts: proportions, escaping, accessibility."""

from __future__ import annotations

import random
import re
import xml.etree.ElementTree as ET

import pytest

from kizuna.web.charts import MAX_LABEL_CHARS, Bar, bar_chart, bar_widths_px

SVG = "{http://www.w3.org/2000/svg}"


def test_widths_are_proportional_to_values() -> None:
    rng = random.Random(7)
    for _ in range(200):
        values = [rng.randint(0, 10_000) for _ in range(rng.randint(1, 12))]
        widths = bar_widths_px(values, 300)
        top = max(values)
        for v, w in zip(values, widths, strict=True):
            if top == 0 or v == 0:
                assert w == 0
            else:
                assert w == max(2, round(v * 300 / top))
                assert abs(w - v * 300 / top) <= 2  # within 2 px of exact (rounding and the 2 px floor)
        if top:
            assert widths[values.index(top)] == 300


def test_negative_values_are_refused() -> None:
    with pytest.raises(ValueError):
        bar_widths_px([1, -1], 100)


def test_chart_is_valid_svg_with_one_row_per_bar() -> None:
    bars = [Bar("indicator", 20, href="/ui/collections/c?type=indicator"), Bar("malware", 5), Bar("tool", 0)]
    svg = ET.fromstring(str(bar_chart(bars, title="Objects per type", chart_id="t")))
    # its bars are links: a group (an image's children cannot be interactive); without links, an image
    assert svg.get("role") == "group" and svg.get("aria-labelledby") == "t-t"
    assert ET.fromstring(str(bar_chart([Bar("x", 1)], title="t", chart_id="u"))).get("role") == "img"
    assert svg.find(f"{SVG}title").text == "Objects per type"  # type: ignore[union-attr]
    rects = svg.findall(f".//{SVG}rect")
    assert [int(r.get("width", "")) for r in rects] == bar_widths_px([20, 5, 0], 460 - 170 - 60)
    links = svg.findall(f"{SVG}a")
    assert [a.get("href") for a in links] == ["/ui/collections/c?type=indicator"]


def test_labels_are_escaped_and_cut() -> None:
    evil = '<script>alert(1)</script>"&' + "x" * 40
    out = str(bar_chart([Bar(evil, 3, css_class='bar" onclick="x')], title="<t>", chart_id='c"'))
    assert "<script" not in out and 'onclick="x' not in out and "<t>" not in out
    svg = ET.fromstring(out)  # still well-formed
    label = svg.find(f".//{SVG}text")
    assert label is not None and label.text is not None
    assert len(label.text) == MAX_LABEL_CHARS and label.text.endswith("\u2026")
    tooltip = svg.find(f".//{SVG}g/{SVG}title")
    assert tooltip is not None and tooltip.text == f"{evil}: 3"


def test_empty_chart_says_so() -> None:
    out = str(bar_chart([], title="nothing", chart_id="e"))
    assert "No objects" in out and not re.search(r"<svg", out)
