"""Charts an analyst wants, drawn with matplotlib (Agg backend, PNG files).

* :func:`profile_chart` - stacked horizontal bars: supplier shares per stage/series, HHI in the label;
* :func:`exposure_chart` - per partner and stage, import shares by supplier (stacked) and GeoPolRisk;
* :func:`scenario_chart` - shortfall before/after reallocation, % of apparent consumption, per partner;
* :func:`diversify_chart` - today's vs optimal allocation per partner (stacked tonnes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kizuna.errors import InputError

_TOP = 6
_CHINA = "#c0392b"
_GREY = "#d5d8dc"
_ROW = "#aab7b8"
# tab20 without its reds and greys (China keeps red; aggregates are grey)
_PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
    "#aec7e8", "#ffbb78", "#98df8a", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5",
]  # fmt: skip


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colours(keys: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {"CHN": _CHINA, "other": _GREY, "ROW": _ROW}
    rest = [k for k in keys if k not in out]
    for i, k in enumerate(rest):
        out[k] = _PALETTE[i % len(_PALETTE)]
    return out


def _top(shares: dict[str, float], n: int = _TOP) -> dict[str, float]:
    items = sorted(shares.items(), key=lambda kv: -kv[1])
    top = dict(items[:n])
    rest = sum(v for _, v in items[n:])
    if rest > 0:
        top["other"] = rest
    return top


def _save(fig: Any, path: Path) -> None:
    if path.suffix.lower() != ".png":
        raise InputError("charts are written as PNG; give a FILE.png", path=str(path))
    try:
        fig.savefig(path, dpi=130, bbox_inches="tight")
    except OSError as exc:
        raise InputError(f"cannot write chart: {exc.strerror}", path=str(path)) from None
    finally:
        _plt().close(fig)


def stacked_bars(
    rows: list[tuple[str, dict[str, float]]], title: str, xlabel: str, path: Path, *, percent: bool = True
) -> None:
    """One horizontal stacked bar per (label, {key: value}); keys beyond the top few become 'other'."""
    plt = _plt()
    tops = [(label, _top(vals)) for label, vals in rows]
    keys: list[str] = []
    for _, vals in tops:
        for k in vals:
            if k not in keys and k != "other":
                keys.append(k)
    keys.sort(key=lambda k: k == "ROW")
    keys.append("other")
    colours = _colours(keys)
    fig_h_in = 0.75 * len(tops) + 1.8
    fig, ax = plt.subplots(figsize=(9.5, fig_h_in))
    for y, (_label, vals) in enumerate(tops):
        left = 0.0
        ordered = sorted(vals, key=lambda k: (k in ("other", "ROW"), -vals[k]))
        for k in ordered:
            v = vals.get(k, 0.0)
            if v <= 0:
                continue
            width = 100.0 * v if percent else v
            ax.barh(y, width, left=left, color=colours[k], edgecolor="white", linewidth=0.6)
            total = sum(vals.values())
            if v / total >= 0.07:
                ax.text(left + width / 2, y, k, ha="center", va="center", fontsize=8, color="white")
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
    _save(fig, path)


def profile_chart(profile_dict: dict[str, Any], path: Path) -> None:
    rows = []
    for s in profile_dict["series"]:
        what = s["basis"].split(": ", 1)[-1][:40]
        src = {"usgs": "USGS MCS", "eu_crm_2023": "EU CRM"}.get(s["source"], s["source"])
        label = f"{s['stage']}: {src} {s['year']}\n{what} (HHI {s['hhi']:,.0f})"
        rows.append((label, {k: v / 100.0 for k, v in s["shares_pct"].items()}))
    stacked_bars(rows, f"{profile_dict['name']}: supplier shares by stage", "share of supply (%)", path)


def exposure_chart(exposures: list[dict[str, Any]], path: Path) -> None:
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
    stacked_bars(rows, "Partner exposure: import shares by supplier", "share of imports (%)", path)


def scenario_chart(result: dict[str, Any], path: Path) -> None:
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
    ax.set_xticks(xs)
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("shortfall, % of apparent consumption")
    ax.set_title(f"Scenario: {result['scenario']} (trade year {result['year']})", fontsize=11)
    ax.legend(fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    _save(fig, path)


def diversify_chart(result: dict[str, Any], path: Path) -> None:
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
    stacked_bars(
        rows,
        f"{result['mineral']}: sourcing today and after the joint optimisation (HS {result['hs92']})",
        "share of each partner's demand (%)",
        path,
    )
