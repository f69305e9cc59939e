"""Whole-catalogue screening benchmark (docs/benchmarks.md, section Space).

A 25,000-object realistic synthetic catalogue, 7 days, all against all, 5 km, on every core; then recall
against the dense brute-force reference (exact SGP4 at every sample, every pair) on a sample of primaries.

    python benchmarks/screen_bench.py [--objects 25000] [--days 7] [--workers 2] [--sample 25]

Prints wall time and CPU time (this process and its worker processes): on a shared machine the CPU time
divided by the number of workers is what the run takes on otherwise idle cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from kizuna.space.reference import dense_screen
from kizuna.space.screening import ScreenSettings, screen
from kizuna.space.synthetic import synthetic_catalog

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
TCA_TOL_S = 0.010
MISS_TOL_KM = 0.001


def _cpu_s() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=25_000)
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--threshold-km", type=float, default=5.0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--step-s", type=float, default=40.0)
    ap.add_argument("--sample", type=int, default=25, help="primaries in the recall sample")
    ap.add_argument("--sample-hours", type=float, default=12.0, help="window of the recall sample")
    ap.add_argument("--reference-step-s", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, python {platform.python_version()}")
    t0 = time.perf_counter()
    objects = synthetic_catalog(args.objects, epoch=EPOCH, seed=args.seed)
    print(f"catalogue: {len(objects)} objects (seed {args.seed}) in {time.perf_counter() - t0:.1f} s")

    settings = ScreenSettings(threshold_km=args.threshold_km, step_s=args.step_s)
    load_before = os.getloadavg()[0]
    cpu0 = _cpu_s()
    t0 = time.perf_counter()
    result = screen(objects, EPOCH, args.days * 86400.0, settings, workers=args.workers)
    wall = time.perf_counter() - t0
    cpu = _cpu_s() - cpu0
    print(
        f"load average before {load_before:.1f}, after {os.getloadavg()[0]:.1f}; CPU {cpu:.1f} s "
        f"(= {cpu / args.workers:.1f} s on {args.workers} idle cores)"
    )
    s = result.stats
    print(
        f"screen: {len(result.events)} events <= {args.threshold_km} km over {args.days:g} days, "
        f"all vs all, {args.workers} workers, step {args.step_s:g} s: {wall:.1f} s wall"
    )
    print(
        f"  steps {s.steps}, tree pairs {s.tree_pairs}, candidates {s.candidates}, "
        f"refinements {s.refinements}, objects screened {s.objects_screened}/{s.objects}, "
        f"propagation failures {s.propagation_failures}"
    )
    misses = np.array([e.miss_km for e in result.events])
    if len(misses):
        print(f"  events under 1 km: {int((misses < 1).sum())}, under 0.1 km: {int((misses < 0.1).sum())}")

    if args.sample <= 0:
        return
    rng = np.random.default_rng(args.seed + 1000)
    sample = sorted(
        int(x) for x in rng.choice([o.norad_id for o in objects], size=args.sample, replace=False)
    )
    window_s = args.sample_hours * 3600.0
    t0 = time.perf_counter()
    ref = dense_screen(
        objects, EPOCH, window_s, args.threshold_km, step_s=args.reference_step_s, primaries=sample
    )
    ref_wall = time.perf_counter() - t0
    end = EPOCH + timedelta(seconds=window_s)
    chosen = set(sample)
    fast = [e for e in result.events if (e.norad_1 in chosen or e.norad_2 in chosen) and e.tca_utc <= end]
    found = 0
    worst_dt, worst_dm = 0.0, 0.0
    for r in ref:
        hits = [
            f
            for f in fast
            if (f.norad_1, f.norad_2) == (r.norad_1, r.norad_2)
            and abs((f.tca_utc - r.tca_utc).total_seconds()) <= TCA_TOL_S
            and abs(f.miss_km - r.miss_km) <= MISS_TOL_KM
        ]
        if hits:
            found += 1
            worst_dt = max(worst_dt, abs((hits[0].tca_utc - r.tca_utc).total_seconds()))
            worst_dm = max(worst_dm, abs(hits[0].miss_km - r.miss_km))
    recall = found / len(ref) if ref else 1.0
    print(
        f"recall sample: {args.sample} primaries x {len(objects)} objects, first {args.sample_hours:g} h, "
        f"dense reference step {args.reference_step_s:g} s ({ref_wall:.0f} s): reference {len(ref)} events, "
        f"fast {len(fast)} events, found {found}/{len(ref)} = recall {recall:.1%}; "
        f"worst |dTCA| {worst_dt * 1000:.3f} ms, worst |dmiss| {worst_dm * 1000:.3f} m"
    )


if __name__ == "__main__":
    main()
