"""Benchmark: ``kizuna match`` end to end as a user runs it, over large ECS JSON and Suricata EVE logs.

    python benchmarks/match_cli_bench.py               # 1,000,000 lines a format, 100,000 indicators
    python benchmarks/match_cli_bench.py --lines 200000 --runs 1 --no-plain       # a quick look
    git archive main | tar -x -C /tmp/kizuna-main      # today's code, for the baseline column
    python benchmarks/match_cli_bench.py --baseline-src /tmp/kizuna-main

The indicator set is the generated set of ``benchmarks/match_bench.py`` (same seed; 90 % equality patterns on
addresses, domains, URLs and SHA-256 hashes, 10 % compound), written as a valid STIX 2.1 bundle. The logs
are connection records as Elastic Common Schema JSON lines (nested fields, ~300 bytes a line) and as
Suricata EVE lines (flow, dns, http, tls and fileinfo events); about 1 % of the lines carry a value of
some indicator. Files are generated once into ``--data-dir`` (default: a temporary directory).

Each figure is the wall time of one ``kizuna match --bundle B --json LOG`` process from start to exit
(Python start-up, loading and validating the bundle, compiling the indicators - or loading them from the
compiled-indicator cache, kept in ``DATA_DIR/cache`` - reading the whole log, printing the matches to a
file), events/s = lines / wall seconds. The first run of each format starts with an empty cache (cold:
it validates, compiles and writes the entry), the others find it (warm); both are printed. CPU seconds
(user + system of the process and its workers) are printed beside it, with the load average, as the
machine is shared. Compared in the same run: ``--reader plain`` (the plain reader in one process, the
reference every fast run must equal byte for byte, and what ``kizuna match`` did before ``--workers``),
and with ``--baseline-src`` the code of another checkout (e.g. main) run the same way. Inner figures,
measured in this process on one core (CPU time): compiling the indicators, the fast decoder (orjson +
probe + prefilter) and the matcher alone.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).parent))
from _measure import machine
from match_bench import generate_indicators

SEED = 20260201


def _ip(rng: random.Random) -> str:
    return f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def write_bundle(path: Path, patterns: list[str]) -> None:
    objects = [
        {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.UUID(int=i + 1, version=4)}",
            "created": "2026-01-15T00:00:00.000Z",
            "modified": "2026-01-15T00:00:00.000Z",
            "name": f"generated indicator {i}",
            "pattern": p,
            "pattern_type": "stix",
            "valid_from": "2026-01-15T00:00:00Z",
        }
        for i, p in enumerate(patterns)
    ]
    bundle = {"type": "bundle", "id": f"bundle--{uuid.UUID(int=0, version=4)}", "objects": objects}
    path.write_bytes(orjson.dumps(bundle))


def _stamp(i: int) -> str:
    """A timestamp 1 ms after the previous line's."""
    hour, minute, second = 10 + i // 3_600_000 % 12, i // 60_000 % 60, i // 1000 % 60
    return f"2026-02-01T{hour:02d}:{minute:02d}:{second:02d}.{i % 1000:03d}"


def write_ecs(path: Path, n: int, values: dict[str, list[str]], rng: random.Random) -> None:
    with path.open("wb") as f:
        for i in range(n):
            hit = rng.random() < 0.01
            dst = rng.choice(values["ip"]) if hit and rng.random() < 0.5 else _ip(rng)
            rec: dict[str, Any] = {
                "@timestamp": _stamp(i) + "Z",
                "ecs": {"version": "8.11.0"},
                "event": {"category": ["network"], "kind": "event"},
                "source": {"ip": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{i % 250 + 1}",
                           "port": rng.randint(1024, 65535)},
                "destination": {"ip": dst, "port": rng.choice([53, 80, 443, 502, 8443])},
                "network": {"transport": "tcp"},
                "host": {"hostname": "sensor-1"},
            }  # fmt: skip
            if i % 3 == 0:
                name = rng.choice(values["domain"]) if hit else f"q{i}.cdn.example"
                rec["dns"] = {"question": {"name": name}}
            if i % 10 == 0:
                rec["url"] = {"full": rng.choice(values["url"]) if hit else f"http://w{i}.example/index.html"}
            if i % 25 == 0:
                sha = rng.choice(values["sha256"]) if hit else f"{rng.getrandbits(256):064x}"
                rec["file"] = {"name": f"f{i}.bin", "hash": {"sha256": sha}}
            f.write(orjson.dumps(rec) + b"\n")


