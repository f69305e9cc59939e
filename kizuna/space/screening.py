"""Fast conjunction screening: sparse SGP4 knots, Hermite steps, a padded k-d tree per step,
a linear-motion filter, then exact TCA refinement; events streamed out chunk by chunk.

Why nothing is missed (recall): at the step nearest a TCA the pair is at most ``|dv| * step/2`` plus
the miss distance apart (linear motion), plus the curvature of the relative path and the interpolation
error of both objects; the k-d tree radius holds all of that for the fastest pair at that step, and the
linear filter keeps every pair whose straight-line approach within half a step of the sample comes
within the screening radius plus the same margins. :mod:`kizuna.space.reference` checks this by brute
force.

Work is split into time chunks. Each chunk is independent (its own knots) and *owns* the TCAs nearest to
its own steps, so no event is found twice and chunks can be written out in order as they finish: memory
is bounded by the chunks in flight, whatever the number of events. Chunks run in this process, on a
process pool, or on a ``dask.distributed`` cluster; all three give identical events.

Pairs (:class:`Selection`): all against all, or primaries against everything; optionally not within one
group (a constellation whose operator manages its own members). Objects that share one element set
(docked) are never paired, and the radial shell of each object over the window (:mod:`.prefilter`) drops
objects and pairs that cannot meet before anything is propagated.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from sgp4.api import Satrec, SatrecArray

from kizuna.errors import InputError, KizunaError
from kizuna.space.catalog import CatalogObject
from kizuna.space.events import Event
from kizuna.space.prefilter import colocated_sets, radial_shells
from kizuna.space.propagation import (
    EARTH_RADIUS_KM,
    MU_KM3_S2,
    hermite,
    interpolation_error_bound_km,
    perigee_apogee_km,
    propagate,
)
from kizuna.space.tca import Approach, refine_tca
from kizuna.space.timeutil import add_seconds, to_jd
from kizuna.space.volumes import Volume, penetration, regime_volume

__all__ = [
    "PropagationFailure",
    "ScreenResult",
    "ScreenSettings",
    "Selection",
    "screen",
    "stale_element_sets",
]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]
B = NDArray[np.bool_]


@dataclass(frozen=True)
class ScreenSettings:
    """How to screen. The screening volume of a primary is the sphere ``threshold_km``, or ``volume``
    (an ellipsoid in its radial / in-track / cross-track frame), or with ``regime_volumes`` the
    per-regime default of :mod:`kizuna.space.volumes` (the sphere where there is none)."""

    threshold_km: float = 5.0
    volume: Volume | None = None
    regime_volumes: bool = False
    #: spacing of the k-d tree steps
    step_s: float = 40.0
    #: spacing of exact SGP4 knots (a whole multiple of ``step_s``)
    knot_step_s: float = 120.0
    #: length of one unit of work (a whole multiple of ``knot_step_s``)
    chunk_s: float = 2 * 3600.0
    #: skip pairs whose two objects are in one group (see :class:`Selection`)
    exclude_same_group: bool = False
    #: the radial-shell prefilter (off only to check that it drops nothing)
    prefilter: bool = True
    #: combined hard-body radius for the maximum Pc attached to each event; None: no Pc
    hbr_m: float | None = None

    def __post_init__(self) -> None:
        if self.threshold_km <= 0 or self.step_s <= 0:
            raise InputError("threshold and step must be positive")
        if self.volume is not None and self.regime_volumes:
            raise InputError("give a volume or ask for the per-regime volumes, not both")
        for big, small, what in (
            (self.knot_step_s, self.step_s, "knot_step_s / step_s"),
            (self.chunk_s, self.knot_step_s, "chunk_s / knot_step_s"),
        ):
            ratio = big / small
            if abs(ratio - round(ratio)) > 1e-9 or ratio < 1:
                raise InputError(f"{what} must be a whole number")


@dataclass(frozen=True)
class Selection:
    """Which pairs to screen: every object against every other (``primaries`` None), or each primary
    against every object; ``groups`` names a group for some objects (``--owner``/``--group``), used by
    ``ScreenSettings.exclude_same_group``."""

    primaries: frozenset[int] | None = None
    groups: Mapping[int, str] = field(default_factory=dict)


@dataclass
class ScreenStats:
    objects: int = 0
    objects_screened: int = 0
    objects_prefiltered: int = 0
    colocated_objects: int = 0
    steps: int = 0
    tree_pairs: int = 0
    candidates: int = 0
    refinements: int = 0
    events: int = 0
    propagation_failures: int = 0


@dataclass(frozen=True)
class PropagationFailure:
    """An object SGP4 could not propagate through the window: from ``t_s`` seconds after the window
    start (0: at the start) with SGP4 error ``error`` (6: decayed; 1: mean elements out of range, which
    for LEO objects means the drag model has brought them down)."""

    norad_id: int
    name: str
    t_s: float
    error: int

    @property
    def reason(self) -> str:
        return _SGP4_ERRORS.get(self.error, f"SGP4 error {self.error}")


_SGP4_ERRORS = {
    1: "mean elements out of range (decayed under the drag model)",
    2: "mean motion below zero",
    3: "eccentricity out of range",
    4: "semi-latus rectum below zero",
    6: "decayed (below the Earth's surface)",
}


@dataclass
class ScreenResult:
    """Events (empty when they were streamed to ``on_events``), statistics, objects SGP4 could not
    propagate through the window, and sets of objects sharing one element set (NORAD ids)."""

    events: list[Event]
    stats: ScreenStats = field(default_factory=ScreenStats)
    failures: list[PropagationFailure] = field(default_factory=list)
    colocated: list[list[int]] = field(default_factory=list)


# ---- the plan: everything decided before propagation ----------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """Per object (catalogue order): its screening radius as a primary (0: not a primary), the semi-axes of
    its ellipsoid (NaN: a sphere), group and co-location ids (-1: none), radial shell, and whether it takes
    part at all."""

    primary: B
    reach_km: F64
    axes_km: F64
    group: I64
    coloc: I64
    shell_lo: F64
    shell_hi: F64
    active: B
    use_shells: bool
    exclude_same_group: bool


def _build_plan(
    objects: Sequence[CatalogObject],
    sats: Sequence[Satrec],
    start: datetime,
    duration_s: float,
    settings: ScreenSettings,
    selection: Selection,
) -> tuple[_Plan, list[list[int]], dict[int, tuple[float, int]]]:
    n = len(objects)
    norads = np.array([o.norad_id for o in objects], dtype=np.int64)
    primary = (
        np.ones(n, dtype=bool) if selection.primaries is None else np.isin(norads, list(selection.primaries))
    )
    reach = np.full(n, settings.threshold_km)
    axes = np.full((n, 3), np.nan)
    if settings.volume is not None:
        reach[:] = settings.volume.bounding_km
        axes[:] = settings.volume.axes_km
    elif settings.regime_volumes:
        for k, s in enumerate(sats):
            vol = regime_volume(perigee_apogee_km(s)[0] - EARTH_RADIUS_KM)
            if vol is not None:
                reach[k], axes[k] = vol.bounding_km, vol.axes_km
    reach[~primary] = 0.0
    names = sorted(set(selection.groups.values()))
    gid = {g: k for k, g in enumerate(names)}
    group = np.array([gid.get(selection.groups.get(o.norad_id, ""), -1) for o in objects], dtype=np.int64)
    coloc = np.full(n, -1, dtype=np.int64)
    sets = colocated_sets(sats)
    for k, members in enumerate(sets):
        coloc[members] = k
    jd0, fr0 = to_jd(start)
    failed_at_start: dict[int, tuple[float, int]] = {}
    if settings.prefilter:
        shells = radial_shells(sats, jd0, fr0, duration_s)
        lo, hi = shells.lo_km, shells.hi_km
        for dead in np.nonzero(~np.isfinite(lo))[0]:
            failed_at_start[int(dead)] = (0.0, int(shells.fail_error[dead]))
    else:
        lo, hi = np.full(n, -np.inf), np.full(n, np.inf)
    active = _active(primary, reach, lo, hi) if settings.prefilter else np.ones(n, dtype=bool)
    plan = _Plan(
        primary, reach, axes, group, coloc, lo, hi, active, settings.prefilter, settings.exclude_same_group
    )
    return plan, [[int(norads[k]) for k in members] for members in sets], failed_at_start


def _active(primary: B, reach: F64, lo: F64, hi: F64) -> B:
    """Objects whose shell comes within a primary's reach of a primary's shell (the apogee/perigee filter):
    a sweep over the shells sorted by their low edge."""
    n = len(lo)
    out = np.zeros(n, dtype=bool)
    plo, phi = lo[primary] - reach[primary], hi[primary] + reach[primary]
    if len(plo) == 0:
        return out
    order = np.argsort(plo)
    plo_s, phi_s = plo[order], np.maximum.accumulate(phi[order])
    # object k overlaps some primary's padded shell if, among the primaries whose padded low edge is at
    # most hi[k], the highest padded high edge reaches lo[k]
    pos = np.searchsorted(plo_s, hi, side="right") - 1
    ok = pos >= 0
    out[ok] = phi_s[pos[ok]] >= lo[ok]
    return out & np.isfinite(lo)


# ---- per-catalogue state, built once per process --------------------------------------------------


class _Model:
    """Satrecs and interpolation bounds for one catalogue and plan (cached per worker process)."""

    def __init__(self, objects: Sequence[CatalogObject], plan: _Plan, knot_step_s: float) -> None:
        self.objects = list(objects)
        self.sats: list[Satrec] = [o.satrec() for o in self.objects]
        self.plan = plan
        self.index = np.nonzero(plan.active)[0].astype(np.int64)
        self.array = SatrecArray([self.sats[k] for k in self.index]) if len(self.index) else None
        n = len(self.sats)
        self.err_pos = np.zeros(n)
        self.err_vel = np.zeros(n)
        for k in self.index:
            s = self.sats[k]
            rp, ra = perigee_apogee_km(s)
            self.err_pos[k], self.err_vel[k] = interpolation_error_bound_km(
                rp, ra, knot_step_s, deep_space=(s.method == "d")
            )


#: Per-process cache of the one catalogue a worker is screening (a worker gets many chunks of it).
_MODEL_CACHE: dict[str, _Model] = {}


def catalogue_fingerprint(objects: Sequence[CatalogObject]) -> str:
    h = hashlib.sha256()
    for o in objects:
        l1, l2 = o.tle_lines()
        h.update(f"{o.norad_id}|{l1}|{l2}\n".encode())
    return h.hexdigest()


def _model(
    key: str, objects: Sequence[CatalogObject] | None, plan: _Plan | None, knot_step_s: float
) -> _Model:
    m = _MODEL_CACHE.get(key)
    if m is None:
        if objects is None or plan is None:
            raise KizunaError(
                "a screening worker lost its catalogue (it was restarted): run the screen again"
            )
        _MODEL_CACHE.clear()  # one catalogue at a time per process keeps memory bounded
        m = _Model(objects, plan, knot_step_s)
        _MODEL_CACHE[key] = m
    return m


def _init_worker(key: str, objects: Sequence[CatalogObject], plan: _Plan, knot_step_s: float) -> None:
    _model(key, objects, plan, knot_step_s)


# ---- one step --------------------------------------------------------------------------------------

#: Bound on the relative acceleration of two objects |dr| apart: gravity gradient 2*mu/r^3 at the
#: Earth's surface, plus 1e-5 km/s^2 for differential J2, drag and radiation pressure.
_GRADIENT_S2 = 2 * MU_KM3_S2 / EARTH_RADIUS_KM**3
_ACCEL_FLOOR_KM_S2 = 1e-5
#: Objects whose own radius (motion in half a step plus interpolation error) is above this speed times
#: half a step are queried with their own, larger radius (eccentric orbits near perigee, rough knots).
_FAST_KM_S = 8.0


def _curvature_km(span_km: float | F64, half_s: float) -> Any:
    return 0.5 * (_GRADIENT_S2 * span_km + _ACCEL_FLOOR_KM_S2) * half_s * half_s


def _pairs_primaries(
    tree: cKDTree, pos: F64, rho: F64, prim_local: I64, reach_local: F64, half: float
) -> I64:
    rho_max = float(rho.max())
    span = reach_local[prim_local] + rho[prim_local] + rho_max
    radius = span + _curvature_km(span, half)
    lists = tree.query_ball_point(pos[prim_local], r=radius)
    rows = [
        np.column_stack((np.full(len(lst), p), lst)) for p, lst in zip(prim_local, lists, strict=True) if lst
    ]
    if not rows:
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.concatenate(rows).astype(np.int64)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    pairs.sort(axis=1)
    return np.unique(pairs, axis=0)


def _pairs_all(tree: cKDTree, pos: F64, rho: F64, reach_max: float, half: float) -> I64:
    rho_max = float(rho.max())
    rho_cut = min(rho_max, half * _FAST_KM_S + 0.25)
    span = reach_max + 2 * rho_cut
    r_main = span + _curvature_km(span, half)
    pairs: I64 = tree.query_pairs(r_main, output_type="ndarray").astype(np.int64)
    fast = np.nonzero(rho > rho_cut)[0]
    if len(fast):
        # objects with a larger own radius get their own query; keep only what the main query could
        # not have found, once
        is_fast = rho > rho_cut
        span_f = reach_max + rho[fast] + rho_max
        lists = tree.query_ball_point(pos[fast], r=span_f + _curvature_km(span_f, half))
        extra = [
            np.column_stack((np.full(len(lst), f), lst)) for f, lst in zip(fast, lists, strict=True) if lst
        ]
        if extra:
            more = np.concatenate(extra).astype(np.int64)
            a, b = more[:, 0], more[:, 1]
            d = pos[a] - pos[b]
            dist = np.sqrt(np.einsum("ij,ij->i", d, d))
            new = (a != b) & (dist > r_main) & (~is_fast[b] | (a < b))
            more = np.sort(more[new], axis=1)
            pairs = np.concatenate((pairs, more))
    return pairs


def _minimum_in_window(
    ri: F64, rj: F64, dr: F64, dv: F64, span: F64, e_pos: F64, e_vel: F64, half: float
) -> B:
    """Pairs whose range may have a local minimum within ``half`` seconds of this step: the range-rate
    ``g = dr . dv`` may go from at most 0 to at least 0 across the window. ``g`` is extrapolated to the
    window's ends with its derivative ``|dv|^2 + dr . a`` (two-body relative acceleration ``a``) and the
    remainder is bounded (gravity-gradient acceleration and jerk, J2 and drag on ``a``, interpolation
    error). Pairs that stay within the screening radius for hours (formations, a fresh launch) so give
    one candidate per range minimum instead of one per step."""
    ai = -MU_KM3_S2 * ri / np.linalg.norm(ri, axis=1)[:, None] ** 3
    aj = -MU_KM3_S2 * rj / np.linalg.norm(rj, axis=1)[:, None] ** 3
    g0 = np.einsum("ij,ij->i", dr, dv)
    speed2 = np.einsum("ij,ij->i", dv, dv)
    g1 = speed2 + np.einsum("ij,ij->i", dr, aj - ai)
    speed = np.sqrt(speed2)
    accel = _GRADIENT_S2 * span + _ACCEL_FLOOR_KM_S2
    jerk = _GRADIENT_S2 * speed + 2e-3 * _GRADIENT_S2 * span
    g2 = 3.0 * (speed + half * accel) * accel + span * jerk
    model = 0.01 * _GRADIENT_S2 * span + _ACCEL_FLOOR_KM_S2  # J2, drag: what two-body leaves out
    interp = e_pos * (speed + e_vel) + span * e_vel
    slack = 0.5 * half * half * g2 + half * span * model + 2.0 * interp + 1e-9
    return np.asarray((g0 - half * g1 <= slack) & (g0 + half * g1 >= -slack))


def _pair_reach(plan: _Plan, gi: I64, gj: I64) -> F64:
    return np.maximum(plan.reach_km[gi], plan.reach_km[gj])


def _eligible(plan: _Plan, gi: I64, gj: I64, reach: F64) -> B:
    """Pairs that a primary takes part in, not co-located, not within one group when so asked, and whose
    radial shells come within the pair's reach."""
    ok = reach > 0
    same_set = (plan.coloc[gi] == plan.coloc[gj]) & (plan.coloc[gi] >= 0)
    ok &= ~same_set
    if plan.exclude_same_group:
        ok &= ~((plan.group[gi] == plan.group[gj]) & (plan.group[gi] >= 0))
    if plan.use_shells:
        ok &= (plan.shell_lo[gi] - reach <= plan.shell_hi[gj]) & (
            plan.shell_lo[gj] - reach <= plan.shell_hi[gi]
        )
    return ok


