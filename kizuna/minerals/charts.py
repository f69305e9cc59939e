"""Charts an analyst wants, drawn with matplotlib (Agg backend, PNG files).

Each chart is built as a figure by a ``*_figure`` function (tests render and inspect it) and written by
:func:`save_png`:

* :func:`profile_figure` - stacked horizontal bars: supplier shares per stage/series, HHI in the label;
* :func:`exposure_figure` - per partner and stage, import shares by supplier (stacked) and GeoPolRisk;
* :func:`scenario_figure` - shortfall before/after reallocation, % of apparent consumption, per partner;
* :func:`diversify_figure` - today's vs optimal allocation per partner (stacked tonnes);
* :func:`eu_crm_figure` - supply risk against economic importance per material.

In the stacked bars every supplier named in the legend has a colour of its own: China is red, the
aggregates are grey, and the :data:`PALETTE` colours are far apart (CIE76 colour difference of at least 25
between any two of them and the fixed ones). When more suppliers appear than the palette holds, the ones
with the smallest shares are drawn together as "other", never in a colour that is already taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kizuna.errors import InputError

_TOP = 6
CHINA = "#c0392b"
OTHER = "#d5d8dc"
ROW = "#7f8c8d"
#: Colours of the named suppliers other than China, in order of use (hues far apart; no reds, no greys).
PALETTE = (
    "#1f77b4",  # blue
    "#ff7f0e",  # orange
    "#2ca02c",  # green
    "#9467bd",  # purple
    "#8c564b",  # brown
    "#e377c2",  # pink
    "#bcbd22",  # olive
    "#17becf",  # cyan
    "#0b2e6b",  # navy
    "#222222",  # near black
)
FIXED = {"CHN": CHINA, "other": OTHER, "ROW": ROW}
_DARK_TEXT_ON = {OTHER, "#bcbd22", "#17becf", "#ff7f0e"}


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def colours_for(keys: Sequence[str]) -> dict[str, str]:
    """A distinct colour for each key (``keys`` beyond the palette must already be merged into 'other')."""
    out = {k: FIXED[k] for k in keys if k in FIXED}
    rest = [k for k in keys if k not in FIXED]
    if len(rest) > len(PALETTE):
        raise InputError(f"{len(rest)} suppliers but only {len(PALETTE)} distinct colours")
    out.update(zip(rest, PALETTE, strict=False))
    return out


def _top(shares: dict[str, float], n: int = _TOP) -> dict[str, float]:
    items = sorted(shares.items(), key=lambda kv: -kv[1])
    top = dict(items[:n])
    rest = sum(v for _, v in items[n:])
    if rest > 0:
        top["other"] = top.get("other", 0.0) + rest
    return top


def _limit_keys(tops: list[tuple[str, dict[str, float]]]) -> list[tuple[str, dict[str, float]]]:
    """Merge into 'other' the suppliers beyond what the palette can colour (smallest largest-share first)."""
    best: dict[str, float] = {}
    for _, vals in tops:
        for k, v in vals.items():
            if k not in FIXED:
                best[k] = max(best.get(k, 0.0), v)
    kept = set(sorted(best, key=lambda k: (-best[k], k))[: len(PALETTE)])
    merged = []
    for label, vals in tops:
        new: dict[str, float] = {}
        for k, v in vals.items():
            key = k if k in FIXED or k in kept else "other"
            new[key] = new.get(key, 0.0) + v
        merged.append((label, new))
    return merged


def save_png(fig: Any, path: Path) -> None:
    """Write ``fig`` as a PNG at ``path`` (the caller chose and checked the path) and close it."""
    try:
        fig.savefig(path, dpi=130, bbox_inches="tight", format="png")
    except OSError as exc:
        raise InputError(f"cannot write chart: {exc.strerror}", path=str(path)) from None
    finally:
        _plt().close(fig)


def check_png_name(path: Path) -> None:
    if path.suffix.lower() != ".png":
        raise InputError("charts are written as PNG; give a FILE.png", path=str(path))


def stacked_bars(
    rows: list[tuple[str, dict[str, float]]], title: str, xlabel: str, *, percent: bool = True
) -> Any:
    """One horizontal stacked bar per (label, {key: value}); keys beyond the top few become 'other'.
    Returns the figure."""
    plt = _plt()
    tops = _limit_keys([(label, _top(vals)) for label, vals in rows])
    keys: list[str] = []
    for _, vals in tops:
        for k in sorted(vals, key=lambda k: -vals[k]):
            if k not in keys and k not in ("other", "ROW"):
                keys.append(k)
    keys += [k for k in ("ROW", "other") if any(k in vals for _, vals in tops)]
    colours = colours_for(keys)
    fig_h_in = 0.75 * len(tops) + 1.8
    fig, ax = plt.subplots(figsize=(9.5, fig_h_in))
    for y, (_label, vals) in enumerate(tops):
        total = sum(vals.values())
        # shares as percentages; a total above 100 % (rounded shares) is scaled down so no bar is clipped
        scale = (100.0 / max(total, 1.0)) if percent else 1.0
        left = 0.0
        ordered = sorted(vals, key=lambda k: (k in ("other", "ROW"), -vals[k]))
        for k in ordered:
            v = vals.get(k, 0.0)
            if v <= 0:
                continue
            width = v * scale
            (bar,) = ax.barh(y, width, left=left, color=colours[k], edgecolor="white", linewidth=0.6)
            bar.set_gid(k)  # which supplier the segment is (tests check it has its legend colour)
            if total > 0 and v / total >= 0.07:
                ink = "black" if colours[k] in _DARK_TEXT_ON else "white"
                ax.text(left + width / 2, y, k, ha="center", va="center", fontsize=8, color=ink)
            left += width
    ax.set_yticks(range(len(tops)))
    ax.set_yticklabels([label for label, _ in tops], fontsize=8)
    ax.invert_yaxis()
    if percent:
        ax.set_xlim(0, 100)
    ax.set_xlabel(xlabel)
    ax.set_title(title, fontsize=11)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[k]) for k in keys]
    # the legend sits a fixed 0.45 inch below the axis (under the x label), whatever the figure height
    below = -0.45 / max(0.5, fig_h_in * 0.77)
    ax.legend(
        handles, keys, ncol=min(len(keys), 9), fontsize=7, loc="upper center", bbox_to_anchor=(0.5, below)
    )
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def profile_figure(profile_dict: dict[str, Any]) -> Any:
    rows = []
    for s in profile_dict["series"]:
        what = s["basis"].split(": ", 1)[-1][:40]
        src = {"usgs": "USGS MCS", "eu_crm_2023": "EU CRM"}.get(s["source"], s["source"])
        label = f"{s['stage']}: {src} {s['year']}\n{what} (HHI {s['hhi']:,.0f})"
        rows.append((label, {k: v / 100.0 for k, v in s["shares_pct"].items()}))
    return stacked_bars(rows, f"{profile_dict['name']}: supplier shares by stage", "share of supply (%)")


def exposure_figure(exposures: list[dict[str, Any]]) -> Any:
    rows = []
    for e in exposures:
        for s in e["stages"]:
            proxy = " (proxy)" if s["proxy"] else ""
            ir = s["import_reliance_pct"]
            ir_txt = "n/a" if ir is None else f"{ir:.0f} %"
            label = (
                f"{e['partner']} {e['name']} {s['stage']}{proxy}\n"
                f"IR {ir_txt}, import HHI {s['import_hhi']:,.0f}, GeoPolRisk {s['geopolrisk']['score']:.3f}"
            )
            rows.append((label, {k: v / 100.0 for k, v in s["import_shares_pct"].items()}))
    return stacked_bars(rows, "Partner exposure: import shares by supplier", "share of imports (%)")


def scenario_figure(result: dict[str, Any]) -> Any:
    plt = _plt()
    impacts = [i for i in result["impacts"] if i["before"]["total_pct"] is not None]
    if not impacts:
        impacts = result["impacts"]
    labels = [f"{i['partner']}\n{i['restriction']}" for i in impacts]
    direct = [i["before"]["direct_pct"] or 0.0 for i in impacts]
    processed = [i["before"]["through_processing_pct"] or 0.0 for i in impacts]
    after = [i["after"]["total_pct"] or 0.0 for i in impacts]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(impacts) + 2), 4.8))
    xs = list(range(len(impacts)))
    w = 0.38
    ax.bar([x - w / 2 for x in xs], direct, w, color="#c0392b", label="before: direct")
    ax.bar(
        [x - w / 2 for x in xs],
        processed,
        w,
        bottom=direct,
        color="#f39c12",
        label="before: through processing",
    )
    ax.bar([x + w / 2 for x in xs], after, w, color="#2e86c1", label="after spare-capacity reallocation")
    for x, d, p, a in zip(xs, direct, processed, after, strict=True):
        ax.text(x - w / 2, d + p, f"{d + p:.0f}%", ha="center", va="bottom", fontsize=8)
        ax.text(x + w / 2, a, f"{a:.0f}%", ha="center", va="bottom", fontsize=8)
    top = max([*(d + p for d, p in zip(direct, processed, strict=True)), *after, 1.0])
    ax.set_ylim(0, top * 1.3)  # room for the value labels and the legend above the tallest bar
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("shortfall, % of apparent consumption")
    ax.set_title(f"Scenario: {result['scenario']} (trade year {result['year']})", fontsize=11)
    ax.legend(fontsize=8, loc="upper right")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def diversify_figure(result: dict[str, Any]) -> Any:
    rows = []
    for p in result["partners"]:
        for when in ("today", "optimal"):
            alloc = p[f"{when}_t"]
            total = sum(alloc.values()) or 1.0
            label = (
                f"{p['partner']} {when}\nallied {p[f'allied_share_{when}_pct']:.0f} %, "
                f"HHI {p[f'import_hhi_{when}']:,.0f}"
            )
            rows.append((label, {k: v / total for k, v in alloc.items()}))
    return stacked_bars(
        rows,
        f"{result['mineral']}: sourcing today and after the joint optimisation (HS {result['hs92']})",
        "share of each partner's demand (%)",
    )


def eu_crm_figure(doc: dict[str, Any]) -> Any:
    plt = _plt()
    mats = [m for m in doc["materials"] if m.get("sr") is not None and m.get("ei") is not None]
    fig, ax = plt.subplots(figsize=(9, 6.5))
    ax.scatter([m["ei"] for m in mats], [m["sr"] for m in mats], s=14, color="#2e86c1", label="material")
    for m in mats:
        ax.annotate(m["material"], (m["ei"], m["sr"]), fontsize=6, xytext=(2, 2), textcoords="offset points")
    ax.axhline(1.0, color="#c0392b", lw=0.8, ls="--", label="SR threshold 1.0")
    ax.axvline(2.8, color="#c0392b", lw=0.8, ls=":", label="EI threshold 2.8")
    if mats:  # every point and its label inside the axes: 10 % margin beyond the extreme values
        xs = [m["ei"] for m in mats] + [2.8]
        ys = [m["sr"] for m in mats] + [1.0]
        ax.set_xlim(min(0.0, min(xs)), max(xs) * 1.12)
        ax.set_ylim(min(0.0, min(ys)), max(ys) * 1.1)
    ax.set_xlabel("economic importance EI (kizuna, scaled 0-10)")
    ax.set_ylabel("supply risk SR (kizuna; assumptions in the JSON)")
    ax.set_title("EU CRM 2023 inputs: SR vs EI (thresholds SR 1.0, EI 2.8)", fontsize=11)
    ax.legend(fontsize=8, loc="lower right")  # high importance, low risk: the emptiest corner
    ax.spines[["top", "right"]].set_visible(False)
    return fig