def write_eve(path: Path, n: int, values: dict[str, list[str]], rng: random.Random) -> None:
    with path.open("wb") as f:
        for i in range(n):
            hit = rng.random() < 0.01
            dst = rng.choice(values["ip"]) if hit and rng.random() < 0.5 else _ip(rng)
            rec: dict[str, Any] = {
                "timestamp": _stamp(i) + "000+0000",
                "flow_id": 1_000_000_000 + i,
                "in_iface": "eth0",
                "event_type": "flow",
                "src_ip": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{i % 250 + 1}",
                "src_port": rng.randint(1024, 65535),
                "dest_ip": dst,
                "dest_port": rng.choice([53, 80, 443, 502, 8443]),
                "proto": "TCP",
            }
            kind = i % 10
            if kind in (0, 3, 6):
                rec["event_type"] = "dns"
                name = rng.choice(values["domain"]) if hit else f"q{i}.cdn.example"
                rec["dns"] = {"type": "query", "id": i % 65536, "rrname": name, "rrtype": "A"}
            elif kind == 1:
                rec["event_type"] = "http"
                url = rng.choice(values["url"]) if hit else f"http://w{i}.example/index.html"
                host = url.split("/")[2]
                path = url[len("http://") + len(host) :]
                rec["http"] = {"hostname": host, "url": path, "http_method": "GET"}
            elif kind == 2:
                rec["event_type"] = "tls"
                rec["tls"] = {"sni": f"s{i}.example", "version": "TLS 1.3"}
            elif kind == 4 and i % 20 == 4:
                rec["event_type"] = "fileinfo"
                sha = rng.choice(values["sha256"]) if hit else f"{rng.getrandbits(256):064x}"
                rec["fileinfo"] = {"filename": f"/f{i}.bin", "sha256": sha, "size": 1000 + i % 5000}
            f.write(orjson.dumps(rec) + b"\n")


def prepare(data: Path, indicators: int, lines: int) -> tuple[Path, dict[str, Path]]:
    rng = random.Random(SEED)
    patterns, values = generate_indicators(indicators, rng)
    bundle = data / f"indicators-{indicators}.json"
    if not bundle.exists():
        write_bundle(bundle, patterns)
    logs = {"ECS JSON": data / f"ecs-{lines}.ndjson", "Suricata EVE": data / f"eve-{lines}.json"}
    for (name, path), writer in zip(logs.items(), (write_ecs, write_eve), strict=True):
        if not path.exists():
            print(f"generating {lines:,} {name} lines ...", flush=True)
            writer(path, lines, values, random.Random(f"{SEED}-{name}"))
    return bundle, logs


CACHE_HOME: Path | None = None  # XDG_CACHE_HOME of the runs (set in main)


def _env(pythonpath: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if CACHE_HOME is not None:
        env["XDG_CACHE_HOME"] = str(CACHE_HOME)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    return env


def kizuna_source(pythonpath: str | None, cwd: Path) -> str:
    """Where ``python -m kizuna`` run like the benchmark runs it imports kizuna from."""
    code = "import kizuna, pathlib; print(pathlib.Path(kizuna.__file__).parent.parent)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(pythonpath),
                          cwd=cwd, check=True)  # fmt: skip
    return proc.stdout.strip()


