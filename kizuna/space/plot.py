"""``kizuna space plot``: the encounter plane (covariance ellipse, hard-body circle, miss vector) and
the range between the two objects around TCA (two-body flight of the TCA states)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a window

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle, Ellipse

from kizuna.space.assessment import Geometry
from kizuna.space.montecarlo import rk4_step
from kizuna.space.pc import encounter_plane

__all__ = ["encounter_figure", "plot_encounter", "range_profile"]

#: Room around the drawn shapes, as a share of the axis half-width.
_MARGIN = 1.08


def range_profile(g: Geometry, half_window_s: float, points: int = 801) -> tuple[np.ndarray, np.ndarray]:
    """Times (s from TCA) and ranges (km), flying both TCA states forward and back (two-body RK4)."""
    n_half = points // 2
    h = half_window_s / n_half
    ranges = np.empty(2 * n_half + 1)
    ranges[n_half] = float(np.linalg.norm(g.r2 - g.r1))
    for direction in (1, -1):
        r = np.vstack((g.r1, g.r2))
        v = np.vstack((g.v1, g.v2))
        for k in range(1, n_half + 1):
            r, v = rk4_step(r, v, direction * h, 398600.4418)
            ranges[n_half + direction * k] = float(np.linalg.norm(r[1] - r[0]))
    times = np.arange(-n_half, n_half + 1) * h
    return times, ranges


def plot_encounter(
    g: Geometry, hbr_m: float, title: str, out: str | Path, *, pc_text: str = "", image_format: str = "png"
) -> None:
    """Draw :func:`encounter_figure` into ``out`` (``image_format``: png, svg, pdf ...)."""
    fig = encounter_figure(g, hbr_m, title, pc_text=pc_text)
    try:
        fig.savefig(out, format=image_format)
    finally:
        plt.close(fig)


def encounter_figure(g: Geometry, hbr_m: float, title: str, *, pc_text: str = "") -> Figure:
    """The encounter plane (left) and the range around TCA (right); every shape fits inside the axes."""
    r_rel, v_rel = g.r2 - g.r1, g.v2 - g.v1
    basis = encounter_plane(r_rel, v_rel)
    miss_m = basis @ r_rel * 1000.0
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 5.4), dpi=110)
    fig.suptitle(title, fontsize=12)

    extent = max(float(np.linalg.norm(miss_m)) * 1.4, hbr_m * 4)
    if g.cov1 is not None and g.cov2 is not None:
        cov_m2 = basis @ (g.cov1[:3, :3] + g.cov2[:3, :3]) @ basis.T * 1e6
        evals, evecs = np.linalg.eigh(cov_m2)
        angle = math.degrees(math.atan2(evecs[1, 1], evecs[0, 1]))
        for k, style in ((1, "-"), (3, "--")):
            width, height = 2 * k * math.sqrt(evals[1]), 2 * k * math.sqrt(evals[0])
            ax.add_patch(
                Ellipse((float(miss_m[0]), float(miss_m[1])), width, height, angle=angle, fill=False,
                        ls=style, color="tab:blue", label=f"combined covariance {k} sigma")
            )  # fmt: skip
        extent = max(extent, _MARGIN * (3 * math.sqrt(evals[1]) + float(np.linalg.norm(miss_m))))
    else:
        sigma = float(np.linalg.norm(miss_m)) / math.sqrt(2)
        ax.add_patch(
            Circle((float(miss_m[0]), float(miss_m[1])), sigma, fill=False, ls=":", color="tab:blue",
                   label=f"no covariance (TLE): worst-case 1 sigma = {sigma:.0f} m")
        )  # fmt: skip
        extent = max(extent, _MARGIN * (float(np.linalg.norm(miss_m)) + sigma))
    ax.add_patch(
        Circle((0.0, 0.0), hbr_m, color="tab:red", alpha=0.6, label=f"hard-body circle, {hbr_m:g} m")
    )
    ax.plot(0, 0, "+", color="tab:red", ms=14)
    ax.annotate(
        "", xy=(float(miss_m[0]), float(miss_m[1])), xytext=(0, 0),
        arrowprops={"arrowstyle": "->", "color": "black", "lw": 1.5},
    )  # fmt: skip
    ax.plot([], [], color="black", label=f"miss vector, {np.linalg.norm(miss_m):.1f} m")
    ax.set_xlim(-extent, extent)
    ax.set_ylim(-extent, extent)
    ax.set_aspect("equal")
    ax.grid(True, alpha=0.3)
    ax.set_xlabel("encounter plane x, along the miss (m)")
    ax.set_ylabel("encounter plane z, normal to miss and velocity (m)")
    ax.set_title(
        "Encounter plane (object 1 at the origin)" + (f"\n{pc_text}" if pc_text else ""), fontsize=10
    )
    ax.legend(loc="upper left", fontsize=8, framealpha=0.9)

    speed = float(np.linalg.norm(v_rel))
    half = min(max(5.0, 20 * float(np.linalg.norm(r_rel)) / max(speed, 1e-9)), 3 * 3600.0)
    t, rng = range_profile(g, half)
    unit, scale = ("m", 1000.0) if rng.max() < 5 else ("km", 1.0)
    ax2.plot(t, rng * scale, color="tab:green")
    ax2.axvline(0, color="grey", ls=":", lw=1)
    ax2.axhline(hbr_m / 1000.0 * scale, color="tab:red", ls="--", lw=1, label=f"hard-body radius {hbr_m:g} m")
    ax2.set_xlabel("time from TCA (s)")
    ax2.set_ylabel(f"range ({unit})")
    ax2.set_title(f"Range around TCA (relative speed {speed:.3g} km/s)", fontsize=10)
    ax2.grid(True, alpha=0.3)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig
