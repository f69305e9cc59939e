"""Whole-catalogue screening benchmark (docs/benchmarks.md, section Space), end to end as a user runs it.

Two catalogues: the June 2026 LEO catalogue in ``../shared/data/space/leo_2026_06/`` (16,032 real element
sets, 10,583 of them Starlink; read from ``../shared``, never copied), and a 25,000-object synthetic one
(``kizuna space synth 25000 --seed 1 --epoch 2026-01-01``). Each is screened all against all for 7 days at
5 km by ``kizuna space screen`` in a subprocess, ``--repeat`` times; the script prints wall time, CPU
time of the command and every process it started, peak resident memory summed over all of them, and the
load average. Then recall against the dense reference (exact SGP4 at every ``--reference-step-s``, every
pair, no index, no interpolation) on ``--sample`` random primaries, and with ``--dask`` the same screen on
a local two-worker ``dask.distributed`` cluster, whose events file must be byte-identical.

    python benchmarks/screen_bench.py leo [--repeat 3] [--dask] [--sample 25] [--sample-hours 12]
    python benchmarks/screen_bench.py synthetic [--objects 25000] [--repeat 1] [--sample 25]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psutil
from _measure import machine

from kizuna.space.catalog import read_catalog
from kizuna.space.events import iter_events_csv
from kizuna.space.reference import dense_screen
from kizuna.space.timeutil import parse_utc

ROOT = Path(__file__).resolve().parents[1]
LEO = ROOT.parent / "shared" / "data" / "space" / "leo_2026_06" / "leo_2026-06.3le"
LEO_START = "2026-06-11T00:00:00Z"
SYN_EPOCH = "2026-01-01T00:00:00Z"
TCA_TOL_S = 0.010
MISS_TOL_KM = 0.001
KIZUNA = [sys.executable, "-m", "kizuna"]


class TreeSampler:
    """Peak RSS summed over a process and all its descendants, and the load average, every 0.2 s."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak = 0
        self.loads: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                procs = [self.root, *self.root.children(recursive=True)]
            except psutil.Error:
                continue
            total = 0
            for p in procs:
                with contextlib.suppress(psutil.Error):
                    total += int(p.memory_info().rss)
            self.peak = max(self.peak, total)
            self.loads.append(os.getloadavg()[0])

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _children_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_screen(catalog: Path, start: str, out: Path, extra: list[str]) -> dict[str, float]:
    """``kizuna space screen`` as a user runs it; wall, CPU (it and every process it waited for), peak RSS."""
    cmd = [*KIZUNA, "space", "screen", str(catalog), "--start", start, "--days", "7", "--threshold-km", "5"]
    cmd += ["--out", str(out), "--force", "--top", "5", *extra]
    cpu0 = _children_cpu_s()
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=log)
        with TreeSampler(proc.pid) as sampler:
            rc = proc.wait()
        wall = time.perf_counter() - t0
        log.seek(0)
        text = log.read().decode(errors="replace")
    if rc != 0:
        raise SystemExit(f"kizuna space screen failed ({rc}):\n{text[-3000:]}")
    summary = [
        line for line in text.splitlines() if " events in " in line or "warning" in line or "note" in line
    ]
    for line in summary:
        print("   ", line[:300])
    loads = sampler.loads or [load0]
    return {
        "wall_s": wall,
        "cpu_s": _children_cpu_s() - cpu0,
        "peak_rss_mib": sampler.peak / 2**20,
        "load_before": load0,
        "load_mean": statistics.fmean(loads),
        "load_max": max(loads),
        "events": sum(1 for _ in out.open()) - 1,
    }


def recall(
    catalog: Path, start: str, events_csv: Path, sample: int, hours: float, step_s: float, seed: int
) -> None:
    objects = read_catalog(catalog).objects
    rng = np.random.default_rng(seed)
    primaries = sorted(int(x) for x in rng.choice([o.norad_id for o in objects], size=sample, replace=False))
    begin = parse_utc(start)
    window_s = hours * 3600.0
    t0 = time.perf_counter()
    ref = dense_screen(objects, begin, window_s, 5.0, step_s=step_s, primaries=primaries)
    ref_wall = time.perf_counter() - t0
    end = begin + timedelta(seconds=window_s)
    chosen = set(primaries)
    fast = [
        e
        for e in iter_events_csv(events_csv)
        if (e.norad_1 in chosen or e.norad_2 in chosen) and e.tca_utc <= end
    ]
    by_pair: dict[tuple[int, int], list] = {}
    for f in fast:
        by_pair.setdefault((f.norad_1, f.norad_2), []).append(f)
    found, worst_dt, worst_dm = 0, 0.0, 0.0
    for r in ref:
        # the CSV keeps TCAs to the millisecond and misses to the millimetre
        hits = [
            f
            for f in by_pair.get((r.norad_1, r.norad_2), [])
            if abs((f.tca_utc - r.tca_utc).total_seconds()) <= TCA_TOL_S + 5e-4
            and abs(f.miss_km - r.miss_km) <= MISS_TOL_KM + 5e-7
        ]
        if hits:
            found += 1
            worst_dt = max(worst_dt, abs((hits[0].tca_utc - r.tca_utc).total_seconds()))
            worst_dm = max(worst_dm, abs(hits[0].miss_km - r.miss_km))
    extra = len(fast) - found
    share = found / len(ref) if ref else 1.0
    print(
        f"recall: {sample} random primaries (seed {seed}) x {len(objects)} objects, first {hours:g} h, dense "
        f"reference every {step_s:g} s ({ref_wall:.0f} s): reference {len(ref)} events, screen {len(fast)}, "
        f"found {found}/{len(ref)} = {share:.1%} (screen events the reference lacks: {extra}); worst |dTCA| "
        f"{worst_dt * 1000:.3f} ms, worst |dmiss| {worst_dm * 1000:.3f} m"
    )