def run_match(args: list[str], out: Path, pythonpath: str | None = None) -> tuple[float, float, str]:
    """(wall s, CPU s of the process and its children, stderr) of one ``kizuna match`` run, started in the
    output's directory (not in a source tree, whose kizuna ``python -m`` would import first)."""
    env = _env(pythonpath)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with out.open("wb") as stdout:
        proc = subprocess.run(
            [sys.executable, "-m", "kizuna", "match", *args], stdout=stdout, stderr=subprocess.PIPE, env=env,
            cwd=out.parent, check=False,
        )  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    stderr = proc.stderr.decode()
    if proc.returncode != 0:
        raise SystemExit(f"kizuna match {' '.join(args)} failed ({proc.returncode}):\n{stderr}")
    return wall, cpu, stderr


def inner_figures(bundle: Path, log: Path, sample_lines: int) -> dict[str, float]:
    """Compile CPU s, and decoder / matcher rates on one core (CPU time), measured in this process."""
    import gc
    import itertools

    from kizuna.detect.decoders import Prefilter
    from kizuna.detect.indicators import build_matcher, load_bundle, select_indicators
    from kizuna.detect.pipeline import Decoder, plan_file
    from kizuna.detect.readers import read_events
    from kizuna.detect.warninglists import default_warninglists
    from kizuna.stix.ids import parse_timestamp

    gc.disable()
    t = time.process_time()
    sel = select_indicators(
        load_bundle(bundle), now=parse_timestamp("2026-02-01T00:00:00Z"), warninglists=default_warninglists()
    )
    matcher = build_matcher(sel.active)
    compile_s = time.process_time() - t
    gc.freeze()
    gc.enable()
    decoder = Decoder(matcher, Prefilter.of(matcher.index))
    chunks = plan_file(log, "auto")
    t = time.process_time()
    lines = admitted = 0
    for chunk in chunks:
        result = decoder.run(chunk)
        lines += result.lines
        admitted += len(result.hits)
        if lines >= sample_lines:
            break
    decode_rate = lines / (time.process_time() - t)
    events = list(itertools.islice(read_events(log), min(sample_lines, 200_000)))
    t = time.process_time()
    for e in events:
        matcher.feed(e)
    match_rate = len(events) / (time.process_time() - t)
    return {"compile_s": compile_s, "decode_rate": decode_rate, "match_rate": match_rate}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--indicators", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3, help="runs of the fast path per format (median reported)")
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--workers", type=int, default=None, help="--workers for kizuna match (default: its own)")
    ap.add_argument("--baseline-src", type=Path, default=None, help="a kizuna source tree to compare with")
    ap.add_argument("--no-plain", action="store_true", help="skip the plain-reader runs (slow)")
    ap.add_argument("--inner-sample", type=int, default=200_000, help="lines for the inner figures")
    args = ap.parse_args()
    tmp = None
    if args.data_dir is None:
        tmp = tempfile.TemporaryDirectory()
        args.data_dir = Path(tmp.name)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    bundle, logs = prepare(args.data_dir, args.indicators, args.lines)
    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d')}")
    print(f"indicators: {args.indicators:,} ({bundle.stat().st_size / 1e6:.0f} MB bundle)")
    print(f"kizuna from {kizuna_source(None, args.data_dir)}", end="")
    if args.baseline_src is not None:
        baseline = kizuna_source(str(args.baseline_src), args.data_dir)
        if Path(baseline).resolve() != args.baseline_src.resolve():
            raise SystemExit(f"--baseline-src: python imports kizuna from {baseline}, not from there")
        print(f"; baseline from {baseline}", end="")
    print()
    global CACHE_HOME
    CACHE_HOME = args.data_dir / "cache"
    common = ["--bundle", str(bundle), "--json", "--now", "2026-02-01T00:00:00Z", "--no-progress"]
    fast_opts = [] if args.workers is None else ["--workers", str(args.workers)]
    ok = True
    for name, log in logs.items():
        size_mb = log.stat().st_size / 1e6
        print(f"\n{name}: {args.lines:,} lines, {size_mb:,.0f} MB ({log.name})")
        out_fast = args.data_dir / "fast.out"
        shutil.rmtree(CACHE_HOME, ignore_errors=True)
        load = os.getloadavg()[0]
        cwall, ccpu, _ = run_match([*common, *fast_opts, str(log)], out_fast)
        print(f"  kizuna match, cold cache (validates, compiles, writes the entry): {cwall:6.2f} s wall = "
              f"{args.lines / cwall:9,.0f} events/s; {ccpu:6.2f} s CPU; load average {load:.1f}",
              flush=True)  # fmt: skip
        runs = []
        for _ in range(args.runs):
            load = os.getloadavg()[0]
            wall, cpu, stderr = run_match([*common, *fast_opts, str(log)], out_fast)
            runs.append((wall, cpu, load))
            print(f"  kizuna match {' '.join(fast_opts) or '(default workers)'}: {wall:6.2f} s wall = "
                  f"{args.lines / wall:9,.0f} events/s; {cpu:6.2f} s CPU; load average {load:.1f}",
                  flush=True)  # fmt: skip
        summary = stderr.strip().splitlines()[-1]
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        rate = args.lines / wall
        print(
            f"  median of {len(runs)} (warm cache): {wall:.2f} s wall = {rate:,.0f} events/s; {cpu:.2f} s CPU"
        )
        print(f"  {summary}")
        one_line = args.data_dir / f"one-line-{log.name}"
        with log.open("rb") as f:
            one_line.write_bytes(f.readline())
        one_args = [*common, *fast_opts, str(one_line)]
        fixed = [run_match(one_args, args.data_dir / "one.out") for _ in range(args.runs)]
        fwall, fcpu = statistics.median(r[0] for r in fixed), statistics.median(r[1] for r in fixed)
        uncached = [run_match([*one_args, "--no-cache"], args.data_dir / "one.out") for _ in range(args.runs)]
        print(f"  fixed part without the cache (--no-cache, one-line log): "
              f"{statistics.median(r[0] for r in uncached):.2f} s wall, "
              f"{statistics.median(r[1] for r in uncached):.2f} s CPU")  # fmt: skip
        per_line_us = (cpu - fcpu) / args.lines * 1e6
        cores = len(os.sched_getaffinity(0))
        print(f"  fixed part, warm cache (the same run over a one-line log): {fwall:.2f} s wall, "
              f"{fcpu:.2f} s CPU; "
              f"then {per_line_us:.2f} us CPU a line; with all {cores} cores to itself the whole run could "
              f"not exceed {args.lines / (cpu / cores):,.0f} events/s (lines / (CPU s / cores))")  # fmt: skip
        if not args.no_plain:
            out_plain = args.data_dir / "plain.out"
            load = os.getloadavg()[0]
            pwall, pcpu, _ = run_match([*common, "--reader", "plain", str(log)], out_plain)
            same = out_plain.read_bytes() == out_fast.read_bytes()
            ok &= same
            print(f"  --reader plain (one process): {pwall:6.2f} s wall = {args.lines / pwall:9,.0f} ev/s; "
                  f"{pcpu:6.2f} s CPU; load average {load:.1f}; ratio {pwall / wall:.1f}x; "
                  f"output {'identical' if same else 'DIFFERENT'}")  # fmt: skip
        if args.baseline_src is not None:
            out_base = args.data_dir / "baseline.out"
            load = os.getloadavg()[0]
            bwall, bcpu, _ = run_match([*common, str(log)], out_base, pythonpath=str(args.baseline_src))
            same = out_base.read_bytes() == out_fast.read_bytes()
            print(f"  baseline {args.baseline_src}: {bwall:6.2f} s wall = {args.lines / bwall:9,.0f} ev/s; "
                  f"{bcpu:6.2f} s CPU; load average {load:.1f}; ratio {bwall / wall:.1f}x; "
                  f"output {'identical' if same else 'DIFFERENT'}")  # fmt: skip
        inner = inner_figures(bundle, log, args.inner_sample)
        print(f"  inner (one core, CPU time): compile {inner['compile_s']:.2f} s; fast decoder "
              f"{inner['decode_rate']:,.0f} lines/s; matcher {inner['match_rate']:,.0f} ev/s")  # fmt: skip
    if not ok:
        print("the fast path's output differs from the plain reader's")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
