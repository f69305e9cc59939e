"""Benchmark: kizuna's pattern matcher vs stix2-matcher 3.0.0 (OASIS) on one generated indicator set.

    python benchmarks/match_bench.py                      # 100,000 indicators, 200,000 events
    python benchmarks/match_bench.py --indicators 10000 --events 50000 --peer-pairs 500

The set: 90 % equality patterns on IPv4 addresses, domains, URLs and file hashes (a quarter each),
10 % compound patterns (AND inside one bracket, CIDR ranges, OR / AND / FOLLOWEDBY across observations
with WITHIN). Events are network records like a Zeek/Suricata reader makes (connection + addresses, a
domain on a third of them, URLs and files on some); about 1 % contain an indicator value.

Figures printed:
* compile: parse + index of all indicators (the ANTLR parser alone is timed on a sample, for scale);
* kizuna events/s on one core (CPU pinned to one core), against all indicators. Rates are events per
  second of CPU time of this process (``time.process_time``), so other load on a shared machine does not
  distort them; wall-clock times are printed beside;
* peak resident memory;
* stix2-matcher: pattern-event evaluations/s on a sample of pairs (``stix2matcher.matcher.match`` with
  one observed-data bundle per event), hence events/s it would manage against the full set; the ratio;
* the two matchers' answers on the sampled pairs must agree (the run fails otherwise).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from kizuna.detect.matcher import Event, Matcher
from kizuna.detect.pattern import antlr_parse, parse_pattern

T0 = datetime(2026, 2, 1, tzinfo=UTC)


def _ip(rng: random.Random) -> str:
    return f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


def generate_indicators(n: int, rng: random.Random) -> tuple[list[str], dict[str, list[str]]]:
    """Patterns, and the values they look for (so events can be made to hit some of them)."""
    patterns: list[str] = []
    values: dict[str, list[str]] = {"ip": [], "domain": [], "url": [], "sha256": [], "md5": []}
    for i in range(n):
        r = rng.random()
        if r < 0.9:
            kind = i % 4
            if kind == 0:
                v = _ip(rng)
                values["ip"].append(v)
                patterns.append(f"[ipv4-addr:value = '{v}']")
            elif kind == 1:
                v = f"c{i}.{rng.choice(['grid', 'scada', 'ot', 'telemetry'])}-update.example"
                values["domain"].append(v)
                patterns.append(f"[domain-name:value = '{v}']")
            elif kind == 2:
                v = f"http://d{i}.example/{rng.getrandbits(40):x}/payload.bin"
                values["url"].append(v)
                patterns.append(f"[url:value = '{v}']")
            else:
                v = f"{rng.getrandbits(256):064x}"
                values["sha256"].append(v)
                patterns.append(f"[file:hashes.'SHA-256' = '{v}']")
        else:
            kind = i % 5
            if kind == 0:
                md5 = f"{rng.getrandbits(128):032x}"
                values["md5"].append(md5)
                patterns.append(f"[file:hashes.MD5 = '{md5}' AND file:name = 'stage{i}.exe']")
            elif kind == 1:
                net = f"{rng.randint(11, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.0/24"
                patterns.append(f"[ipv4-addr:value ISSUBSET '{net}']")
            elif kind == 2:
                a, d = _ip(rng), f"x{i}.example"
                values["ip"].append(a)
                patterns.append(f"[ipv4-addr:value = '{a}'] OR [domain-name:value = '{d}']")
            elif kind == 3:
                a, d = _ip(rng), f"y{i}.example"
                values["ip"].append(a)
                values["domain"].append(d)
                patterns.append(
                    f"([domain-name:value = '{d}'] FOLLOWEDBY [ipv4-addr:value = '{a}']) WITHIN 300 SECONDS"
                )
            else:
                a = _ip(rng)
                patterns.append(f"[network-traffic:dst_ref.value = '{a}' AND network-traffic:dst_port = 502]")
    return patterns, values


def generate_events(n: int, values: dict[str, list[str]], rng: random.Random) -> list[Event]:
    events = []
    for i in range(n):
        hit = rng.random() < 0.01
        dst = rng.choice(values["ip"]) if hit and rng.random() < 0.5 else _ip(rng)
        objects: dict[str, dict[str, Any]] = {
            "0": {
                "type": "ipv4-addr",
                "value": f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{i % 250 + 1}",
            },
            "1": {"type": "ipv4-addr", "value": dst},
            "2": {
                "type": "network-traffic",
                "src_ref": "0",
                "dst_ref": "1",
                "src_port": rng.randint(1024, 65535),
                "dst_port": rng.choice([53, 80, 443, 502, 8443]),
                "protocols": ["tcp"],
            },
        }
        if i % 3 == 0:
            name = rng.choice(values["domain"]) if hit else f"q{i}.cdn.example"
            objects["3"] = {"type": "domain-name", "value": name}
        if i % 10 == 0:
            url = rng.choice(values["url"]) if hit else f"http://w{i}.example/index.html"
            objects["4"] = {"type": "url", "value": url}
        if i % 25 == 0:
            sha = rng.choice(values["sha256"]) if hit else f"{rng.getrandbits(256):064x}"
            objects["5"] = {"type": "file", "hashes": {"SHA-256": sha}, "name": f"f{i}.bin"}
        events.append(Event("bench", i + 1, T0 + timedelta(milliseconds=10 * i), objects))
    return events


def to_bundle(event: Event) -> dict[str, Any]:
    """An event as the STIX 2.1 bundle stix2-matcher takes (observed-data + referenced SCOs)."""
    ids = {k: f"{o['type']}--00000000-0000-4000-8000-{int(k):012d}" for k, o in event.objects.items()}
    scos = []
    for k, o in event.objects.items():
        sco = {key: (ids[v] if key.endswith("_ref") else v) for key, v in o.items()}
        sco["id"] = ids[k]
        scos.append(sco)
    ts = event.time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    od = {
        "type": "observed-data",
        "id": "observed-data--00000000-0000-4000-8000-000000000000",
        "spec_version": "2.1",
        "first_observed": ts,
        "last_observed": ts,
        "number_observed": 1,
        "object_refs": list(ids.values()),
    }
    return {"type": "bundle", "id": "bundle--00000000-0000-4000-8000-000000000000", "objects": [od, *scos]}


def measure_reader(n: int, rng: random.Random) -> float:
    """Records/s of the Suricata EVE reader (JSON decoding + mapping to observables) on a temp file."""
    import tempfile

    import orjson

    from kizuna.detect.readers import read_events

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "eve.json")
        with open(path, "wb") as f:
            for i in range(n):
                rec: dict[str, Any] = {
                    "timestamp": "2026-02-01T10:01:00.000000+0000",
                    "flow_id": i,
                    "event_type": "flow",
                    "src_ip": f"10.0.{i % 250}.{i % 200 + 1}",
                    "src_port": 40000 + i % 2000,
                    "dest_ip": _ip(rng),
                    "dest_port": 443,
                    "proto": "TCP",
                }
                if i % 3 == 0:
                    rec["event_type"] = "dns"
                    rec["dns"] = {"type": "query", "rrname": f"q{i}.example"}
                f.write(orjson.dumps(rec) + b"\n")
        t = time.process_time()
        count = sum(1 for _ in read_events(path))
        return count / (time.process_time() - t)


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--indicators", type=int, default=100_000)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--peer-pairs", type=int, default=2_000, help="pattern-event pairs run on stix2-matcher")
    ap.add_argument("--reader-records", type=int, default=100_000, help="EVE lines for the reader figure")
    ap.add_argument("--seed", type=int, default=20260201)
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    rng = random.Random(args.seed)
    cpus = sorted(os.sched_getaffinity(0))
    print(f"python {platform.python_version()} on {platform.machine()}, cpu affinity {cpus}")
    patterns, values = generate_indicators(args.indicators, rng)
    events = generate_events(args.events, values, rng)
    compound = sum(
        1 for p in patterns if not p.startswith("[") or "] " in p or " AND " in p or "ISSUBSET" in p
    )
    print(f"indicators: {len(patterns):,} ({compound:,} compound); events: {len(events):,}")
    base_rss = rss_mb()

    sample = patterns[: min(2000, len(patterns))]
    t = time.process_time()
    for p in sample:
        antlr_parse(p)
    antlr_s = (time.process_time() - t) / len(sample)
    print(f"stix2-patterns ANTLR parse alone: {antlr_s * 1e3:.3f} ms/pattern "
          f"(= {antlr_s * len(patterns):.1f} s for the whole set)")  # fmt: skip

    parse_pattern.cache_clear()
    gc.collect()
    t, w = time.process_time(), time.perf_counter()
    matcher = Matcher()
    for i, p in enumerate(patterns):
        matcher.add(f"indicator-{i}", p)
    compile_s, compile_wall = time.process_time() - t, time.perf_counter() - w
    idx = matcher.index
    brackets = f"{idx.anchored:,} anchored, {idx.scanned:,} scanned brackets"
    print(f"kizuna compile: {compile_s:.2f} s CPU ({compile_wall:.2f} s wall) for "
          f"{len(patterns):,} indicators ({brackets})")  # fmt: skip

    gc.collect()
    t, w = time.process_time(), time.perf_counter()
    hits = 0
    for e in events:
        hits += len(matcher.feed(e))
    compound_hits = len(matcher.finish())
    match_s, match_wall = time.process_time() - t, time.perf_counter() - w
    kizuna_eps = len(events) / match_s
    print(f"kizuna match: {len(events):,} events in {match_s:.2f} s CPU ({match_wall:.2f} s wall) = "
          f"{kizuna_eps:,.0f} events/s "
          f"against {len(patterns):,} indicators ({hits:,} hits, {compound_hits:,} compound)")  # fmt: skip
    peak = rss_mb()
    print(
        f"peak resident memory: {peak:,.0f} MB (process start to here; {peak - base_rss:,.0f} MB after data)"
    )

    from stix2matcher.matcher import match as upstream_match

    from kizuna.detect.stix2matcher_compat import match as kizuna_match

    pair_rng = random.Random(args.seed + 1)
    pairs = [(pair_rng.choice(patterns), pair_rng.choice(events)) for _ in range(args.peer_pairs)]
    # make about a third of the sampled pairs matches, so agreement is checked on both answers
    for i in range(0, len(pairs), 3):
        e = pairs[i][1]
        v = e.objects["1"]["value"]
        pairs[i] = (f"[ipv4-addr:value = '{v}']", e)
    bundles = [[to_bundle(e)] for _p, e in pairs]
    t = time.process_time()
    upstream = [
        bool(upstream_match(p, b, stix_version="2.1")) for (p, _e), b in zip(pairs, bundles, strict=True)
    ]
    peer_s = time.process_time() - t
    ours = [bool(kizuna_match(p, b, stix_version="2.1")) for (p, _e), b in zip(pairs, bundles, strict=True)]
    if upstream != ours:
        bad = [pairs[i][0] for i in range(len(pairs)) if upstream[i] != ours[i]][:5]
        print(f"DISAGREEMENT between stix2-matcher and kizuna on {bad}")
        return 1
    peer_evals = len(pairs) / peer_s
    peer_eps = peer_evals / len(patterns)
    print(f"stix2-matcher 3.0.0: {peer_evals:,.0f} pattern-event evaluations/s "
          f"-> {peer_eps:,.2f} events/s against {len(patterns):,} indicators "
          f"({sum(upstream)} of {len(pairs)} sampled pairs match; kizuna agrees on all)")  # fmt: skip
    print(f"ratio kizuna / stix2-matcher: {kizuna_eps / peer_eps:,.0f}x")
    reader_rate = measure_reader(args.reader_records, rng)
    print(f"Suricata EVE reader: {reader_rate:,.0f} records/s decoded into observables (CPU time)")
    ok = kizuna_eps >= 200_000 and compile_s <= 10 and peak <= 1024
    print(f"bars (>= 200,000 events/s, compile <= 10 s, memory <= 1 GB): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