def run_dask(catalog: Path, start: str, out: Path, reference_csv: Path) -> None:
    from dask.distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        workers = psutil.Process().children(recursive=True)
        cpu_before = sum(_cpu(p) for p in workers)
        figures = run_screen(catalog, start, out, ["--scheduler", cluster.scheduler_address])
        cpu_workers = sum(_cpu(p) for p in psutil.Process().children(recursive=True)) - cpu_before
    same = out.read_bytes() == reference_csv.read_bytes()
    print(
        f"dask: local cluster, 2 worker processes on 127.0.0.1: wall {figures['wall_s']:.1f} s, "
        f"CPU {cpu_workers:.1f} s in the workers + {figures['cpu_s']:.1f} s in the command, "
        f"{figures['events']} events; "
        f"events file identical to the process pool's: {same}"
    )
    if not same:
        raise SystemExit("the dask run gave different events")


def _cpu(p: psutil.Process) -> float:
    try:
        t = p.cpu_times()
        return float(t.user + t.system + t.children_user + t.children_system)
    except psutil.Error:
        return 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("catalogue", choices=["leo", "synthetic"])
    ap.add_argument("--objects", type=int, default=25_000, help="synthetic catalogue size")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--dask", action="store_true", help="also run on a local two-worker dask cluster")
    ap.add_argument("--sample", type=int, default=25, help="primaries in the recall sample (0: none)")
    ap.add_argument("--sample-hours", type=float, default=12.0)
    ap.add_argument("--reference-step-s", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", type=Path, default=None, help="folder to keep the events files in")
    args = ap.parse_args()

    print(f"machine: {machine()}; {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = args.keep or Path(tmp_name)
        tmp.mkdir(parents=True, exist_ok=True)
        if args.catalogue == "leo":
            if not LEO.is_file():
                raise SystemExit(f"{LEO} is missing: the LEO catalogue lives in ../shared/data (not shipped)")
            catalog, start = LEO, LEO_START
        else:
            catalog, start = tmp / f"synthetic-{args.objects}.tle", SYN_EPOCH
            subprocess.run(
                [*KIZUNA, "space", "synth", str(args.objects), "--out", str(catalog),
                 "--seed", str(args.seed), "--epoch", SYN_EPOCH, "--force"],
                check=True, capture_output=True,
            )  # fmt: skip
        print(
            f"catalogue: {catalog.name}, window {start} + 7 days, all against all, 5 km, "
            f"{args.workers} workers"
        )
        runs = []
        first = tmp / "events-1.csv"
        for k in range(args.repeat):
            out = tmp / f"events-{k + 1}.csv"
            fig = run_screen(catalog, start, out, ["--workers", str(args.workers)])
            runs.append(fig)
            print(
                f"  run {k + 1}: wall {fig['wall_s']:.1f} s, CPU {fig['cpu_s']:.1f} s, peak RSS (all "
                f"processes) {fig['peak_rss_mib']:.0f} MiB, {fig['events']} events, load average "
                f"{fig['load_before']:.1f} before, {fig['load_mean']:.1f} mean / {fig['load_max']:.1f} "
                "max during"
            )
            if k > 0 and out.read_bytes() != first.read_bytes():
                raise SystemExit("runs gave different events")
        if runs:
            print(
                f"median of {len(runs)}: wall {statistics.median(r['wall_s'] for r in runs):.1f} s, CPU "
                f"{statistics.median(r['cpu_s'] for r in runs):.1f} s, peak RSS "
                f"{statistics.median(r['peak_rss_mib'] for r in runs):.0f} MiB"
            )
        if args.dask and runs:
            run_dask(catalog, start, tmp / "events-dask.csv", first)
        if args.sample > 0 and runs:
            recall(
                catalog, start, first, args.sample, args.sample_hours, args.reference_step_s, args.seed + 1000
            )


if __name__ == "__main__":
    main()
