"""Benchmark: the cost of one ``kizuna match export --watch`` rewrite against a large indicator set.

    python benchmarks/watch_bench.py                  # 100,000 indicators (match_bench's generated set)
    python benchmarks/watch_bench.py --indicators 10000 --runs 5

The watcher renders every file from the whole set at each rewrite (a file is the whole set, and Zeek and
Suricata re-read whole files), so this is what a change costs the watcher, in-process, without the hub:

* load: every indicator applied to :class:`~kizuna.detect.watch.ExportSet` (what the first listing costs
  after the transfer: validation of each pattern, warning lists);
* apply one: one new version applied (what an event from the stream costs);
* rewrite: render the files and write them atomically (temporary file, fsync, rename), for Zeek and for
  Suricata.

Wall and CPU seconds, median of ``--runs``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from match_bench import generate_indicators

from kizuna.detect.exports import export_files, write_atomically
from kizuna.detect.warninglists import load_warninglists
from kizuna.detect.watch import ExportSet
from kizuna.stix.ids import utc_now


def stix(pattern: str, i: int) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.UUID(int=i + 1, version=4)}",
        "created": "2026-01-15T00:00:00.000Z",
        "modified": "2026-01-15T00:00:00.000Z",
        "name": f"generated {i}",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-01-15T00:00:00Z",
    }


def timed(fn: Any) -> tuple[float, float, Any]:
    w, c = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - w, time.process_time() - c, result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--indicators", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    patterns, _values = generate_indicators(args.indicators, random.Random(16))
    objects = [stix(p, i) for i, p in enumerate(patterns)]
    warninglists = load_warninglists()
    rows: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            exports = ExportSet(warninglists)
            w, c, _ = timed(lambda: exports.apply(objects, utc_now()))  # noqa: B023
            rows.setdefault("load (apply all)", []).append((w, c))
            new = stix("[ipv4-addr:value = '198.18.0.1']", len(objects))
            w, c, _ = timed(lambda: exports.apply([new], utc_now()))  # noqa: B023
            rows.setdefault("apply one version", []).append((w, c))
            for fmt in ("zeek-intel", "suricata-dataset"):

                def rewrite(fmt: str = fmt) -> int:
                    files, _rep = export_files(fmt, exports.current(utc_now()))  # noqa: B023
                    for name, data in files.items():
                        write_atomically(Path(tmp) / name, data)
                    return sum(len(d) for d in files.values())

                w, c, size = timed(rewrite)
                rows.setdefault(f"rewrite {fmt} ({size / 1e6:.1f} MB)", []).append((w, c))
    print(f"{len(objects):,} indicators, {len(exports):,} of them active; median of {args.runs} runs")
    for name, values in rows.items():
        wall = statistics.median(v[0] for v in values)
        cpu = statistics.median(v[1] for v in values)
        print(f"  {name:<40} wall {wall * 1000:10.3f} ms   cpu {cpu * 1000:10.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
