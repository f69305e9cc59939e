"""Time of closest approach on exact SGP4 states: the root of range-rate, bracketed and solved by Brent.

Both the fast screen and the dense reference end here, so an event's TCA and miss distance never
depend on interpolation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.optimize import brentq
from sgp4.api import Satrec

__all__ = ["Approach", "refine_tca"]

SECONDS_PER_DAY = 86400.0
#: Brent stops when the TCA is known to this many seconds (1 microsecond).
TCA_TOLERANCE_S = 1e-6


@dataclass(frozen=True)
class Approach:
    t_s: float
    miss_km: float
    rel_speed_km_s: float
    r1: tuple[float, float, float]
    v1: tuple[float, float, float]
    r2: tuple[float, float, float]
    v2: tuple[float, float, float]


class _Pair:
    __slots__ = ("fr0", "jd0", "s1", "s2")

    def __init__(self, s1: Satrec, s2: Satrec, jd0: float, fr0: float) -> None:
        self.s1, self.s2, self.jd0, self.fr0 = s1, s2, jd0, fr0

    def states(
        self, t_s: float
    ) -> tuple[int, tuple[float, ...], tuple[float, ...], tuple[float, ...], tuple[float, ...]]:
        fr = self.fr0 + t_s / SECONDS_PER_DAY
        e1, r1, v1 = self.s1.sgp4(self.jd0, fr)
        e2, r2, v2 = self.s2.sgp4(self.jd0, fr)
        return (e1 or e2), r1, v1, r2, v2

    def range_rate_num(self, t_s: float) -> float:
        """``dr . dv`` (km^2/s): negative while closing, positive while opening."""
        err, r1, v1, r2, v2 = self.states(t_s)
        if err:
            raise _PropagationError(err)
        return (
            (r2[0] - r1[0]) * (v2[0] - v1[0])
            + (r2[1] - r1[1]) * (v2[1] - v1[1])
            + (r2[2] - r1[2]) * (v2[2] - v1[2])
        )


class _PropagationError(Exception):
    pass


def refine_tca(
    s1: Satrec,
    s2: Satrec,
    jd0: float,
    fr0: float,
    t_guess_s: float,
    half_width_s: float,
    *,
    max_expand: int = 200,
) -> Approach | None:
    """The local range minimum near ``t_guess_s`` (seconds after ``jd0 + fr0``), or None when SGP4
    fails there. The bracket ``t_guess +- half_width`` is walked outward until range-rate changes sign
    from negative to positive (at most ``max_expand`` widths)."""
    pair = _Pair(s1, s2, jd0, fr0)
    try:
        a, b = t_guess_s - half_width_s, t_guess_s + half_width_s
        ga, gb = pair.range_rate_num(a), pair.range_rate_num(b)
        steps = 0
        while not (ga <= 0.0 <= gb) and steps < max_expand:
            steps += 1
            if ga > 0.0 and gb < 0.0:
                # a local maximum inside: follow the closer side
                mid = 0.5 * (a + b)
                if _range(pair, a) < _range(pair, b):
                    b, gb = mid, pair.range_rate_num(mid)
                else:
                    a, ga = mid, pair.range_rate_num(mid)
                continue
            if ga > 0.0:  # already opening at a: the minimum is earlier
                b, gb = a, ga
                a = a - half_width_s
                ga = pair.range_rate_num(a)
            else:  # still closing at b: the minimum is later
                a, ga = b, gb
                b = b + half_width_s
                gb = pair.range_rate_num(b)
        if not (ga <= 0.0 <= gb):
            return None
        t = (
            a
            if ga == 0.0
            else b
            if gb == 0.0
            else float(brentq(pair.range_rate_num, a, b, xtol=TCA_TOLERANCE_S))
        )
    except _PropagationError:
        return None
    err, r1, v1, r2, v2 = pair.states(t)
    if err:
        return None
    d = [r2[k] - r1[k] for k in range(3)]
    w = [v2[k] - v1[k] for k in range(3)]
    return Approach(
        t_s=t,
        miss_km=math.sqrt(d[0] ** 2 + d[1] ** 2 + d[2] ** 2),
        rel_speed_km_s=math.sqrt(w[0] ** 2 + w[1] ** 2 + w[2] ** 2),
        r1=(r1[0], r1[1], r1[2]),
        v1=(v1[0], v1[1], v1[2]),
        r2=(r2[0], r2[1], r2[2]),
        v2=(v2[0], v2[1], v2[2]),
    )


def _range(pair: _Pair, t_s: float) -> float:
    err, r1, _v1, r2, _v2 = pair.states(t_s)
    if err:
        raise _PropagationError(err)
    return math.dist(r1, r2)
