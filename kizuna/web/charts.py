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
    # a chart whose bars are links is a group of links (an image's children are not interactive)
    role = "group" if any(b.href for b in bars) else "img"
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="{role}" aria-labelledby="{cid}-t"'
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


# -- sparklines -----------------------------------------------------------------------------------------
def sparkline(values: Sequence[int], *, label: str, width_px: int = 150, height_px: int = 28) -> Markup:
    """A small line of counts per day (oldest first) with its text alternative."""
    n = len(values)
    top = max(values, default=0)
    if n == 0:
        return Markup("")
    step = (width_px - 4) / max(1, n - 1)
    points = []
    for i, v in enumerate(values):
        x = 2 + i * step
        y = height_px - 3 - (0 if top == 0 else (height_px - 6) * v / top)
        points.append(f"{x:.1f},{y:.1f}")
    peak = max(range(n), key=lambda i: values[i]) if top else None
    words = f"{label}: {sum(values)} in {n} days" + (
        f", most ({top}) on day {peak + 1}" if peak is not None else ""
    )
    dot = ""
    if peak is not None:
        px, py = points[peak].split(",")
        dot = f'<circle class="spark-peak" cx="{px}" cy="{py}" r="2.2"/>'
    return Markup(
        f'<svg class="spark" xmlns="http://www.w3.org/2000/svg" role="img" width="{width_px}"'
        f' height="{height_px}" viewBox="0 0 {width_px} {height_px}"><title>{escape(words)}</title>'
        f'<polyline class="spark-line" fill="none" points="{" ".join(points)}"/>{dot}</svg>'
    )


# -- stacked bars (minerals) ----------------------------------------------------------------------------
#: Colours of suppliers in stacked bars (SVG presentation attributes, allowed under the CSP); China keeps
#: red, aggregates grey; every colour reads against white text or sits beside a text label.
SERIES_COLOURS = (
    "#1f5f99",
    "#b35900",
    "#2b7a2b",
    "#6b4c9a",
    "#7a4b3a",
    "#a3386f",
    "#5c6b00",
    "#006d75",
)
FIXED_COLOURS = {"CHN": "#b22222", "other": "#8a8f96", "ROW": "#6f7680"}


@dataclass(frozen=True, slots=True)
class Stack:
    label: str
    parts: tuple[tuple[str, float], ...]  # (key, share 0..1), largest first


def colours_for(keys: Sequence[str]) -> dict[str, str]:
    out = dict(FIXED_COLOURS)
    rest = [k for k in keys if k not in out]
    for i, k in enumerate(rest):
        out[k] = SERIES_COLOURS[i % len(SERIES_COLOURS)]
    return out


def stacked_bars(stacks: Sequence[Stack], *, title: str, chart_id: str, width_px: int = 760) -> Markup:
    """Horizontal bars of shares (0..1), one per stack, each part labelled in text when wide enough and
    named in its tooltip; a legend in text follows. The data table goes beneath (the caller's)."""
    if not stacks:
        return Markup('<p class="empty">Nothing to chart.</p>')
    label_px, row_px = 230, 30
    track = width_px - label_px - 10
    keys: list[str] = []
    for s in stacks:
        keys.extend(k for k, _ in s.parts if k not in keys)
    colours = colours_for(keys)
    height = row_px * len(stacks) + 30
    cid = escape(chart_id)
    out = [
        f'<svg class="chart stacked" xmlns="http://www.w3.org/2000/svg" role="img"'
        f' aria-labelledby="{cid}-t" width="{width_px}" height="{height}" viewBox="0 0 {width_px} {height}">',
        f'<title id="{cid}-t">{escape(title)}</title>',
    ]
    for i, s in enumerate(stacks):
        y = 4 + i * row_px
        out.append(
            f'<text class="label" x="{label_px - 8}" y="{y + row_px / 2:.1f}" text-anchor="end"'
            f' dominant-baseline="middle">{escape(_short(s.label))}</text>'
        )
        x = float(label_px)
        for key, share in s.parts:
            w = max(0.0, min(1.0, share)) * track
            if w <= 0:
                continue
            out.append(
                f"<g><title>{escape(s.label)}: {escape(key)} {share * 100:.1f} %</title>"
                f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{row_px - 8}" fill="{colours[key]}"'
                f' stroke="#ffffff" stroke-width="0.8"/>'
                + (
                    f'<text class="inbar" x="{x + w / 2:.1f}" y="{y + row_px / 2:.1f}" text-anchor="middle"'
                    f' dominant-baseline="middle">{escape(key)}</text>'
                    if w >= 34
                    else ""
                )
                + "</g>"
            )
            x += w
    axis_y = 4 + len(stacks) * row_px + 14
    for pct in (0, 25, 50, 75, 100):
        x = label_px + track * pct / 100
        out.append(f'<text class="count" x="{x:.1f}" y="{axis_y}" text-anchor="middle">{pct} %</text>')
    out.append("</svg>")
    return Markup("".join(out))


