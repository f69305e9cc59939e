"""Fast conjunction screening: sparse SGP4 knots, Hermite steps, a padded k-d tree per step,
a linear-motion filter, then exact TCA refinement.

Why nothing is missed (recall): at the step nearest a TCA the pair is at most ``|dv| * step/2`` plus
the miss distance apart (linear motion), plus the curvature of the relative path and the interpolation
error of both objects; the k-d tree radius holds all of that for the fastest pair at that step, and the
linear filter keeps every pair whose straight-line approach within half a step of the sample comes
within the threshold plus the same margins. :mod:`kizuna.space.reference` checks this by brute force.

Work is split into time chunks; each chunk is independent (its own knots), so chunks run on a process
pool or on a ``dask.distributed`` cluster, and memory is bounded by one chunk of knots.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import as_completed as cf_completed
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree
from sgp4.api import Satrec, SatrecArray

from kizuna.errors import InputError
from kizuna.space.catalog import CatalogObject
from kizuna.space.events import Event
from kizuna.space.propagation import (
    EARTH_RADIUS_KM,
    MU_KM3_S2,
    hermite,
    interpolation_error_bound_km,
    perigee_apogee_km,
    propagate,
)
from kizuna.space.tca import refine_tca
from kizuna.space.timeutil import add_seconds, to_jd

__all__ = ["ScreenResult", "ScreenSettings", "screen"]

F64 = NDArray[np.float64]
I64 = NDArray[np.int64]


@dataclass(frozen=True)
class ScreenSettings:
    threshold_km: float = 5.0
    #: spacing of the k-d tree steps
    step_s: float = 40.0
    #: spacing of exact SGP4 knots (a whole multiple of ``step_s``)
    knot_step_s: float = 120.0
    #: length of one unit of work (a whole multiple of ``knot_step_s``)
    chunk_s: float = 4 * 3600.0
    #: pad on mean perigee/apogee radii for the radial filter (short-period SGP4 terms, drag)
    radial_pad_km: float = 50.0

    def __post_init__(self) -> None:
        if self.threshold_km <= 0 or self.step_s <= 0:
            raise ValueError("threshold and step must be positive")
        for big, small, what in (
            (self.knot_step_s, self.step_s, "knot_step_s / step_s"),
            (self.chunk_s, self.knot_step_s, "chunk_s / knot_step_s"),
        ):
            ratio = big / small
            if abs(ratio - round(ratio)) > 1e-9 or ratio < 1:
                raise ValueError(f"{what} must be a whole number")


@dataclass
class ScreenStats:
    objects: int = 0
    objects_screened: int = 0
    steps: int = 0
    tree_pairs: int = 0
    candidates: int = 0
    refinements: int = 0
    propagation_failures: int = 0


@dataclass
class ScreenResult:
    events: list[Event]
    stats: ScreenStats = field(default_factory=ScreenStats)


# ---- per-catalogue state, built once per process --------------------------------------------------


class _Model:
    """Satrecs and per-object bounds for one catalogue (cached per worker process)."""

    def __init__(self, objects: Sequence[CatalogObject], knot_step_s: float, radial_pad_km: float) -> None:
        self.objects = list(objects)
        self.sats: list[Satrec] = [o.satrec() for o in self.objects]
        self.array = SatrecArray(self.sats)
        n = len(self.sats)
        self.norad = np.array([o.norad_id for o in self.objects], dtype=np.int64)
        self.rp = np.empty(n)
        self.ra = np.empty(n)
        self.err_pos = np.empty(n)
        self.err_vel = np.empty(n)
        for k, s in enumerate(self.sats):
            rp, ra = perigee_apogee_km(s)
            self.rp[k], self.ra[k] = rp, ra
            self.err_pos[k], self.err_vel[k] = interpolation_error_bound_km(
                rp, ra, knot_step_s, deep_space=(s.method == "d")
            )
        self.band_lo = self.rp - radial_pad_km
        self.band_hi = self.ra + radial_pad_km


#: Per-process cache of the one catalogue a worker is screening (a worker gets many chunks of it; building
#: 25,000 Satrecs per chunk would dominate). Holds at most one catalogue.
_MODEL_CACHE: dict[str, _Model] = {}


def catalogue_fingerprint(objects: Sequence[CatalogObject]) -> str:
    h = hashlib.sha256()
    for o in objects:
        l1, l2 = o.tle_lines()
        h.update(f"{o.norad_id}|{l1}|{l2}\n".encode())
    return h.hexdigest()


def _model(key: str, objects: Sequence[CatalogObject], settings: ScreenSettings) -> _Model:
    full = f"{key}|{settings.knot_step_s}|{settings.radial_pad_km}"
    m = _MODEL_CACHE.get(full)
    if m is None:
        _MODEL_CACHE.clear()  # one catalogue at a time per process keeps memory bounded
        m = _Model(objects, settings.knot_step_s, settings.radial_pad_km)
        _MODEL_CACHE[full] = m
    return m


def _active_mask(
    model: _Model, primary_mask: NDArray[np.bool_] | None, threshold_km: float
) -> NDArray[np.bool_]:
    """Objects whose radial band overlaps another's (or a primary's): the apogee/perigee filter."""
    lo, hi = model.band_lo - threshold_km, model.band_hi
    n = len(lo)
    if primary_mask is None:
        order = np.argsort(lo)
        lo_s, hi_s = lo[order], hi[order]
        prev_max = np.maximum.accumulate(np.concatenate(([-np.inf], hi_s[:-1])))
        overlaps_prev = lo_s <= prev_max
        # an object overlaps something after it if the next object's lo <= its hi (sorted by lo)
        overlaps_next = np.zeros(n, dtype=bool)
        overlaps_next[:-1] = lo_s[1:] <= hi_s[:-1]
        # or if any later lo <= hi: lo is sorted, so comparing with the next is enough
        mask_sorted = overlaps_prev | overlaps_next
        mask = np.empty(n, dtype=bool)
        mask[order] = mask_sorted
        return mask
    plo, phi = lo[primary_mask], hi[primary_mask]
    if len(plo) == 0:
        return np.zeros(n, dtype=bool)
    mask = np.zeros(n, dtype=bool)
    for a, b in zip(plo, phi, strict=True):
        mask |= (lo <= b) & (hi >= a)
    return mask | primary_mask


# ---- one chunk -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    i: int
    j: int
    t_s: float


#: Bound on the relative acceleration of two objects |dr| apart: gravity gradient 2*mu/r^3 at the
#: Earth's surface, plus 1e-5 km/s^2 for differential J2, drag and radiation pressure.
_GRADIENT_S2 = 2 * MU_KM3_S2 / EARTH_RADIUS_KM**3
_ACCEL_FLOOR_KM_S2 = 1e-5
#: Speed above which an object is queried with its own, larger radius.
_FAST_KM_S = 8.0


def _step_pairs(
    pos: F64,
    vel: F64,
    idx: I64,
    primary_local: I64 | None,
    reach_km: float,
    half_step_s: float,
) -> I64:
    """Index pairs (local to ``pos``) within the padded radius at one step, shape (M, 2), i < j."""
    speed = np.sqrt(np.einsum("ij,ij->i", vel, vel))
    vmax = float(speed.max()) if len(speed) else 0.0
    tree = cKDTree(pos, balanced_tree=False, compact_nodes=False)
    if primary_local is not None:
        radius = reach_km + half_step_s * (speed[primary_local] + vmax)
        lists = tree.query_ball_point(pos[primary_local], r=radius)
        rows = [
            np.column_stack((np.full(len(lst), p), lst))
            for p, lst in zip(primary_local, lists, strict=True)
            if lst
        ]
        if not rows:
            return np.empty((0, 2), dtype=np.int64)
        pairs = np.concatenate(rows).astype(np.int64)
        pairs = pairs[pairs[:, 0] != pairs[:, 1]]
        pairs.sort(axis=1)
        return np.unique(pairs, axis=0)
    vcut = min(vmax, _FAST_KM_S)
    r_main = reach_km + half_step_s * 2 * vcut
    pairs = tree.query_pairs(r_main, output_type="ndarray").astype(np.int64)
    fast = np.nonzero(speed > vcut)[0]
    if len(fast):
        # objects faster than vcut (eccentric orbits near perigee) get their own, larger radius; keep only
        # what the main query could not have found, once
        is_fast = speed > vcut
        radius = reach_km + half_step_s * (speed[fast] + vmax)
        lists = tree.query_ball_point(pos[fast], r=radius)
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


def screen_chunk(
    key: str,
    objects: Sequence[CatalogObject],
    start: datetime,
    t0_s: float,
    t1_s: float,
    include_end: bool,
    settings: ScreenSettings,
    primaries: frozenset[int] | None,
) -> tuple[list[tuple[int, int, float]], ScreenStats]:
    """Candidate approaches ``(i, j, t_s)`` for steps in ``[t0_s, t1_s)`` (``]`` if include_end)."""
    model = _model(key, objects, settings)
    stats = ScreenStats()
    n = len(model.sats)
    primary_mask = None if primaries is None else np.isin(model.norad, list(primaries))
    active = _active_mask(model, primary_mask, settings.threshold_km)
    h_knot = settings.knot_step_s
    sub = round(h_knot / settings.step_s)
    n_knots = math.ceil((t1_s - t0_s) / h_knot - 1e-9) + 1
    knot_t = t0_s + h_knot * np.arange(n_knots, dtype=np.float64)
    err, r, v = propagate(model.array, start, knot_t)
    half = 0.5 * settings.step_s
    out: list[tuple[int, int, float]] = []
    # step fractions within each knot interval: every step in [t0, t1), and t1 itself at the window end
    fractions: list[list[float]] = [
        [m / sub for m in range(sub) if float(knot_t[k]) + m * settings.step_s < t1_s - 1e-9]
        for k in range(n_knots - 1)
    ]
    if include_end:
        k_end = min(n_knots - 2, int((t1_s - t0_s) // h_knot))
        frac_end = (t1_s - float(knot_t[k_end])) / h_knot
        if not any(abs(f - frac_end) < 1e-12 for f in fractions[k_end]):
            fractions[k_end].append(frac_end)
    for k in range(n_knots - 1):
        if not fractions[k]:
            continue
        ok = active & (err[k] == 0) & (err[k + 1] == 0)
        stats.propagation_failures += int(np.count_nonzero(active & ((err[k] != 0) | (err[k + 1] != 0))))
        idx = np.nonzero(ok)[0]
        if len(idx) < 2:
            continue
        e_pos = 2 * float(model.err_pos[idx].max())
        e_vel = 2 * float(model.err_vel[idx].max())
        reach = settings.threshold_km + e_pos + e_vel * half
        primary_local = None if primary_mask is None else np.nonzero(primary_mask[idx])[0]
        p0, v0, p1, v1 = r[k, idx], v[k, idx], r[k + 1, idx], v[k + 1, idx]
        for frac in fractions[k]:
            t = float(knot_t[k]) + frac * h_knot
            pos, vel = hermite(p0, v0, p1, v1, h_knot, frac)
            stats.steps += 1
            pairs = _step_pairs(pos, vel, idx, primary_local, reach, half)
            stats.tree_pairs += len(pairs)
            if len(pairs) == 0:
                continue
            gi, gj = idx[pairs[:, 0]], idx[pairs[:, 1]]
            radial = (model.band_lo[gi] - settings.threshold_km <= model.band_hi[gj]) & (
                model.band_lo[gj] - settings.threshold_km <= model.band_hi[gi]
            )
            pairs = pairs[radial]
            dr = pos[pairs[:, 1]] - pos[pairs[:, 0]]
            dv = vel[pairs[:, 1]] - vel[pairs[:, 0]]
            dv2 = np.einsum("ij,ij->i", dv, dv)
            tau = np.clip(-np.einsum("ij,ij->i", dr, dv) / np.maximum(dv2, 1e-30), -half, half)
            closest = dr + dv * tau[:, None]
            d_lin = np.sqrt(np.einsum("ij,ij->i", closest, closest))
            span = np.sqrt(np.einsum("ij,ij->i", dr, dr)) + half * np.sqrt(dv2)
            accel = _GRADIENT_S2 * span + _ACCEL_FLOOR_KM_S2
            gi, gj = idx[pairs[:, 0]], idx[pairs[:, 1]]
            interp = model.err_pos[gi] + model.err_pos[gj] + (model.err_vel[gi] + model.err_vel[gj]) * half
            limit = settings.threshold_km + 0.5 * accel * half**2 + interp + 0.01
            keep = np.nonzero(d_lin <= limit)[0]
            stats.candidates += len(keep)
            for q in keep:
                out.append((int(idx[pairs[q, 0]]), int(idx[pairs[q, 1]]), t + float(tau[q])))
    stats.objects = n
    stats.objects_screened = int(np.count_nonzero(active))
    return out, stats


# ---- refinement and merging ----------------------------------------------------------------------


def refine_candidates(
    model_objects: Sequence[CatalogObject],
    sats: Sequence[Satrec],
    start: datetime,
    duration_s: float,
    candidates: Iterable[tuple[int, int, float]],
    threshold_km: float,
    half_width_s: float,
) -> tuple[list[Event], int]:
    """Exact TCA for each candidate; one event per pair and range minimum within the window."""
    jd0, fr0 = to_jd(start)
    by_pair: dict[tuple[int, int], list[float]] = {}
    for i, j, t in candidates:
        a, b = (i, j) if i < j else (j, i)
        by_pair.setdefault((a, b), []).append(t)
    events: list[Event] = []
    refinements = 0
    for (i, j), times in by_pair.items():
        times.sort()
        found: list[float] = []
        for t in times:
            if any(abs(t - f) <= 2 * half_width_s for f in found):
                continue
            refinements += 1
            ap = refine_tca(sats[i], sats[j], jd0, fr0, t, half_width_s)
            if ap is None:
                continue
            if any(abs(ap.t_s - f) < 1e-3 for f in found):
                continue
            found.append(ap.t_s)
            if ap.miss_km > threshold_km or not (0.0 <= ap.t_s <= duration_s):
                continue
            o1, o2 = model_objects[i], model_objects[j]
            r1, v1, r2, v2 = ap.r1, ap.v1, ap.r2, ap.v2
            if o1.norad_id > o2.norad_id:
                o1, o2, r1, v1, r2, v2 = o2, o1, r2, v2, r1, v1
            events.append(
                Event(
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
            )
    return events, refinements


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
    return sorted(out, key=lambda e: (e.tca_utc, e.norad_1, e.norad_2))


def _chunk_task(
    key: str,
    objects: Sequence[CatalogObject],
    start: datetime,
    duration_s: float,
    t0_s: float,
    t1_s: float,
    include_end: bool,
    settings: ScreenSettings,
    primaries: frozenset[int] | None,
) -> tuple[list[Event], ScreenStats]:
    cands, stats = screen_chunk(key, objects, start, t0_s, t1_s, include_end, settings, primaries)
    model = _model(key, objects, settings)
    events, stats.refinements = refine_candidates(
        model.objects, model.sats, start, duration_s, cands, settings.threshold_km, 0.5 * settings.step_s
    )
    return events, stats


ProgressFn = Callable[[float, float], None]


def _chunks(duration_s: float, chunk_s: float) -> list[tuple[float, float, bool]]:
    edges = [*list(np.arange(0.0, duration_s, chunk_s)), duration_s]
    return [(float(a), float(b), k == len(edges) - 2) for k, (a, b) in enumerate(itertools.pairwise(edges))]


def _add(total: ScreenStats, part: ScreenStats) -> None:
    for name in ("steps", "tree_pairs", "candidates", "refinements", "propagation_failures"):
        setattr(total, name, getattr(total, name) + getattr(part, name))
    total.objects = max(total.objects, part.objects)
    total.objects_screened = max(total.objects_screened, part.objects_screened)


def screen(
    objects: Sequence[CatalogObject],
    start: datetime,
    duration_s: float,
    settings: ScreenSettings | None = None,
    *,
    primaries: Iterable[int] | None = None,
    workers: int | None = None,
    client: Any = None,
    progress: ProgressFn | None = None,
) -> ScreenResult:
    """Screen ``objects`` (all against all, or ``primaries`` against all) over ``duration_s`` from
    ``start``. ``workers`` processes (default: every core) or a ``dask.distributed`` ``client`` run the
    chunks; ``progress(done_s, total_s)`` is called as chunks finish."""
    settings = settings or ScreenSettings()
    prim = None if primaries is None else frozenset(int(p) for p in primaries)
    if prim is not None:
        known = {o.norad_id for o in objects}
        missing = sorted(prim - known)
        if missing:
            raise InputError(f"primary NORAD id(s) not in the catalogue: {', '.join(map(str, missing))}")
    key = catalogue_fingerprint(objects)
    chunks = _chunks(duration_s, settings.chunk_s)
    total = ScreenStats()
    events: list[Event] = []
    done = 0.0

    def collect(part: tuple[list[Event], ScreenStats], span: float) -> None:
        nonlocal done
        events.extend(part[0])
        _add(total, part[1])
        done += span
        if progress is not None:
            progress(done, duration_s)

    args = [(key, objects, start, duration_s, a, b, end, settings, prim) for a, b, end in chunks]
    if client is not None:
        from dask.distributed import as_completed

        remote_objects = client.scatter(list(objects), broadcast=True)
        futures = {
            client.submit(
                _chunk_task, key, remote_objects, start, duration_s, a, b, end, settings, prim, pure=False
            ): b - a
            for a, b, end in chunks
        }
        for fut in as_completed(futures):  # type: ignore[no-untyped-call]
            collect(fut.result(), futures[fut])
    else:
        n_workers = workers if workers is not None else (os.cpu_count() or 1)
        if n_workers <= 1 or len(chunks) == 1:
            for a_ in args:
                collect(_chunk_task(*a_), a_[5] - a_[4])
        else:
            with ProcessPoolExecutor(max_workers=min(n_workers, len(chunks))) as pool:
                futs = {pool.submit(_chunk_task, *a_): a_[5] - a_[4] for a_ in args}
                for f in cf_completed(futs):
                    collect(f.result(), futs[f])
    return ScreenResult(merge_events(events), total)
