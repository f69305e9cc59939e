"""What can be decided before any state is propagated: the radial shell each object can occupy over the
window (the apogee/perigee filter), and objects that share one element set (docked or co-located).

**Radial shell, made exact for SGP4.** An object's osculating radius stays within
``a (1 - e) - pad`` and ``a (1 + e) + pad`` where ``a`` and ``e`` are SGP4's *mean* semi-major axis and
eccentricity, which drift during the window (drag lowers ``a``; drag and resonances change ``e``). kizuna
reads them from SGP4 itself (``Satrec.am``, ``Satrec.em`` after a call) at the window start, end and every
:data:`SAMPLE_S` between, and pads the extremes by the largest short-period J2 terms of SGP4's radius
(``1.5 k2/p^2 |3 cos^2 i - 1| r + 0.5 k2/p |sin^2 i|``), the J3 long-period shift of the eccentricity
vector (``|A_ycof|``, at most ``|J3/J2| / 2``), a margin for what moves between samples, and for SDP4
(deep space) objects the lunar-solar periodic terms. ``tests/space/test_prefilter.py`` checks the shell
against the exact radius every minute on catalogues of every regime, decaying objects included, and checks
that screening with the filter drops no event that screening without it reports.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sgp4.api import Satrec

from kizuna.space.tca import SECONDS_PER_DAY

__all__ = ["RadialShells", "colocated_sets", "radial_shells"]

F64 = NDArray[np.float64]

#: Spacing of the mean-element samples across the window.
SAMPLE_S = 6 * 3600.0
#: Margin for the drift of the mean elements between two samples, in km plus a share of the radius.
DRIFT_MARGIN_KM = 2.0
DRIFT_MARGIN_FRACTION = 2e-4
#: Lunar-solar periodic terms of SDP4 move the eccentricity by up to ~0.01 for HEO orbits.
DEEP_SPACE_ECC = 0.01


@dataclass(frozen=True)
class RadialShells:
    """Per object: lowest and highest radius (km) it can reach in the window. Where SGP4 fails at a sample,
    ``fail_t_s`` is that sample's time (s after the start; NaN: no failure) and ``fail_error`` SGP4's error
    code; the shell then reaches down to the centre of the Earth (it is coming down), and is empty when
    it fails at the start."""

    lo_km: F64
    hi_km: F64
    fail_t_s: F64
    fail_error: NDArray[np.int64]


def _short_period_km(sat: Satrec, a_er: float, e: float) -> float:
    """Bound on the short-period J2 terms SGP4 adds to the radius (km)."""
    k2 = 0.5 * float(sat.j2)
    p = max(a_er * (1.0 - e * e), 0.5)
    cosi = math.cos(float(sat.inclo))
    x3thm1 = abs(3.0 * cosi * cosi - 1.0)
    x1mth2 = abs(1.0 - cosi * cosi)
    r_max = a_er * (1.0 + e)
    return (1.5 * k2 / (p * p) * x3thm1 * r_max + 0.5 * k2 / p * x1mth2) * float(sat.radiusearthkm)


def radial_shells(sats: Sequence[Satrec], jd0: float, fr0: float, duration_s: float) -> RadialShells:
    """The radial shell of every object over ``[jd0 + fr0, + duration_s]`` (see the module docstring)."""
    n = len(sats)
    lo = np.full(n, np.inf)
    hi = np.full(n, -np.inf)
    fail_t = np.full(n, np.nan)
    fail_error = np.zeros(n, dtype=np.int64)
    count = max(2, math.ceil(duration_s / SAMPLE_S) + 1)
    times = np.linspace(0.0, duration_s, count)
    for k, sat in enumerate(sats):
        re = float(sat.radiusearthkm)
        j3oj2 = abs(float(sat.j3oj2))
        deep = sat.method == "d"
        pad_e = 0.5 * j3oj2 + (DEEP_SPACE_ECC if deep else 0.0)
        a_lo, a_hi = math.inf, 0.0
        worst_pad = 0.0
        for t in times:
            err, _r, _v = sat.sgp4(jd0, fr0 + float(t) / SECONDS_PER_DAY)
            if err:
                fail_t[k], fail_error[k] = float(t), int(err)
                # on its way down it passes every radius below the last sample
                a_lo = 0.0
                break
            a, e = float(sat.am), float(sat.em)
            e_hi = min(abs(e) + pad_e, 0.999)
            a_lo = min(a_lo, a * (1.0 - e_hi))
            a_hi = max(a_hi, a * (1.0 + e_hi))
            worst_pad = max(worst_pad, _short_period_km(sat, a, e_hi))
        if a_hi == 0.0:
            # fails from the start: it can meet nothing; an empty shell
            lo[k], hi[k] = math.inf, -math.inf
            continue
        margin = DRIFT_MARGIN_KM + DRIFT_MARGIN_FRACTION * a_hi * re
        lo[k] = a_lo * re - worst_pad - margin
        hi[k] = a_hi * re + worst_pad + margin
    return RadialShells(lo, hi, fail_t, fail_error)


def colocated_sets(sats: Sequence[Satrec]) -> list[list[int]]:
    """Indices of objects that share one element set (same epoch and mean elements): docked vehicles and
    modules tracked as one orbit, e.g. the ISS and the craft at its ports. Their range is zero for the
    whole window, so there is no approach to report between them; each set of two or more, by index."""
    by_key: dict[tuple[float, ...], list[int]] = defaultdict(list)
    for k, s in enumerate(sats):
        key = (
            float(s.jdsatepoch),
            float(s.jdsatepochF),
            float(s.no_kozai),
            float(s.ecco),
            float(s.inclo),
            float(s.nodeo),
            float(s.argpo),
            float(s.mo),
            float(s.bstar),
        )
        by_key[key].append(k)
    return [v for v in by_key.values() if len(v) > 1]
