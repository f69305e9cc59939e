"""Probability of collision.

* :func:`pc_circle` - the 2D probability (Foster's method): the integral of the relative-position
  density over the hard-body circle in the encounter plane, reduced to one dimension in the principal
  axes of the projected covariance and integrated with ``scipy.integrate.quad``.
* :func:`pc_max` - the largest Pc any isotropic covariance could give the geometry, for objects known
  only by TLEs (labelled ``max-pc-tle``), as CelesTrak SOCRATES reports.
* :func:`assess` - picks the method: 2D where its assumptions hold, Monte Carlo (with a confidence
  interval) where the relative motion is slow or the encounter long (see :func:`short_encounter`).

Positions in km, velocities km/s, covariances km**2 (3x3 position block) unless a name says otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import integrate, optimize, special

from kizuna.errors import InputError

__all__ = [
    "PcResult",
    "encounter_plane",
    "pc_circle",
    "pc_foster",
    "pc_max",
    "short_encounter",
]

F64 = NDArray[np.float64]

METHOD_FOSTER = "foster-2d"
METHOD_MONTE_CARLO = "monte-carlo"
METHOD_MAX = "max-pc-tle"


@dataclass(frozen=True)
class PcResult:
    pc: float
    method: str
    #: 95 % confidence interval (Monte Carlo only)
    ci_low: float | None = None
    ci_high: float | None = None
    #: why the 2D method was not used, or None
    reason: str | None = None
    pc_2d: float | None = None
    samples: int | None = None
    hits: int | None = None


def encounter_plane(r_rel: F64, v_rel: F64) -> F64:
    """Rows x, z spanning the plane normal to the relative velocity; x along the miss vector."""
    y = v_rel / np.linalg.norm(v_rel)
    miss_perp = r_rel - np.dot(r_rel, y) * y
    if np.linalg.norm(miss_perp) < 1e-12:  # head-on through the centre: any normal will do
        miss_perp = np.cross(y, [1.0, 0.0, 0.0])
        if np.linalg.norm(miss_perp) < 1e-9:
            miss_perp = np.cross(y, [0.0, 1.0, 0.0])
    x = miss_perp / np.linalg.norm(miss_perp)
    z = np.cross(x, y)
    return np.vstack((x, z))


def pc_circle(miss_2d: F64, cov_2d: F64, hbr: float) -> float:
    """P(|X| <= hbr) for X ~ N(miss_2d, cov_2d) in the plane (any consistent length unit)."""
    evals, evecs = np.linalg.eigh(cov_2d)
    if evals.min() <= 0:
        raise InputError("encounter-plane covariance is not positive definite")
    m = evecs.T @ miss_2d
    sx, sz = math.sqrt(evals[0]), math.sqrt(evals[1])
    mx, mz = float(m[0]), float(m[1])

    def strip(x: float) -> float:
        half = math.sqrt(max(hbr * hbr - x * x, 0.0))
        inner = special.ndtr((half - mz) / sz) - special.ndtr((-half - mz) / sz)
        return float(math.exp(-0.5 * ((x - mx) / sx) ** 2) / (sx * math.sqrt(2 * math.pi)) * inner)

    points = [p for p in (mx, mx - 3 * sx, mx + 3 * sx) if -hbr < p < hbr]
    value, _err = integrate.quad(strip, -hbr, hbr, points=points or None, epsabs=0.0, epsrel=1e-10, limit=400)
    return min(max(float(value), 0.0), 1.0)


def pc_foster(r1: F64, v1: F64, cov1: F64, r2: F64, v2: F64, cov2: F64, hbr_km: float) -> float:
    """2D Pc from inertial states and 3x3 inertial position covariances (km, km/s, km**2)."""
    r_rel, v_rel = np.asarray(r2) - np.asarray(r1), np.asarray(v2) - np.asarray(v1)
    basis = encounter_plane(r_rel, v_rel)
    cov = np.asarray(cov1)[:3, :3] + np.asarray(cov2)[:3, :3]
    return pc_circle(basis @ r_rel, basis @ cov @ basis.T, hbr_km)


#: Below this hard-body radius / miss ratio, :func:`pc_max` uses its closed small-body form.
SMALL_BODY_RATIO = 0.02


def pc_max(miss_km: float, hbr_km: float) -> float:
    """Largest 2D Pc over all isotropic covariances sigma**2 * I for this miss distance and radius.

    With an isotropic density the probability is the non-central chi-square CDF
    ``ncx2(df=2, nc=(miss/sigma)**2).cdf((hbr/sigma)**2)``; it is maximised over sigma.
    """
    if miss_km <= hbr_km:
        return 1.0
    if hbr_km <= SMALL_BODY_RATIO * miss_km:
        # the small-body limit (Alfano 2005): sigma = miss / sqrt(2) gives hbr^2 / (e miss^2); at this ratio
        # it agrees with the exact maximum within 1e-8 relative (tests/space/test_pc.py)
        return hbr_km * hbr_km / (math.e * miss_km * miss_km)

    def neg(log_sigma: float) -> float:
        s = math.exp(log_sigma)
        return -float(special.chndtr((hbr_km / s) ** 2, 2, (miss_km / s) ** 2))

    guess = math.log(miss_km / math.sqrt(2))
    res = optimize.minimize_scalar(
        neg, bounds=(guess - 5, guess + 5), method="bounded", options={"xatol": 1e-8}
    )
    return float(-res.fun)


#: The 2D method assumes straight-line relative motion through the encounter region. It is trusted
#: when the time to cross the +-5 sigma region along the relative velocity is short against the orbit:
#: below this share of the shorter period (CARA's Pc2D guidance uses a conjunction-duration test of the
#: same kind).
MAX_ENCOUNTER_SHARE_OF_PERIOD = 0.05
SIGMA_SPAN = 5.0


def short_encounter(
    r1: F64, v1: F64, cov1: F64, r2: F64, v2: F64, cov2: F64, hbr_km: float, mu_km3_s2: float = 398600.4418
) -> tuple[bool, str]:
    """Whether the 2D (short-encounter, linear-motion) assumptions hold, and why not."""
    speed, sigma_along, period = _encounter_scales(r1, v1, cov1, r2, v2, cov2, mu_km3_s2)
    duration_s = 2 * (SIGMA_SPAN * sigma_along + hbr_km) / speed if speed > 0 else math.inf
    share = duration_s / period
    if share > MAX_ENCOUNTER_SHARE_OF_PERIOD:
        return False, (
            f"long encounter: crossing +-{SIGMA_SPAN:g} sigma takes {duration_s:.0f} s at "
            f"{speed * 1000:.3g} m/s relative speed, {share:.1%} of the {period:.0f} s orbit"
        )
    return True, ""


#: Monte Carlo flies samples over +-MC_SIGMA_SPAN sigma of the along-velocity crossing (at most one
#: orbit); checked against CARA's Monte Carlo for Alfano cases 1, 2, 4, 10 and 11.
MC_SIGMA_SPAN = 6.0


def encounter_window_s(
    r1: F64, v1: F64, cov1: F64, r2: F64, v2: F64, cov2: F64, hbr_km: float, mu_km3_s2: float = 398600.4418
) -> float:
    """Length of the Monte Carlo window (s): +-MC_SIGMA_SPAN sigma crossing, at most one orbit."""
    speed, sigma_along, period = _encounter_scales(r1, v1, cov1, r2, v2, cov2, mu_km3_s2)
    span = 2 * (MC_SIGMA_SPAN * sigma_along + hbr_km) / speed if speed > 0 else math.inf
    return float(min(span, period))


def _encounter_scales(
    r1: F64, v1: F64, cov1: F64, r2: F64, v2: F64, cov2: F64, mu_km3_s2: float
) -> tuple[float, float, float]:
    """Relative speed, combined position sigma along it, and the shorter orbital period."""
    v_rel = np.asarray(v2) - np.asarray(v1)
    speed = float(np.linalg.norm(v_rel))
    cov = np.asarray(cov1)[:3, :3] + np.asarray(cov2)[:3, :3]
    y = v_rel / speed if speed > 0 else np.array([0.0, 1.0, 0.0])
    sigma_along = math.sqrt(max(float(y @ cov @ y), 0.0))
    periods = []
    for r, v in ((r1, v1), (r2, v2)):
        rn, vn = float(np.linalg.norm(r)), float(np.linalg.norm(v))
        energy = vn * vn / 2 - mu_km3_s2 / rn
        a = -mu_km3_s2 / (2 * energy) if energy < 0 else math.inf
        periods.append(2 * math.pi * math.sqrt(a**3 / mu_km3_s2) if math.isfinite(a) else math.inf)
    return speed, sigma_along, min(periods)


def assess(
    r1: F64,
    v1: F64,
    cov1: F64 | None,
    r2: F64,
    v2: F64,
    cov2: F64 | None,
    hbr_km: float,
    *,
    mc_samples: int = 100_000,
    seed: int = 0,
) -> PcResult:
    """Pc of one conjunction from inertial states (km, km/s) and 6x6 inertial covariances (km-based).

    Without covariance for either object the answer is :func:`pc_max`, labelled ``max-pc-tle``.
    """
    from kizuna.space.montecarlo import monte_carlo_pc

    r1, v1, r2, v2 = (np.asarray(x, dtype=float) for x in (r1, v1, r2, v2))
    if cov1 is None or cov2 is None or not np.any(cov1) or not np.any(cov2):
        miss = float(np.linalg.norm(r2 - r1))
        return PcResult(pc_max(miss, hbr_km), METHOD_MAX, reason="no covariance (TLE only): maximum Pc")
    c1, c2 = np.asarray(cov1, dtype=float), np.asarray(cov2, dtype=float)
    pc2 = pc_foster(r1, v1, c1, r2, v2, c2, hbr_km)
    ok, why = short_encounter(r1, v1, c1, r2, v2, c2, hbr_km)
    if ok:
        return PcResult(pc2, METHOD_FOSTER, pc_2d=pc2)
    if c1.shape[0] < 6 or c2.shape[0] < 6:
        return PcResult(
            pc2, METHOD_FOSTER, reason=f"{why}; no velocity covariance for Monte Carlo", pc_2d=pc2
        )
    window = encounter_window_s(r1, v1, c1, r2, v2, c2, hbr_km)
    mc = monte_carlo_pc(
        np.concatenate((r1, v1)), c1[:6, :6], np.concatenate((r2, v2)), c2[:6, :6], hbr_km, window,
        samples=mc_samples, seed=seed, steps_per_window=200,
    )  # fmt: skip
    return PcResult(
        mc.pc,
        METHOD_MONTE_CARLO,
        mc.ci_low,
        mc.ci_high,
        reason=why,
        pc_2d=pc2,
        samples=mc.samples,
        hits=mc.hits,
    )
