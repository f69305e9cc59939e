"""The plain reference for screening: exact SGP4 at every dense sample, every pair, no index and no
interpolation. Slow by design; used by tests (small catalogues) and by the benchmark (a sample).

A pair is refined at every local minimum of its sampled range that lies within the threshold plus
the most the range can dip between two samples (``|dv| * step / 2`` plus curvature). Objects that share
one element set (docked; :func:`kizuna.space.prefilter.colocated_sets`) are not paired, as in the screen.

:func:`dense_volume_entries` is the plain reference for ellipsoidal volumes: every sample at which a
secondary is inside a primary's volume, in the primary's radial / in-track / cross-track frame.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import numpy as np

from kizuna.space.catalog import CatalogObject
from kizuna.space.events import Event
from kizuna.space.prefilter import colocated_sets
from kizuna.space.propagation import EARTH_RADIUS_KM, MU_KM3_S2, propagate
from kizuna.space.screening import merge_events, refine_candidates
from kizuna.space.volumes import Volume

__all__ = ["dense_screen", "dense_volume_entries"]

_GRADIENT_S2 = 2 * MU_KM3_S2 / EARTH_RADIUS_KM**3


def dense_screen(
    objects: Sequence[CatalogObject],
    start: datetime,
    duration_s: float,
    threshold_km: float,
    *,
    step_s: float = 2.0,
    primaries: Iterable[int] | None = None,
    max_pair_samples: int = 4_000_000,
) -> list[Event]:
    """Every event with TCA in ``[start, start + duration_s]`` found by dense sampling."""
    sats = [o.satrec() for o in objects]
    n = len(sats)
    if primaries is None:
        ii, jj = np.triu_indices(n, k=1)
    else:
        prim = {int(p) for p in primaries}
        pidx = [k for k, o in enumerate(objects) if o.norad_id in prim]
        pairs = {(min(p, q), max(p, q)) for p in pidx for q in range(n) if q != p}
        arr = np.array(sorted(pairs), dtype=np.int64).reshape(-1, 2)
        ii, jj = arr[:, 0], arr[:, 1]
    same = np.full(n, -1)
    for k, members in enumerate(colocated_sets(sats)):
        same[members] = k
    keep = (same[ii] < 0) | (same[ii] != same[jj])
    ii, jj = ii[keep], jj[keep]
    times = np.arange(0.0, duration_s + 1e-9, step_s)
    if times[-1] < duration_s:
        times = np.append(times, duration_s)
    half = 0.5 * step_s
    block_steps = max(2, max_pair_samples // max(1, len(ii)))
    candidates: list[tuple[int, int, float]] = []
    width = len(ii)
    inf_row = np.full((1, width), np.inf)
    # samples carried into the next block: the last judged one (left neighbour) and the pending one
    carry_d, carry_l, carry_t = inf_row, np.zeros((1, width)), np.array([-np.inf])
    for b0 in range(0, len(times), block_steps):
        tb = times[b0 : b0 + block_steps]
        err, r, v = propagate(sats, start, tb)
        dr = r[:, jj] - r[:, ii]
        dv = v[:, jj] - v[:, ii]
        d = np.sqrt(np.einsum("tij,tij->ti", dr, dr))
        d[(err[:, ii] != 0) | (err[:, jj] != 0)] = np.inf
        speed = np.sqrt(np.einsum("tij,tij->ti", dv, dv))
        lim = threshold_km + half * speed + 0.5 * (_GRADIENT_S2 * (d + half * speed) + 1e-5) * half**2
        dd = np.concatenate((carry_d, d))
        ll = np.concatenate((carry_l, lim))
        tt = np.concatenate((carry_t, tb))
        carry_d, carry_l, carry_t = dd[-2:], ll[-2:], tt[-2:]
        if b0 + block_steps >= len(times):  # the last sample has no right neighbour: judge it too
            dd = np.concatenate((dd, inf_row))
        mid = dd[1:-1]
        is_min = (mid <= dd[:-2]) & (mid <= dd[2:]) & (mid <= ll[1 : len(dd) - 1])
        for row, q in zip(*np.nonzero(is_min), strict=True):
            candidates.append((int(ii[q]), int(jj[q]), float(tt[1 + row])))
    events, _ = refine_candidates(objects, sats, start, duration_s, candidates, threshold_km, step_s)
    return merge_events(events)


def dense_volume_entries(
    objects: Sequence[CatalogObject],
    start: datetime,
    duration_s: float,
    pairs: Sequence[tuple[int, int]],
    volume: Volume,
    *,
    step_s: float = 0.5,
) -> dict[tuple[int, int], list[float]]:
    """For each ``(primary, secondary)`` NORAD pair: the sample times (s after ``start``) at which the
    secondary is inside ``volume`` centred on the primary (exact SGP4 every ``step_s``)."""
    by_norad = {o.norad_id: o for o in objects}
    times = np.arange(0.0, duration_s + 1e-9, step_s)
    axes = np.array(volume.axes_km)
    out: dict[tuple[int, int], list[float]] = {}
    for p, q in pairs:
        err, r, v = propagate([by_norad[p].satrec(), by_norad[q].satrec()], start, times)
        rp, vp, rs = r[:, 0], v[:, 0], r[:, 1]
        r_hat = rp / np.linalg.norm(rp, axis=1)[:, None]
        h = np.cross(rp, vp)
        c_hat = h / np.linalg.norm(h, axis=1)[:, None]
        i_hat = np.cross(c_hat, r_hat)
        rel = rs - rp
        ric = np.column_stack(
            (
                np.einsum("ij,ij->i", rel, r_hat),
                np.einsum("ij,ij->i", rel, i_hat),
                np.einsum("ij,ij->i", rel, c_hat),
            )
        )
        inside = (np.sum((ric / axes) ** 2, axis=1) <= 1.0) & (err == 0).all(axis=1)
        hits = times[inside]
        if len(hits):
            out[(p, q)] = [float(t) for t in hits]
    return out