# ---- one chunk -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Chunk:
    index: int
    t0_s: float
    t1_s: float
    include_end: bool
    own_lo_s: float
    own_hi_s: float


@dataclass
class _ChunkResult:
    index: int
    events: list[Event]
    stats: ScreenStats
    #: catalogue index -> (first failing time, SGP4 error)
    failures: dict[int, tuple[float, int]]


def _candidates(
    model: _Model, start: datetime, chunk: _Chunk, settings: ScreenSettings, stats: ScreenStats
) -> tuple[I64, I64, F64, dict[int, tuple[float, int]]]:
    """Candidate approaches ``(i, j, t_s)`` (catalogue indices) for the steps of ``chunk``."""
    plan = model.plan
    failures: dict[int, tuple[float, int]] = {}
    empty = np.empty(0, dtype=np.int64)
    if model.array is None or len(model.index) < 2:
        return empty, empty, np.empty(0), failures
    h_knot = settings.knot_step_s
    sub = round(h_knot / settings.step_s)
    t0_s, t1_s = chunk.t0_s, chunk.t1_s
    n_knots = math.ceil((t1_s - t0_s) / h_knot - 1e-9) + 1
    knot_t = t0_s + h_knot * np.arange(n_knots, dtype=np.float64)
    err, r, v = propagate(model.array, start, knot_t)
    bad = np.nonzero(err.any(axis=0))[0]
    for lk in bad:
        first = int(np.argmax(err[:, lk] != 0))
        failures[int(model.index[lk])] = (float(knot_t[first]), int(err[first, lk]))
    half = 0.5 * settings.step_s
    fractions: list[list[float]] = [
        [m / sub for m in range(sub) if float(knot_t[k]) + m * settings.step_s < t1_s - 1e-9]
        for k in range(n_knots - 1)
    ]
    if chunk.include_end:
        k_end = min(n_knots - 2, int((t1_s - t0_s) // h_knot))
        frac_end = (t1_s - float(knot_t[k_end])) / h_knot
        if not any(abs(f - frac_end) < 1e-12 for f in fractions[k_end]):
            fractions[k_end].append(frac_end)
    all_primary = bool(plan.primary.all())
    reach_max = float(plan.reach_km.max())
    reaches = plan.reach_km[model.index]
    uniform = reach_max if all_primary and float(reaches.min()) == reach_max else None
    out_i: list[I64] = []
    out_j: list[I64] = []
    out_t: list[F64] = []
    for k in range(n_knots - 1):
        if not fractions[k]:
            continue
        ok = (err[k] == 0) & (err[k + 1] == 0)
        stats.propagation_failures += int(np.count_nonzero(~ok))
        local = np.nonzero(ok)[0]
        if len(local) < 2:
            continue
        idx = model.index[local]
        prim_local = None if all_primary else np.nonzero(plan.primary[idx])[0]
        if prim_local is not None and len(prim_local) == 0:
            continue
        reach_local = plan.reach_km[idx]
        e_pos = model.err_pos[idx]
        e_vel = model.err_vel[idx]
        p0, v0, p1, v1 = r[k, local], v[k, local], r[k + 1, local], v[k + 1, local]
        for frac in fractions[k]:
            t = float(knot_t[k]) + frac * h_knot
            pos, vel = hermite(p0, v0, p1, v1, h_knot, frac)
            stats.steps += 1
            speed = np.sqrt(np.einsum("ij,ij->i", vel, vel))
            rho = e_pos + e_vel * half + half * speed
            tree = cKDTree(pos, balanced_tree=False, compact_nodes=False)
            if prim_local is None:
                pairs = _pairs_all(tree, pos, rho, reach_max, half)
            else:
                pairs = _pairs_primaries(tree, pos, rho, prim_local, reach_local, half)
            stats.tree_pairs += len(pairs)
            if len(pairs) == 0:
                continue
            a, b = pairs[:, 0], pairs[:, 1]
            reach: float | F64
            if uniform is not None:
                # every object a primary with one reach: the (costlier) pair rules wait for the survivors
                reach = uniform
            else:
                gi, gj = idx[a], idx[b]
                reach = _pair_reach(plan, gi, gj)
                keep = _eligible(plan, gi, gj, reach)
                a, b, reach = a[keep], b[keep], reach[keep]
                if len(a) == 0:
                    continue
            dr = pos[b] - pos[a]
            dv = vel[b] - vel[a]
            dv2 = np.einsum("ij,ij->i", dv, dv)
            tau = np.clip(-np.einsum("ij,ij->i", dr, dv) / np.maximum(dv2, 1e-30), -half, half)
            closest = dr + dv * tau[:, None]
            d_lin = np.sqrt(np.einsum("ij,ij->i", closest, closest))
            span = np.sqrt(np.einsum("ij,ij->i", dr, dr)) + half * np.sqrt(dv2)
            interp = e_pos[a] + e_pos[b] + (e_vel[a] + e_vel[b]) * half
            limit = reach + _curvature_km(span, half) + interp + 0.01
            hit = d_lin <= limit
            if not hit.any():
                continue
            if uniform is not None:
                ha, hb = a[hit], b[hit]
                hit[hit] = _eligible(plan, idx[ha], idx[hb], np.full(len(ha), uniform))
                if not hit.any():
                    continue
            hit[hit] = _minimum_in_window(
                pos[a[hit]], pos[b[hit]], dr[hit], dv[hit], span[hit], e_pos[a[hit]] + e_pos[b[hit]],
                e_vel[a[hit]] + e_vel[b[hit]], half,
            )  # fmt: skip
            if not hit.any():
                continue
            out_i.append(idx[a[hit]])
            out_j.append(idx[b[hit]])
            out_t.append(t + tau[hit])
    if not out_i:
        return empty, empty, np.empty(0), failures
    ci, cj, ct = np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_t)
    stats.candidates += len(ci)
    return ci, cj, ct, failures


def _accept(model: _Model, i: int, j: int, ap: Approach, jd0: float, fr0: float) -> bool:
    """Is this TCA inside the screening volume of a primary of the pair?"""
    plan = model.plan
    for p, s in ((i, j), (j, i)):
        if not plan.primary[p] or ap.miss_km > plan.reach_km[p]:
            continue
        axes = plan.axes_km[p]
        if np.isnan(axes[0]):
            return True
        depth = penetration(model.sats[p], model.sats[s], jd0, fr0, ap.t_s, Volume(*axes))
        if depth is not None and depth <= 1.0:
            return True
    return False


def refine_candidates(
    model_objects: Sequence[CatalogObject],
    sats: Sequence[Satrec],
    start: datetime,
    duration_s: float,
    candidates: Iterable[tuple[int, int, float]],
    threshold_km: float,
    half_width_s: float,
    *,
    accept: Callable[[int, int, Approach], bool] | None = None,
    own: tuple[float, float, bool] = (-math.inf, math.inf, True),
) -> tuple[list[Event], int]:
    """Exact TCA for each candidate; one event per pair and range minimum within the window (and within
    ``own``: ``[lo, hi)``, or ``[lo, hi]`` when its flag is true), at or under ``threshold_km`` or, with
    ``accept``, where ``accept(i, j, approach)`` says so."""
    jd0, fr0 = to_jd(start)
    by_pair: dict[tuple[int, int], list[float]] = {}
    for i, j, t in candidates:
        a, b = (i, j) if i < j else (j, i)
        by_pair.setdefault((a, b), []).append(t)
    own_lo, own_hi, own_closed = own
    events: list[Event] = []
    refinements = 0
    margin = 2 * half_width_s
    for (i, j), times in by_pair.items():
        times.sort()
        found: list[float] = []
        # the refinement walks from a candidate to the minimum it finds through range-rate of one sign:
        # a later candidate inside such a walk leads to the same minimum and is skipped
        walked: list[tuple[float, float]] = []
        for t in times:
            if any(lo - margin <= t <= hi + margin for lo, hi in walked):
                continue
            refinements += 1
            ap = refine_tca(sats[i], sats[j], jd0, fr0, t, half_width_s)
            if ap is None:
                continue
            walked.append((min(t, ap.t_s), max(t, ap.t_s)))
            if any(abs(ap.t_s - f) < 1e-3 for f in found):
                continue
            found.append(ap.t_s)
            inside_own = own_lo <= ap.t_s and (ap.t_s <= own_hi if own_closed else ap.t_s < own_hi)
            if not inside_own or not (0.0 <= ap.t_s <= duration_s):
                continue
            if accept is None:
                if ap.miss_km > threshold_km:
                    continue
            elif not accept(i, j, ap):
                continue
            events.append(_event(model_objects[i], model_objects[j], ap, start))
    return events, refinements


def _event(o1: CatalogObject, o2: CatalogObject, ap: Approach, start: datetime) -> Event:
    r1, v1, r2, v2 = ap.r1, ap.v1, ap.r2, ap.v2
    if o1.norad_id > o2.norad_id:
        o1, o2, r1, v1, r2, v2 = o2, o1, r2, v2, r1, v1
    return Event(
        norad_1=o1.norad_id,
        norad_2=o2.norad_id,
        tca_utc=add_seconds(start, ap.t_s),
        miss_km=ap.miss_km,
        rel_speed_km_s=ap.rel_speed_km_s,
        r1_km=r1,
        v1_km_s=v1,
        r2_km=r2,
        v2_km_s=v2,
        name_1=o1.name,
        name_2=o2.name,
    )


def merge_events(events: Iterable[Event], tolerance_s: float = 1e-3) -> list[Event]:
    """Drop duplicates (same pair, TCA within ``tolerance_s``), sorted by TCA then pair."""
    ordered = sorted(events, key=lambda e: (e.norad_1, e.norad_2, e.tca_utc))
    out: list[Event] = []
    for e in ordered:
        same_pair = bool(out) and (out[-1].norad_1, out[-1].norad_2) == (e.norad_1, e.norad_2)
        if same_pair and abs((e.tca_utc - out[-1].tca_utc).total_seconds()) <= tolerance_s:
            if e.miss_km < out[-1].miss_km:
                out[-1] = e
            continue
        out.append(e)
    return sorted(out, key=_order)


def _order(e: Event) -> tuple[datetime, int, int]:
    return (e.tca_utc, e.norad_1, e.norad_2)


def _run_chunk(
    key: str,
    objects: Sequence[CatalogObject] | None,
    plan: _Plan | None,
    start: datetime,
    duration_s: float,
    chunk: _Chunk,
    settings: ScreenSettings,
) -> _ChunkResult:
    model = _model(key, objects, plan, settings.knot_step_s)
    stats = ScreenStats()
    ci, cj, ct, failures = _candidates(model, start, chunk, settings, stats)
    jd0, fr0 = to_jd(start)
    spheres = bool(np.isnan(model.plan.axes_km[:, 0]).all())
    threshold = float(model.plan.reach_km.max()) if spheres else 0.0

    def accept(i: int, j: int, ap: Approach) -> bool:
        return _accept(model, i, j, ap, jd0, fr0)

    events, stats.refinements = refine_candidates(
        model.objects,
        model.sats,
        start,
        duration_s,
        zip(ci.tolist(), cj.tolist(), ct.tolist(), strict=True),
        threshold,
        0.5 * settings.step_s,
        accept=accept,
        own=(chunk.own_lo_s, chunk.own_hi_s, chunk.include_end),
    )
    if settings.hbr_m is not None:
        from kizuna.space.assessment import assess_event

        events = [assess_event(e, hbr_m=settings.hbr_m) for e in events]
    events.sort(key=_order)
    stats.events = len(events)
    return _ChunkResult(chunk.index, events, stats, failures)


def _dask_chunk(
    key: str,
    data: tuple[Sequence[CatalogObject], _Plan],
    start: datetime,
    duration_s: float,
    chunk: _Chunk,
    settings: ScreenSettings,
) -> _ChunkResult:
    objects, plan = data
    return _run_chunk(key, objects, plan, start, duration_s, chunk, settings)


def _pool_chunk(
    key: str, start: datetime, duration_s: float, chunk: _Chunk, settings: ScreenSettings
) -> _ChunkResult:
    return _run_chunk(key, None, None, start, duration_s, chunk, settings)


# ---- the whole window ------------------------------------------------------------------------------

ProgressFn = Callable[[float, float], None]
EventsFn = Callable[[Sequence[Event]], None]


def _chunks(duration_s: float, settings: ScreenSettings) -> list[_Chunk]:
    edges = [*list(np.arange(0.0, duration_s, settings.chunk_s)), duration_s]
    half = 0.5 * settings.step_s
    out = []
    pairs = list(itertools.pairwise(edges))
    for k, (a, b) in enumerate(pairs):
        last = k == len(pairs) - 1
        out.append(
            _Chunk(
                index=k,
                t0_s=float(a),
                t1_s=float(b),
                include_end=last,
                # each chunk owns the TCAs nearest to its own steps
                own_lo_s=-math.inf if k == 0 else float(a) - half,
                own_hi_s=math.inf if last else float(b) - half,
            )
        )
    return out


def _add(total: ScreenStats, part: ScreenStats) -> None:
    for name in ("steps", "tree_pairs", "candidates", "refinements", "events", "propagation_failures"):
        setattr(total, name, getattr(total, name) + getattr(part, name))


def stale_element_sets(
    objects: Sequence[CatalogObject], start: datetime, duration_s: float, max_age_days: float = 7.0
) -> tuple[list[CatalogObject], list[CatalogObject]]:
    """Element sets whose epoch is more than ``max_age_days`` before the window start, and those more
    than that after its end: SGP4's predictions degrade by kilometres a day away from the epoch."""
    limit_s = max_age_days * 86400.0
    before = [o for o in objects if (start - o.epoch).total_seconds() > limit_s]
    after = [o for o in objects if (o.epoch - start).total_seconds() - duration_s > limit_s]
    return before, after


def screen(
    objects: Sequence[CatalogObject],
    start: datetime,
    duration_s: float,
    settings: ScreenSettings | None = None,
    *,
    primaries: Iterable[int] | None = None,
    groups: Mapping[int, str] | None = None,
    workers: int | None = None,
    client: Any = None,
    progress: ProgressFn | None = None,
    on_events: EventsFn | None = None,
) -> ScreenResult:
    """Screen ``objects`` (all against all, or ``primaries`` against all) over ``duration_s`` from
    ``start``. ``workers`` processes (default: every core) or a ``dask.distributed`` ``client`` run the
    chunks; ``progress(done_s, total_s)`` is called as chunks finish. With ``on_events`` the events are
    handed over in TCA order, a chunk at a time, and not kept (``ScreenResult.events`` is empty)."""
    settings = settings or ScreenSettings()
    prim = None if primaries is None else frozenset(int(p) for p in primaries)
    if prim is not None:
        known = {o.norad_id for o in objects}
        missing = sorted(prim - known)
        if missing:
            raise InputError(f"primary NORAD id(s) not in the catalogue: {', '.join(map(str, missing))}")
    selection = Selection(prim, dict(groups or {}))
    sats = [o.satrec() for o in objects]
    plan, colocated, failed_at_start = _build_plan(objects, sats, start, duration_s, settings, selection)
    key = (
        catalogue_fingerprint(objects)
        + "|"
        + hashlib.sha256(repr((settings, selection, start, duration_s)).encode()).hexdigest()
    )
    chunks = _chunks(duration_s, settings)
    total = ScreenStats(
        objects=len(objects),
        objects_screened=int(np.count_nonzero(plan.active)),
        objects_prefiltered=int(np.count_nonzero(~plan.active)),
        colocated_objects=sum(len(c) for c in colocated),
    )
    kept: list[Event] = []
    failures: dict[int, tuple[float, int]] = dict(failed_at_start)
    done = 0.0
    pending: dict[int, _ChunkResult] = {}
    next_index = 0

    def emit(part: _ChunkResult) -> None:
        nonlocal done, next_index
        pending[part.index] = part
        while next_index in pending:
            ready = pending.pop(next_index)
            if on_events is None:
                kept.extend(ready.events)
            elif ready.events:
                on_events(ready.events)
            _add(total, ready.stats)
            for k, (t, e) in ready.failures.items():
                if k not in failures or t < failures[k][0]:
                    failures[k] = (t, e)
            c = chunks[next_index]
            done += c.t1_s - c.t0_s
            next_index += 1
            if progress is not None:
                progress(done, duration_s)

    if client is not None:
        _run_dask(client, key, objects, plan, start, duration_s, chunks, settings, emit)
    else:
        n_workers = workers if workers is not None else (os.cpu_count() or 1)
        if n_workers <= 1 or len(chunks) == 1:
            _MODEL_CACHE.pop(key, None)
            try:
                for c in chunks:
                    emit(_run_chunk(key, objects, plan, start, duration_s, c, settings))
            finally:
                _MODEL_CACHE.pop(key, None)
        else:
            _run_pool(
                min(n_workers, len(chunks)), key, objects, plan, start, duration_s, chunks, settings, emit
            )
    names = {k: objects[k] for k in failures}
    failure_list = sorted(
        (PropagationFailure(names[k].norad_id, names[k].name, t, e) for k, (t, e) in failures.items()),
        key=lambda f: (f.t_s, f.norad_id),
    )
    return ScreenResult(kept, total, failure_list, colocated)


def _run_pool(
    n_workers: int,
    key: str,
    objects: Sequence[CatalogObject],
    plan: _Plan,
    start: datetime,
    duration_s: float,
    chunks: Sequence[_Chunk],
    settings: ScreenSettings,
    emit: Callable[[_ChunkResult], None],
) -> None:
    queue = list(chunks)
    in_flight = 2 * n_workers
    with ProcessPoolExecutor(
        max_workers=n_workers, initializer=_init_worker, initargs=(key, objects, plan, settings.knot_step_s)
    ) as pool:
        running: set[Future[_ChunkResult]] = set()
        while queue or running:
            while queue and len(running) < in_flight:
                running.add(pool.submit(_pool_chunk, key, start, duration_s, queue.pop(0), settings))
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for f in finished:
                emit(f.result())


def _run_dask(
    client: Any,
    key: str,
    objects: Sequence[CatalogObject],
    plan: _Plan,
    start: datetime,
    duration_s: float,
    chunks: Sequence[_Chunk],
    settings: ScreenSettings,
    emit: Callable[[_ChunkResult], None],
) -> None:
    from dask.distributed import as_completed

    data = client.scatter((list(objects), plan), broadcast=True)
    queue = list(chunks)
    n_threads = sum(client.nthreads().values()) or 1
    in_flight = 2 * n_threads

    def submit(c: _Chunk) -> Any:
        return client.submit(_dask_chunk, key, data, start, duration_s, c, settings, pure=False)

    first = [submit(queue.pop(0)) for _ in range(min(in_flight, len(queue)))]
    ac = as_completed(first)  # type: ignore[no-untyped-call]
    for fut in ac:
        emit(fut.result())
        if queue:
            ac.add(submit(queue.pop(0)))  # type: ignore[no-untyped-call]
