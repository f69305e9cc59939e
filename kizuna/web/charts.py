"""Small horizontal bar charts as inline SVG, drawn on the server (no script, no external asset).

Colours come from CSS classes (``bar``, ``tlp-red`` ...) so the stylesheet, not the markup, holds the
palette, and the strict Content-Security-Policy (no inline styles) holds. Every label is escaped: STIX text
is untrusted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from kizuna.errors import InputError

#: Labels longer than this many characters are cut (the full label stays in the bar's tooltip).
MAX_LABEL_CHARS = 24


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: int
    css_class: str = "bar"
    href: str | None = None  # where a click on the bar leads (e.g. the table filtered to this type)


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "\u2026"


def bar_widths_px(values: Sequence[int], track_px: int) -> list[int]:
    """Bar lengths proportional to ``values``; the largest fills ``track_px``; non-zero values get >= 2 px."""
    if any(v < 0 for v in values):
        raise InputError("bar values must not be negative")
    top = max(values, default=0)
    if top == 0:
        return [0 for _ in values]
    return [0 if v == 0 else max(2, round(v * track_px / top)) for v in values]


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    chart_id: str,
    width_px: int = 460,
    row_px: int = 24,
    label_px: int = 170,
    count_px: int = 60,
) -> Markup:
    """An accessible SVG bar chart (``role="img"`` with a ``<title>``), one row per bar, the largest full."""
    if not bars:
        return Markup('<p class="empty">No objects to chart.</p>')
    track_px = width_px - label_px - count_px
    widths = bar_widths_px([b.value for b in bars], track_px)
    bar_h = row_px - 8
    height_px = row_px * len(bars) + 4
    cid = escape(chart_id)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="{cid}-t"'
        f' width="{width_px}" height="{height_px}" viewBox="0 0 {width_px} {height_px}">',
        f'<title id="{cid}-t">{escape(title)}</title>',
    ]
    for i, (bar, w) in enumerate(zip(bars, widths, strict=True)):
        y = 2 + i * row_px
        mid = y + row_px / 2
        row = (
            f"<g><title>{escape(bar.label)}: {bar.value}</title>"
            f'<text class="label" x="{label_px - 8}" y="{mid:.1f}" text-anchor="end"'
            f' dominant-baseline="middle">{escape(_short(bar.label))}</text>'
            f'<rect class="{escape(bar.css_class)}" x="{label_px}" y="{y + 4}" width="{w}" height="{bar_h}"'
            f' rx="2"/>'
            f'<text class="count" x="{label_px + w + 6}" y="{mid:.1f}"'
            f' dominant-baseline="middle">{bar.value}</text></g>'
        )
        if bar.href is not None:
            row = f'<a href="{escape(bar.href)}">{row}</a>'
        parts.append(row)
    parts.append("</svg>")
    return Markup("".join(parts))