# -- matplotlib's SVG, made fit for the page ------------------------------------------------------------
_SVG_NS = "http://www.w3.org/2000/svg"
_XLINK_NS = "http://www.w3.org/1999/xlink"
#: Style properties that SVG also takes as presentation attributes (not subject to the CSP's style-src).
_PRESENTATION = frozenset(
    {
        "clip-path",
        "clip-rule",
        "color",
        "dominant-baseline",
        "fill",
        "fill-opacity",
        "fill-rule",
        "font-family",
        "font-size",
        "font-style",
        "font-weight",
        "opacity",
        "stroke",
        "stroke-dasharray",
        "stroke-dashoffset",
        "stroke-linecap",
        "stroke-linejoin",
        "stroke-miterlimit",
        "stroke-opacity",
        "stroke-width",
        "text-anchor",
    }
)
_ALLOWED_TAGS = frozenset(
    {"svg", "g", "path", "defs", "clipPath", "use", "rect", "circle", "ellipse", "line", "polyline",
     "polygon", "text", "tspan", "title", "desc"}
)  # fmt: skip


def inline_svg(svg: bytes, *, title: str, desc: str, chart_id: str) -> Markup:
    """An SVG document drawn by matplotlib, as an element to put inside the page: no ``<style>``, no
    ``style`` attributes (turned into presentation attributes, which the strict CSP allows), only drawing
    elements, ids prefixed so that two charts on a page never clash, and a title and description for
    screen readers."""
    from xml.etree import ElementTree as ET

    ET.register_namespace("", _SVG_NS)
    ET.register_namespace("xlink", _XLINK_NS)
    root = ET.fromstring(svg)
    prefix = f"{chart_id}-"

    def clean(el: ET.Element) -> None:
        for child in list(el):
            tag = child.tag.split("}")[-1]
            if tag not in _ALLOWED_TAGS:
                el.remove(child)
                continue
            clean(child)
        style = el.attrib.pop("style", None)
        if style:
            for decl in style.split(";"):
                name, sep, value = decl.partition(":")
                name, value = name.strip(), value.strip()
                if sep and name in _PRESENTATION and "url(" not in value.replace("url(#", ""):
                    el.set(name, value)
                elif sep and name == "font":  # "font: 10px 'DejaVu Sans'"
                    size, _, family = value.partition(" ")
                    el.set("font-size", size)
                    el.set("font-family", family.strip() or "sans-serif")
        for attr in list(el.attrib):
            value = el.attrib[attr]
            local = attr.split("}")[-1]
            if local.startswith("on"):
                del el.attrib[attr]
            elif local == "id":
                el.set(attr, prefix + value)
            elif local == "href":
                if value.startswith("#"):
                    el.set(attr, "#" + prefix + value[1:])
                else:
                    del el.attrib[attr]
            elif "url(#" in value:
                el.set(attr, value.replace("url(#", "url(#" + prefix))

    clean(root)
    for attr in ("width", "height"):
        root.attrib.pop(attr, None)
    root.set("role", "img")
    root.set("class", "plot")
    root.set("aria-labelledby", f"{prefix}title {prefix}desc")
    t = ET.Element(f"{{{_SVG_NS}}}title", {"id": f"{prefix}title"})
    t.text = title
    d = ET.Element(f"{{{_SVG_NS}}}desc", {"id": f"{prefix}desc"})
    d.text = desc
    root.insert(0, d)
    root.insert(0, t)
    text = ET.tostring(root, encoding="unicode")
    return Markup(text)
