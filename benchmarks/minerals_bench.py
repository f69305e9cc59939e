"""Benchmark for kizuna.minerals (figures recorded in docs/benchmarks.md, section "Minerals").

    python benchmarks/minerals_bench.py            # kizuna figures + the geopolrisk-py peer ratio
    python benchmarks/minerals_bench.py --no-peer  # kizuna figures only

1. Full profile of every mineral, cold: a fresh MineralsData (sha256 of each file, parse USGS and EU CRM)
   and a profile of all minerals. Target: <= 5 s on the 2-core CI machine.
2. Exposure (GBR, JPN x 4 watched minerals), all seeded restrictions as one scenario, a joint LP, EU CRM.
3. GeoPolRisk score for 6 minerals x 2 partners x 3 years, from a cold start, kizuna vs geopolrisk-py
   2.0.1 (run in a subprocess with its own HOME); the ratio is peer time / kizuna time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date

from kizuna.minerals.catalogue import WATCHED
from kizuna.minerals.dataset import MineralsData
from kizuna.minerals.diversify import diversify
from kizuna.minerals.eucrm import compute_crm
from kizuna.minerals.exposure import exposure
from kizuna.minerals.profile import all_minerals, profile
from kizuna.minerals.restrictions import SEEDED
from kizuna.minerals.scenario import Scenario, run_scenario

PEER_CASES = ["Cobalt", "Graphite", "Rare earth", "Lithium", "Nickel", "Tungsten"]
KIZUNA_CASES = ["cobalt", "graphite_natural", "rare_earths", "lithium", "nickel", "tungsten"]
PARTNERS = {"Japan": "JPN", "United Kingdom": "GBR"}
YEARS = (2022, 2023, 2024)

PEER = r"""
import json, sys, time
t0 = time.perf_counter()
from geopolrisk.assessment import core, utils
data = utils.mapped_baci()
cases, partners, years = json.loads(sys.argv[1])
n = 0
for rm in cases:
    for p in partners:
        for y in years:
            prod, hhi = core.HHI(rm, y, p)
            num, tot, price = core.importrisk(rm, y, p, data)
            core.GeoPolRisk(num, tot, price, prod, hhi)
            n += 1
print("PEER", n, time.perf_counter() - t0)
"""


def timed(fn, repeat: int = 3) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def full_profile() -> int:
    data = MineralsData()
    return len([profile(data, k) for k in all_minerals(data)])


def kizuna_gpr() -> int:
    data = MineralsData()
    n = 0
    for key in KIZUNA_CASES:
        for p in PARTNERS.values():
            for y in YEARS:
                exposure(data, p, key, year=y)
                n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()
    out: dict[str, object] = {}

    t, n = timed(full_profile)
    out["full_profile_cold_s"] = round(t, 3)
    out["minerals_profiled"] = n
    print(f"full profile of all {n} minerals (cold, incl. sha256 + parsing): {t:.3f} s (target <= 5 s)")

    data = MineralsData()
    t0 = time.perf_counter()
    _ = data.trade
    out["baci_load_s"] = round(time.perf_counter() - t0, 3)
    print(f"BACI load (504,683 rows, sha256 + parse): {out['baci_load_s']} s")
    t, _ = timed(
        lambda: [
            exposure(data, p, m)
            for p in ("GBR", "JPN")
            for m in ("rare_earths", "gallium", "graphite", "cobalt")
        ]
    )
    out["exposure_8_s"] = round(t, 3)
    print(f"exposure, 2 partners x 4 minerals (warm): {t:.3f} s")
    sc = Scenario("all seeded", SEEDED, as_of=date(2026, 11, 23), apply_inactive=True)
    t, _ = timed(lambda: run_scenario(data, sc))
    out["scenario_all_seeded_s"] = round(t, 3)
    print(f"scenario, all 9 seeded restrictions (warm): {t:.3f} s")
    t, _ = timed(lambda: [diversify(data, k) for k in ("rare_earths", "graphite", "cobalt")])
    out["diversify_3_s"] = round(t, 3)
    print(f"joint LP for rare earths, graphite, cobalt (warm): {t:.3f} s")
    t, _ = timed(lambda: compute_crm(data.eu_global, data.eu_sourcing, data.eu_use, data.governance))
    out["eu_crm_s"] = round(t, 3)
    print(f"EU CRM SR/EI for 85 materials (warm): {t:.3f} s")

    t, n = timed(kizuna_gpr, repeat=1)
    out["kizuna_gpr_cold_s"] = round(t, 3)
    print(f"GeoPolRisk, {n} cases, cold start: kizuna {t:.3f} s")
    if not args.no_peer:
        with tempfile.TemporaryDirectory() as home:
            arg = json.dumps([PEER_CASES, list(PARTNERS), list(YEARS)])
            t0 = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-c", PEER, arg],
                capture_output=True,
                text=True,
                env={**os.environ, "HOME": home},
                check=True,
            )
            wall = time.perf_counter() - t0
        line = next(x for x in proc.stdout.splitlines() if x.startswith("PEER"))
        peer_s = float(line.split()[2])
        out["peer_gpr_cold_s"] = round(peer_s, 3)
        out["peer_process_wall_s"] = round(wall, 3)
        out["ratio_peer_over_kizuna"] = round(peer_s / t, 1)
        print(
            f"GeoPolRisk, same cases, cold start: geopolrisk-py 2.0.1 {peer_s:.3f} s "
            f"(process {wall:.1f} s) -> ratio {peer_s / t:.1f}x"
        )
    assert set(KIZUNA_CASES) <= set(WATCHED)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
