"""Every minerals chart, rendered from the shipped data and inspected: its legend (one label per colour,
colours far apart, each bar in its legend colour) and its extent (nothing clipped, labels inside the axes,
the legend clear of the bars)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import pytest

from kizuna.minerals import charts
from kizuna.minerals.dataset import MineralsData
from kizuna.minerals.diversify import diversify
from kizuna.minerals.eucrm import Assumptions, compute_crm
from kizuna.minerals.exposure import exposure
from kizuna.minerals.profile import profile
from kizuna.minerals.restrictions import SEEDED  # noqa: F401  (the scenario files name these)
from kizuna.minerals.scenario import load_scenario, run_scenario

EXAMPLES = Path(charts.__file__).parent / "examples"
#: Smallest colour difference (CIE76, in CIELAB units) between any two legend entries: about the step
#: between clearly different hues; two shades of one green (tab20's pairs) are about 20 apart.
MIN_DELTA_E = 25.0


def lab(hex_colour: str) -> tuple[float, float, float]:
    """sRGB hex -> CIELAB (D65)."""
    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = lin(r), lin(g), lin(b)
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def test_the_palette_and_fixed_colours_are_far_apart() -> None:
    colours = [*charts.PALETTE, *charts.FIXED.values()]
    assert len(set(colours)) == len(colours)
    for a, b in itertools.combinations(colours, 2):
        assert math.dist(lab(a), lab(b)) >= MIN_DELTA_E, (a, b)


def _hex(rgba: Any) -> str:
    from matplotlib.colors import to_hex

    return str(to_hex(rgba)).lower()


def inspect(fig: Any, *, stacked: bool) -> dict[str, str]:
    """Assert the chart's extent and legend; returns its legend as {label: colour}."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    (ax,) = fig.axes
    box = ax.get_window_extent(renderer)
    legend = ax.get_legend()
    assert legend is not None
    labels = [t.get_text() for t in legend.get_texts()]
    handles = legend.legend_handles
    colours = {label: _hex(h.get_facecolor() if hasattr(h, "get_facecolor") else h.get_color())
               for label, h in zip(labels, handles, strict=True)}  # fmt: skip
    assert len(set(labels)) == len(labels), f"a label twice: {labels}"
    if stacked:
        assert len(set(colours.values())) == len(colours), f"a colour twice: {colours}"
        for a, b in itertools.combinations(colours, 2):
            assert math.dist(lab(colours[a]), lab(colours[b])) >= MIN_DELTA_E, (a, b, colours)
    x0, x1 = ax.get_xlim()
    y0, y1 = sorted(ax.get_ylim())
    for patch in ax.patches:  # every bar inside the axes' limits: nothing clipped
        bb = patch.get_bbox()
        assert x0 - 1e-9 <= bb.x0 and bb.x1 <= x1 + 1e-6, (bb, x0, x1)
        assert y0 - 1e-9 <= bb.y0 and bb.y1 <= y1 + 1e-9, (bb, y0, y1)
        if stacked:  # each bar in the colour its supplier has in the legend
            assert colours[patch.get_gid()] == _hex(patch.get_facecolor()), patch.get_gid()
    for text in ax.texts:  # value and supplier labels inside the axes
        tb = text.get_window_extent(renderer)
        assert box.x0 - 1 <= tb.x0 and tb.x1 <= box.x1 + 1 and box.y0 - 1 <= tb.y0 and tb.y1 <= box.y1 + 1, (
            text.get_text()
        )
    lb = legend.get_window_extent(renderer)
    if stacked:  # below the axes, clear of the bars
        assert lb.y1 <= box.y0, (lb, box)
    else:  # inside, clear of every bar, point and label
        for patch in ax.patches:
            pb = patch.get_window_extent(renderer)
            assert not lb.overlaps(pb) or pb.height < 1, (patch, lb)
        for text in ax.texts:
            assert not lb.overlaps(text.get_window_extent(renderer)), text.get_text()
        for points in ax.collections:
            for x, y in points.get_offset_transform().transform(points.get_offsets()):
                assert not lb.contains(x, y), (x, y)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return colours


def test_profile_chart(data: MineralsData) -> None:
    for key in ("rare_earths", "gallium", "graphite_natural", "cobalt"):
        inspect(charts.profile_figure(profile(data, key).as_dict()), stacked=True)


def test_exposure_chart_gives_every_country_its_own_colour(data: MineralsData) -> None:
    docs = [
        exposure(data, p, m).as_dict()
        for p in ("GBR", "JPN")
        for m in ("rare_earths", "gallium", "graphite_natural", "cobalt")
    ]
    colours = inspect(charts.exposure_figure(docs), stacked=True)
    assert colours["CHN"] == charts.CHINA and "FIN" in colours  # Finland refines Japan's cobalt
    assert len(colours) >= 10


def test_scenario_chart(data: MineralsData) -> None:
    from datetime import date

    for name in ("rare-earths-2025-04", "gallium-2023", "graphite-2023", "cobalt-drc-2025"):
        sc = load_scenario(EXAMPLES / f"{name}.toml", today=date(2026, 1, 1))
        colours = inspect(charts.scenario_figure(run_scenario(data, sc).as_dict()), stacked=False)
        assert set(colours) == {
            "before: direct",
            "before: through processing",
            "after spare-capacity reallocation",
        }


def test_diversify_chart(data: MineralsData) -> None:
    for key, exclude in (("rare_earths", ()), ("graphite_natural", ()), ("cobalt", ("CHN",))):
        doc = diversify(data, key, exclude=exclude).as_dict()
        inspect(charts.diversify_figure(doc), stacked=True)


def test_eu_crm_chart(data: MineralsData) -> None:
    results = compute_crm(data.eu_global, data.eu_sourcing, data.eu_use, data.governance, Assumptions())
    doc = {"materials": [r.as_dict() for r in results]}
    colours = inspect(charts.eu_crm_figure(doc), stacked=False)
    assert set(colours) == {"material", "SR threshold 1.0", "EI threshold 2.8"}


def test_too_many_suppliers_are_drawn_as_other_never_in_a_taken_colour() -> None:
    rows = [(f"row {i}", {f"S{i:02d}{j}": 0.2 for j in range(5)}) for i in range(6)]  # 30 suppliers
    colours = inspect(charts.stacked_bars(rows, "t", "x"), stacked=True)
    assert "other" in colours and len(colours) == len(charts.PALETTE) + 1


@pytest.mark.parametrize("command", ["profile gallium", "exposure --partner GBR --mineral cobalt"])
def test_the_cli_says_which_chart_it_wrote(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kizuna.cli import main

    chart = tmp_path / "chart.png"
    assert main(["minerals", *command.split(), "--chart", str(chart)]) == 0
    assert capsys.readouterr().err.splitlines()[-1] == f"kizuna: wrote chart {chart}"
    assert chart.read_bytes().startswith(b"\x89PNG")
